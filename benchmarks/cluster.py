"""Benchmark: `jobs/live.py` on a Spark standalone cluster with 1 and with 2 workers.

    .venv/bin/python benchmarks/cluster.py [--workers 1,2] [--events 600000] [--runs 2]
                                           [--per-batch 100000] [--no-docs] [--json PATH]

For each worker count and run: a private stack (its own broker, Redis, PostgreSQL and MariaDB
databases: pipeline_bench/stack.py), a backlog of `--events` emoji reactions produced into it
before the job starts (`pulse simulate emoji`), a standalone cluster of that many workers of
one core and 1 GiB each (pulse/local/standalone.py), and `./spark-submit.sh jobs/live.py
--available-now` submitted to it with `--per-batch` events per micro-batch. The job drains the
backlog through all four sinks of the emoji query. Measured from the job's own batch reports
(its log): events/s over the batches' durations, all batches and without the first (which
pays for starting the Python workers), and the wall time of the whole submit. With `--json PATH`
(or `$PULSE_BENCH_RESULTS`) every run's figures and batches go to a result file.

What two cores can show: the driver, its Python workers, the executors' JVMs and their Python
workers, PostgreSQL, Redis and the broker all share the same two cores, so a second worker adds
a process that competes for them rather than capacity. The figures show the cost of the
cluster manager and of shuffling between executors, not scaling; on a real cluster each worker
brings its own cores.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline_bench.report import write_section
from pipeline_bench.stack import private_stack
from suite_bench.results import Row, Table, add_json_option, command_line, write_results
from tqdm import tqdm

from pulse.config import PROJECT_ROOT
from pulse.kafka.admin import end_offsets
from pulse.local.standalone import standalone_cluster

DOCS = PROJECT_ROOT / "docs" / "BENCHMARKS.md"
HEADING = "## Cluster: jobs/live.py on a Spark standalone cluster"
BATCH_LINE = re.compile(r"live batch (\d+): (\d+) rows in (\d+) ms")


@dataclass(frozen=True)
class Run:
    """One drain of the backlog: events, batches and how long they took."""

    workers: int
    events: int
    batches: list[tuple[int, int]]  # (rows, milliseconds) of each emoji batch with rows
    wall_seconds: float

    @property
    def rate_all(self) -> float:
        rows = sum(r for r, _ in self.batches)
        return rows / (sum(ms for _, ms in self.batches) / 1000)

    @property
    def rate_warm(self) -> float:
        warm = self.batches[1:] or self.batches
        return sum(r for r, _ in warm) / (sum(ms for _, ms in warm) / 1000)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--events", type=int, default=600_000, help="backlog of emoji events")
    parser.add_argument("--runs", type=int, default=2, help="runs per worker count")
    parser.add_argument("--per-batch", type=int, default=100_000, help="maxOffsetsPerTrigger")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/BENCHMARKS.md")
    add_json_option(parser)
    return parser.parse_args()


def drain(workers: int, events: int, per_batch: int, work: Path) -> Run:
    """One run: private stack, backlog, cluster, the job to completion."""
    with private_stack(work) as stack:
        env = {**os.environ, **stack.env}
        rate = max(1, events // 5)
        subprocess.run(
            [sys.executable, "-m", "pulse", "simulate", "emoji", "--rate", str(rate),
             "--duration", "5", "--seed", "5", "--quiet"],
            cwd=PROJECT_ROOT, env=env, check=True, timeout=600,
        )  # fmt: skip
        produced = sum(
            end_offsets(stack.conf.kafka, [stack.emoji_topic])[stack.emoji_topic].values()
        )
        with standalone_cluster(work / "spark", workers=workers) as cluster:
            log = work / "live.log"
            submit = {
                **env,
                "SPARK_MASTER": cluster.master,
                "SPARK_SUBMIT_ARGS": f"--conf spark.cores.max={workers} "
                "--conf spark.executor.cores=1 --conf spark.executor.memory=768m",
                "PULSE_KAFKA__MAX_OFFSETS_PER_TRIGGER": str(per_batch),
            }
            started = time.monotonic()
            with log.open("wb") as out:
                done = subprocess.run(
                    [str(PROJECT_ROOT / "spark-submit.sh"), "jobs/live.py", "--available-now"],
                    cwd=PROJECT_ROOT, env=submit, stdout=out, stderr=subprocess.STDOUT,
                    timeout=1800,
                )  # fmt: skip
            wall = time.monotonic() - started
        text = log.read_text(errors="replace")
        if done.returncode != 0:
            raise SystemExit(f"the job failed ({done.returncode}); its log: {log}\n{text[-3000:]}")
    batches = [(int(rows), int(ms)) for _, rows, ms in BATCH_LINE.findall(text) if int(rows)]
    return Run(workers, produced, batches, wall)


def section(runs: list[Run], settings: argparse.Namespace) -> str:
    """The Markdown section of docs/BENCHMARKS.md."""
    command = (
        f".venv/bin/python benchmarks/cluster.py --workers {settings.workers} "
        f"--events {settings.events} --runs {settings.runs} --per-batch {settings.per_batch}"
    )
    lines = [
        HEADING, "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on this machine ({os.cpu_count()} cores), with:",
        "", "```", command, "```", "",
        "| workers | runs | backlog (events) | batches | events/s, all batches (median, range) "
        "| events/s, without the first (median, range) | wall time of the submit (median) |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for workers in sorted({run.workers for run in runs}):
        mine = [run for run in runs if run.workers == workers]
        every = [run.rate_all for run in mine]
        warm = [run.rate_warm for run in mine]
        lines.append(
            f"| {workers} | {len(mine)} | {mine[0].events:,} | {len(mine[0].batches)} "
            f"| {statistics.median(every):,.0f} ({min(every):,.0f}-{max(every):,.0f}) "
            f"| {statistics.median(warm):,.0f} ({min(warm):,.0f}-{max(warm):,.0f}) "
            f"| {statistics.median(run.wall_seconds for run in mine):.0f} s |"
        )
    lines += ["", " ".join(__doc__.split("\n\n")[-1].split()), ""]
    return "\n".join(lines) + "\n"


def tables(runs: list[Run]) -> list[Table]:
    """The result file's tables: events/s per run, per worker count, with and without the
    first batch."""
    every = Table("Events/s over all batches", "events/s", "events/s")
    warm = Table("Events/s without the first batch", "events/s", "events/s")
    for workers in sorted({run.workers for run in runs}):
        mine = [run for run in runs if run.workers == workers]
        columns = {
            "backlog (events)": mine[0].events,
            "batches": len(mine[0].batches),
            "median wall s": statistics.median(run.wall_seconds for run in mine),
        }
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        every.rows.append(Row(label, [run.rate_all for run in mine], columns))
        warm.rows.append(Row(label, [run.rate_warm for run in mine], columns))
    return [every, warm]


def main() -> int:
    settings = arguments()
    started = datetime.now(UTC)
    counts = [int(part) for part in settings.workers.split(",")]
    runs = []
    plan = [(workers, run) for workers in counts for run in range(settings.runs)]
    for workers, _ in tqdm(plan, desc="cluster runs", unit="run"):
        with tempfile.TemporaryDirectory(prefix="pulse-cluster-") as work:
            result = drain(workers, settings.events, settings.per_batch, Path(work))
        tqdm.write(
            f"{workers} worker(s): {result.rate_all:,.0f} events/s over {len(result.batches)} "
            f"batches ({result.rate_warm:,.0f} without the first), "
            f"submit {result.wall_seconds:.0f} s"
        )
        runs.append(result)
    text = section(runs, settings)
    print(text)
    if not settings.no_docs:
        write_section(DOCS, text, HEADING)
    write_results(
        "cluster",
        settings.json,
        command=command_line("cluster.py"),
        settings=vars(settings),
        started=started,
        tables=tables(runs),
        data={
            "runs": [
                {
                    "workers": r.workers,
                    "events": r.events,
                    "batches": r.batches,
                    "wall_seconds": r.wall_seconds,
                }
                for r in runs
            ]
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
