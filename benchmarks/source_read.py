"""Benchmark: read a Kafka backlog through `read_kafka` inside Spark and report rows/s.

    .venv/bin/python benchmarks/source_read.py [--records 2000000] [--partitions 4]
                                               [--client confluent|kafka-python] [--runs 3]
                                               [--json PATH]

It starts its own Tansu broker on a free port, produces the backlog (100-byte values), warms
Spark's Python workers on a small topic, then reads the whole backlog `--runs` times with
`Trigger.AvailableNow`, each run from a fresh checkpoint, and prints rows/s per run and the
median. Every value is touched (a sum of lengths), so nothing is skipped by the optimizer.
With `--json PATH` (or `$PULSE_BENCH_RESULTS`) the rows/s of every run go to a result file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from suite_bench.results import Row, Table, add_json_option, command_line, write_results
from tqdm import tqdm

from pulse.config import PulseConfig, load_config
from pulse.kafka import read_kafka
from pulse.kafka.admin import end_offsets, ensure_topics
from pulse.local.broker import LocalBroker, free_port
from pulse.spark import session


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--client", choices=("confluent", "kafka-python"), default="confluent")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    add_json_option(parser)
    args = parser.parse_args()
    began_at = datetime.now(UTC)

    work = Path(tempfile.mkdtemp(prefix="pulse-bench-"))
    broker = LocalBroker(f"127.0.0.1:{free_port()}", work / "broker")
    broker.start(timeout=20)
    try:
        conf = load_config(environ={"PULSE_KAFKA__BOOTSTRAP": broker.bootstrap})
        produce_backlog(broker.bootstrap, "warmup", 20_000, args.partitions, progress=False)
        produce_backlog(broker.bootstrap, "backlog", args.records, args.partitions, progress=True)
        held = wait_for_backlog(conf, "backlog", args.records)
        assert held == args.records, f"backlog holds {held} records after 60 s"

        spark = session("bench-source-read", master=args.master)
        options = {
            "kafka.bootstrap.servers": broker.bootstrap,
            "kafka.client": args.client,
            "startingOffsets": "earliest",
        }
        read_all(read_kafka(spark, subscribe="warmup", **options), work / "ck-warmup")
        rates = []
        for run in range(args.runs):
            frame = read_kafka(spark, subscribe="backlog", **options)
            started = time.perf_counter()
            rows = read_all(frame, work / f"ck-{run}")
            seconds = time.perf_counter() - started
            assert rows == args.records, f"read {rows} rows, expected {args.records}"
            rates.append(rows / seconds)
            print(f"run {run + 1}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
        print(
            f"source_read client={args.client} partitions={args.partitions} master={args.master}: "
            f"median {statistics.median(rates):,.0f} rows/s "
            f"(min {min(rates):,.0f}, max {max(rates):,.0f}, {args.runs} runs)"
        )
        spark.stop()
    finally:
        broker.stop()
    write_results(
        "source_read",
        args.json,
        command=command_line("source_read.py"),
        settings=vars(args),
        started=began_at,
        tables=[
            Table(
                "Rows read per second",
                "rows/s",
                "rows/s",
                [
                    Row(
                        args.client,
                        rates,
                        {"records": args.records, "partitions": args.partitions},
                    )
                ],
            )
        ],
    )
    return 0


def produce_backlog(
    bootstrap: str, topic: str, count: int, partitions: int, progress: bool
) -> None:
    """Produce `count` records of 100 bytes, round-robin over the partitions."""
    conf = load_config(environ={"PULSE_KAFKA__BOOTSTRAP": bootstrap})
    ensure_topics(conf.kafka, {topic: partitions})
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "compression.type": "lz4",
        }
    )
    value = b"x" * 100
    bar = tqdm(total=count, desc=f"produce {topic}", unit="rec", disable=not progress)
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value=value, key=str(i).encode(), partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
            bar.update(10_000 if i else 1)
    bar.close()
    if producer.flush(120):
        sys.exit("the broker did not acknowledge the backlog within 120 s")


def wait_for_backlog(conf: PulseConfig, topic: str, count: int, timeout: float = 60.0) -> int:
    """Records in `topic` once its end offsets show `count` twice 0.5 s apart (or after
    `timeout`): right after the producer's flush the broker sometimes still reports fewer (seen
    with 15,001 of 20,000), and a read started then stops short."""
    deadline = time.monotonic() + timeout
    seen = -1
    while True:
        held = sum(end_offsets(conf.kafka, [topic]).get(topic, {}).values())
        if (held == seen == count) or time.monotonic() > deadline:
            return held
        seen = held
        time.sleep(0.5)


def read_all(frame: DataFrame, checkpoint: Path) -> int:
    """Read everything available now; return the number of rows seen."""
    seen = []

    def count(batch: DataFrame, _: int) -> None:
        row = batch.agg(F.count("*").alias("n"), F.sum(F.length("value")).alias("bytes")).first()
        seen.append(row.n)

    query = (
        frame.writeStream.foreachBatch(count)
        .trigger(availableNow=True)
        .option("checkpointLocation", str(checkpoint))
        .start()
    )
    query.awaitTermination()
    return sum(seen)


if __name__ == "__main__":
    raise SystemExit(main())
