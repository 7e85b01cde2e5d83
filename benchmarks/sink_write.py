"""Benchmark: collect a 50k-row batch to the driver (toArrow vs collect) and write it to each sink.

    .venv/bin/python benchmarks/sink_write.py [--rows 50000] [--runs 3] [--json PATH]

The batch looks like an aggregated micro-batch (emoji windows: two strings, two timestamps,
two longs), persisted, so that only the collection is timed. Each sink then writes it `--runs`
times, each run a new batch of a new query (nothing is skipped), into the machine's PostgreSQL,
MariaDB and Redis, a Delta table in a temporary directory, and a Tansu broker of its own. Rows
the benchmark writes are removed at the end. With `--json PATH` (or `$PULSE_BENCH_RESULTS`) the
seconds of every run go to a result file.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from suite_bench.results import Row, Table, add_json_option, command_line, write_results

from pulse.config import PulseConfig, load_config
from pulse.kafka.admin import ensure_topics
from pulse.local.broker import LocalBroker, free_port
from pulse.local.migrate import create_mysql_database, migrate_mysql, migrate_postgres
from pulse.outputs import EMOJI_WINDOWS, PRODUCTS
from pulse.sinks.base import BatchContext, Sink
from pulse.sinks.delta import DeltaAppend
from pulse.sinks.kafka import KafkaOutput
from pulse.sinks.mysql import MySQLUpsert
from pulse.sinks.postgres import PostgresUpsert
from pulse.sinks.redis import RedisState
from pulse.sinks.values import row_tuples
from pulse.spark import session
from pulse.stores import mysql_connect, postgres_connect, redis_client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    add_json_option(parser)
    args = parser.parse_args()
    started = datetime.now(UTC)
    collecting = Table("Collecting the batch to the driver", "s", "seconds")
    writing = Table("Writing the batch, per sink (its own `toArrow()` included)", "s", "seconds")

    work = Path(tempfile.mkdtemp(prefix="pulse-bench-"))
    broker = LocalBroker(f"127.0.0.1:{free_port()}", work / "broker")
    broker.start(timeout=20)
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    conf = load_config(environ={"PULSE_KAFKA__BOOTSTRAP": broker.bootstrap})
    try:
        _migrate(conf)
        ensure_topics(conf.kafka, {tag: 4})
        spark = session("bench-sink-write", master=args.master)
        batch = (
            spark.range(args.rows)
            .select(
                F.concat(F.lit(f"{tag}-"), (F.col("id") % 500).cast("string")).alias("match_id"),
                F.concat(F.lit("e"), (F.col("id") / 500).cast("int").cast("string")).alias("emoji"),
                F.timestamp_seconds(F.lit(1_795_000_000)).alias("window_start"),
                F.timestamp_seconds(F.lit(1_795_000_002)).alias("window_end"),
                (F.col("id") * 7).alias("count"),
                F.col("id").alias("units"),
            )
            .persist()
        )
        batch.count()
        collecting.rows = _collect(batch, args.runs)
        sinks: dict[str, Sink] = {
            "postgres": PostgresUpsert(
                "bench",
                conf.postgres,
                EMOJI_WINDOWS.upsert(("window_end", "count", "units")),
            ),
            "mysql": MySQLUpsert(
                "bench",
                conf.mysql,
                PRODUCTS.upsert(("name", "category", "stock", "version"), newer_by="version"),
            ),
            "redis": RedisState(
                "bench",
                conf.redis,
                key=f"{tag}:{{match_id}}:{{emoji}}",
                fields=("count", "units", "window_start"),
                channel=f"{tag}:{{match_id}}",
            ),
            "delta": DeltaAppend("bench", str(work / "lake"), partition_by=("emoji",)),
            "kafka": KafkaOutput("bench", conf.kafka, tag, key_column="match_id"),
        }
        frames = {
            "mysql": batch.select(
                F.concat_ws(":", "match_id", "emoji").alias("product_id"),
                F.col("emoji").alias("name"),
                F.lit("bench").alias("category"),
                F.col("count").alias("stock"),
                F.col("units").alias("version"),
            ).persist()
        }
        for name, sink in sinks.items():
            frame = frames.get(name, batch)
            frame.count()
            timed = _time(
                f"{name} write",
                args.rows,
                args.runs,
                lambda run, sink=sink, frame=frame: sink.write(
                    frame, BatchContext(f"{tag}-{run}", tag, 0)
                ),
            )
            writing.rows.append(timed)
        spark.stop()
    finally:
        _clean(conf, tag)
        broker.stop()
    write_results(
        "sink_write",
        args.json,
        command=command_line("sink_write.py"),
        settings=vars(args),
        started=started,
        tables=[collecting, writing],
    )
    return 0


def _collect(batch: DataFrame, runs: int) -> list[Row]:
    rows = batch.count()
    columns = batch.columns
    return [
        _time("collect()", rows, runs, lambda _: batch.collect()),
        _time("toArrow()", rows, runs, lambda _: batch.toArrow()),
        _time("toArrow() + tuples", rows, runs, lambda _: row_tuples(batch.toArrow(), columns)),
        _time("toArrow() + to_pylist()", rows, runs, lambda _: batch.toArrow().to_pylist()),
    ]


def _time(what: str, rows: int, runs: int, action: Callable[[int], object]) -> Row:
    """Run `action` `runs` times; print and return the seconds of each run."""
    seconds = []
    for run in range(runs):
        started = time.perf_counter()
        action(run)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    print(
        f"{what:<26} {rows:,} rows: median {median:.3f} s = {rows / median:>9,.0f} rows/s "
        f"(min {min(seconds):.3f}, max {max(seconds):.3f}, {runs} runs)",
        flush=True,
    )
    return Row(what, seconds, {"rows": rows, "median rows/s": rows / median})


def _migrate(conf: PulseConfig) -> None:
    pg = postgres_connect(conf.postgres)
    migrate_postgres(pg)
    pg.close()
    my = mysql_connect(conf.mysql, use_database=False)
    create_mysql_database(my, conf.mysql.database)
    migrate_mysql(my)
    my.close()


def _clean(conf: PulseConfig, tag: str) -> None:
    pg = postgres_connect(conf.postgres)
    with pg, pg.cursor() as cur:
        cur.execute("DELETE FROM emoji_windows WHERE match_id LIKE %s", (tag + "-%",))
        cur.execute("DELETE FROM sink_ledger WHERE query LIKE %s", (tag + "-%",))
    pg.close()
    my = mysql_connect(conf.mysql)
    cur = my.cursor()
    cur.execute("DELETE FROM products WHERE product_id LIKE %s", (tag + "-%",))
    cur.execute("DELETE FROM sink_ledger WHERE query LIKE %s", (tag + "-%",))
    my.commit()
    my.close()
    client = redis_client(conf.redis)
    for key in client.scan_iter(match=f"{tag}:*", count=1000):
        client.delete(key)
    for field, _ in client.hscan_iter("pulse:ledger", match=f"{tag}-*"):
        client.hdel("pulse:ledger", field)
    client.close()


if __name__ == "__main__":
    raise SystemExit(main())
