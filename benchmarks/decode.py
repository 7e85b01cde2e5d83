"""Benchmark: the jobs' decode and validation on emoji records, per record (`sort_records`) and
in bulk (`sort_tables`), in the producers' wire form and with a bad record in every hundred.

    .venv/bin/python benchmarks/decode.py [--records 200000] [--runs 3] [--json PATH]

Every query decodes its batch on the driver with the producers' own validation
(`pulse.transforms.decode`): this is the per-record cost the live, enrich, monitor and lake
queries pay after the Kafka source, single-threaded in the driver. The records come from the
emoji simulator as an Arrow table shaped like a collected batch; a bad record costs a second
decode for its reason. With `--json PATH` (or `$PULSE_BENCH_RESULTS`) the rows/s of every run go
to a result file.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime
from itertools import islice

import pyarrow as pa
from suite_bench.results import Row, Table, add_json_option, command_line, write_results

from pulse.events import SCHEMAS
from pulse.events.schema import wire_bytes
from pulse.simulate import GENERATORS
from pulse.simulate.bad import BAD_KINDS, malformed
from pulse.transforms.decode import sort_records, sort_tables

DISTINCT = 20_000  # distinct events drawn from the simulator, repeated up to --records
TOPIC = "emoji.reactions"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()
    started = datetime.now(UTC)
    table = Table("Records decoded per second (one driver thread)", "rows/s", "rows/s")

    events = list(islice(GENERATORS["emoji"](7, 1000.0, datetime.now(UTC)), DISTINCT))
    good = [wire_bytes(event) for event in events]
    rng = random.Random(7)
    bad = [malformed(SCHEMAS["emoji"], events[0], kind, rng) for kind in BAD_KINDS]
    forms = {
        "wire form (producers')": good,
        "1 % bad records": [bad[i % len(bad)] if i % 100 == 0 else v for i, v in enumerate(good)],
    }
    print("| form | records | runs | median rows/s | min | max |\n|---|---:|---:|---:|---:|---:|")
    paths = {"per record (sort_records)": sort_records, "in bulk (sort_tables)": sort_tables}
    for form, values in forms.items():
        records = _records(values, args.records)
        for path, sort in paths.items():
            rates = []
            for _ in range(args.runs):
                began = time.perf_counter()
                result = sort(records, {TOPIC: "emoji"})
                rates.append(args.records / (time.perf_counter() - began))
                decoded = len(result.events["emoji"]) + len(result.failed)
                assert decoded == args.records, f"{form}: {decoded} of {args.records} records"
            name = f"{form}, {path}"
            print(
                f"| {name} | {args.records:,} | {args.runs} | {statistics.median(rates):,.0f} "
                f"| {min(rates):,.0f} | {max(rates):,.0f} |",
                flush=True,
            )
            table.rows.append(Row(name, rates, {"records": args.records}))
    write_results(
        "decode",
        args.json,
        command=command_line("decode.py"),
        settings=vars(args),
        started=started,
        tables=[table],
    )
    return 0


def _records(values: list[bytes], count: int) -> pa.Table:
    """`count` records of one batch, as a query collects them, cycling through `values`."""
    now = datetime.now(UTC)
    return pa.table(
        {
            "topic": [TOPIC] * count,
            "partition": pa.array([0] * count, pa.int32()),
            "offset": pa.array(range(count), pa.int64()),
            "value": pa.array([values[i % len(values)] for i in range(count)], pa.binary()),
            "timestamp": pa.array([now] * count, pa.timestamp("us", tz="UTC")),
        }
    )


if __name__ == "__main__":
    raise SystemExit(main())
