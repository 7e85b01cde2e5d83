"""Benchmark: `parse_events` on emoji records, in the producers' wire form and in another form.

    .venv/bin/python benchmarks/parse.py [--records 600000] [--runs 3] [--json PATH]

The parse is the costliest step of every job after the Kafka source. Records in the exact form
Pulse's producers write (`wire_bytes`) skip the checks that re-read the raw text (unknown
fields, zone-less timestamps, numbers where strings belong); the same events with spaces after
`:` and `,` (valid JSON, but not the wire form) take every check. The records come from the
emoji simulator, are cached in Spark first, and each run counts the valid rows, so every check
a record needs is evaluated. With `--json PATH` (or `$PULSE_BENCH_RESULTS`) the rows/s of every
run go to a result file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from itertools import islice

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from suite_bench.results import Row, Table, add_json_option, command_line, write_results

from pulse.events import SCHEMAS
from pulse.events.schema import wire_bytes
from pulse.kafka.source import kafka_schema
from pulse.simulate import GENERATORS
from pulse.spark import session
from pulse.transforms.parse import parse_events

DISTINCT = 20_000  # distinct events drawn from the simulator, repeated up to --records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=600_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    add_json_option(parser)
    args = parser.parse_args()
    started = datetime.now(UTC)
    table = Table("Valid rows parsed per second", "rows/s", "rows/s")

    spark = session("pulse-bench-parse", args.master)
    events = list(islice(GENERATORS["emoji"](7, 1000.0, datetime.now(UTC)), DISTINCT))
    forms = {
        "wire form (producers')": [wire_bytes(event) for event in events],
        "spaced JSON (full checks)": [_spaced(event) for event in events],
    }
    print("| form | records | runs | median rows/s | min | max |\n|---|---:|---:|---:|---:|---:|")
    for form, values in forms.items():
        records = _records(spark, values, args.records)
        rates = []
        for _ in range(args.runs):
            began = time.perf_counter()
            valid = _count_valid(records)
            rates.append(args.records / (time.perf_counter() - began))
            assert valid == args.records, f"{form}: {valid} of {args.records} records valid"
        print(
            f"| {form} | {args.records:,} | {args.runs} | {statistics.median(rates):,.0f} "
            f"| {min(rates):,.0f} | {max(rates):,.0f} |",
            flush=True,
        )
        records.unpersist()
        table.rows.append(Row(form, rates, {"records": args.records}))
    spark.stop()
    write_results(
        "parse",
        args.json,
        command=command_line("parse.py"),
        settings=vars(args),
        started=started,
        tables=[table],
    )
    return 0


def _records(spark, values: list[bytes], count: int) -> DataFrame:
    """`count` Kafka-shaped records cycling through `values`, cached and materialised."""
    now = datetime.now(UTC)
    rows = [(None, values[i % len(values)], "emoji.reactions", 0, i, now, 0) for i in range(count)]
    frame = spark.createDataFrame(rows, kafka_schema(include_headers=False))
    frame = frame.repartition(spark.sparkContext.defaultParallelism).cache()
    frame.count()
    return frame


def _spaced(event: dict) -> bytes:
    """The event as valid JSON with `, ` and `: ` separators: not the wire form."""
    return json.dumps(event, ensure_ascii=False).encode()


def _count_valid(records: DataFrame) -> int:
    parsed = parse_events(records, SCHEMAS["emoji"])
    return parsed.agg(F.count(F.when(F.col("error").isNull(), 1))).first()[0]


if __name__ == "__main__":
    raise SystemExit(main())
