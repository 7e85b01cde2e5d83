"""Every benchmark in one go, then docs/BENCHMARKS.md and its plots from that run.

    .venv/bin/python benchmarks/suite.py [--only benchmarks/decode.py ...] [--smoke]
                                         [--render-only]

`make bench` runs this. Each benchmark is its own script, run here as a subprocess with the
arguments below and `--json docs/benchmarks/results/<name>.json`; its output is streamed through
as it comes, under a progress bar over the benchmarks. Then suite_bench.docs writes the plots
(docs/benchmarks/*.png) and the whole of docs/BENCHMARKS.md from the result files. With
`--only`, only those scripts run; the others keep their last result files, so their sections
stay as they were (each says when it was measured). A benchmark that fails loses its old result
file and is named at the top of the document; the suite then exits 1.

`--smoke` runs every benchmark with minimal sizes (about 5 minutes on two cores) to check that
the whole chain works: its results go to .pulse/bench-smoke/, and the document it writes says
in its first lines that its figures mean nothing. Never commit it.

`--render-only` writes the document from the result files as they are, running nothing.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from suite_bench import docs
from tqdm import tqdm

from pulse.config import PROJECT_ROOT

SMOKE_RESULTS = PROJECT_ROOT / ".pulse" / "bench-smoke"
SMOKE_NOTE = (
    "> **Smoke run** (`benchmarks/suite.py --smoke`): every benchmark with minimal sizes, to "
    "check the chain. These figures mean nothing; do not commit this file."
)


@dataclass(frozen=True)
class Benchmark:
    """One script with the arguments of the suite's run, its smoke arguments, and why."""

    name: str  # the result file's name
    script: str
    arguments: str  # split like a shell would
    smoke: str
    why: str


# The sizes are chosen for stable medians in bounded time on two shared cores: the whole suite
# takes about 25 minutes (23 min in the run of 2026-12-03; the smoke run 4.5 min), plus ~15 for
# live_platform.py, added after that run (~5 more in the smoke run).
BENCHMARKS = (
    Benchmark(
        "source_read",
        "source_read.py",
        "--records 1000000 --partitions 4 --runs 3",
        "--records 100000 --runs 1",
        "~2 min: 3 reads of 1,000,000 records, ~4 s each at ~250k rows/s, long enough for "
        "Spark's per-trigger overhead to be small; producing the backlog takes longer than "
        "reading it, so more records would buy little.",
    ),
    Benchmark(
        "source_read-kafka-python",
        "source_read.py",
        "--client kafka-python --records 300000 --runs 2",
        "--client kafka-python --records 20000 --runs 1",
        "~1.5 min: the pure-Python client reads ~45k rows/s, so 300,000 records give ~7 s a "
        "run; it is the fallback client, two runs show its order of magnitude.",
    ),
    Benchmark(
        "decode",
        "decode.py",
        "--records 200000 --runs 3",
        "--records 5000 --runs 1",
        "~30 s: 200,000 records take 2-4 s a run per form, as many as a lake batch holds at "
        "several times the default traffic; three runs let the median stand.",
    ),
    Benchmark(
        "sink_write",
        "sink_write.py",
        "--rows 50000 --runs 5",
        "--rows 2000 --runs 1",
        "~3 min: 50,000 rows bound what one trigger carries per sink; five runs because the "
        "databases' timings vary run to run more than Spark's.",
    ),
    Benchmark(
        "pipeline",
        "pipeline.py",
        "--no-docs",
        "--no-docs --quick --rates 2000 --latency-rate 2000 --warmup 2 --seconds 6 "
        "--drain-timeout 60 --per-event-events 500 --batched-events 2000",
        "5-10 min: the full steps (5k to 200k events/s, stopping at the first backlog that "
        "does not drain), not `--quick`, since the full run stays under ~10 minutes and its "
        "30-s steps hold 15 batches each; the baselines run in the same run. The suite writes "
        "the document, hence `--no-docs`.",
    ),
    Benchmark(
        "ingest",
        "ingest.py",
        "--workers 1,2 --runs 3",
        "--workers 1 --runs 1 --seconds 1 --warmup 0.5",
        "~4 min: 3 runs of 10 s after 2 s warm-up, per phase and per number of API processes; "
        "10 s holds 50,000+ requests, enough for a stable p99.",
    ),
    Benchmark(
        "fanout",
        "fanout.py",
        "--runs 3",
        "--clients 50 --messages 3 --interval 0.2 --processes 1",
        "~5 min: 1,000, 5,000 and 10,000 clients, 20 messages 1 s apart, three runs of each; "
        "each run already holds up to 200,000 latencies.",
    ),
    Benchmark(
        "cluster",
        "cluster.py",
        "--no-docs --workers 1,2 --events 400000 --runs 2 --per-batch 100000",
        "--no-docs --workers 1 --events 5000 --runs 1 --per-batch 5000",
        "6-10 min: each run starts a stack and a cluster and submits the job, which drains "
        "400,000 events in 4 batches (a submit took 58-69 s on a quiet machine, over 2 min "
        "under load); two runs per worker count, as the spread between runs was small.",
    ),
    Benchmark(
        "platform",
        "live_platform.py",
        "--minutes 10 --warmup 120",
        "--minutes 1 --warmup 30",
        "~15 min: `pulse run` as `make run` starts it (2-4 min until every query has a batch), "
        "2 min warm-up, then 10 min measured at the default traffic (~2,410 events/s): 600 "
        "probes per API path, 20 lake probes, 300 lag samples, enough for p95 and a lag trend; "
        "the rising-traffic mode (`--scales 1,2,4,8`) takes an hour and is run by hand.",
    ),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="a script to run (repeatable)")
    parser.add_argument("--smoke", action="store_true", help="minimal sizes, to check the chain")
    parser.add_argument("--render-only", action="store_true", help="run nothing, write the docs")
    args = parser.parse_args(argv)
    chosen = selected(args.only)
    results = SMOKE_RESULTS if args.smoke else docs.RESULTS
    failed: list[str] = []
    if not args.render_only:
        results.mkdir(parents=True, exist_ok=True)
        bar = tqdm(chosen, desc="benchmarks", unit="benchmark", file=sys.stderr)
        for benchmark in bar:
            bar.set_postfix_str(benchmark.name)
            if not run(benchmark, results, args.smoke):
                failed.append(benchmark.name)
        bar.close()
    note = "\n\n".join(
        part
        for part in (
            SMOKE_NOTE if args.smoke else "",
            f"> **Failed in the last run** (no figures): {', '.join(failed)}." if failed else "",
        )
        if part
    )
    written = docs.write(results, note=note)
    print(f"wrote {written.relative_to(PROJECT_ROOT)} and its plots", file=sys.stderr)
    return 1 if failed else 0


def selected(only: list[str]) -> list[Benchmark]:
    """The benchmarks named by `--only` (a script path or name, or a result name); all by
    default."""
    if not only:
        return list(BENCHMARKS)
    names = {Path(item).name.removesuffix(".py") for item in only}
    chosen = [b for b in BENCHMARKS if b.script.removesuffix(".py") in names or b.name in names]
    unknown = names - {b.script.removesuffix(".py") for b in chosen} - {b.name for b in chosen}
    if unknown:
        raise SystemExit(f"no such benchmark: {', '.join(sorted(unknown))}")
    return chosen


def run(benchmark: Benchmark, results: Path, smoke: bool) -> bool:
    """Run one benchmark, its output streamed through; True when it succeeded."""
    target = results / f"{benchmark.name}.json"
    target.unlink(missing_ok=True)
    command = [
        sys.executable,
        f"benchmarks/{benchmark.script}",
        *shlex.split(benchmark.smoke if smoke else benchmark.arguments),
        "--json",
        str(target.relative_to(PROJECT_ROOT)),
    ]
    tqdm.write(f"\n== {benchmark.name}: {' '.join(command[1:])}", file=sys.stderr)
    began = time.monotonic()
    code = subprocess.run(command, cwd=PROJECT_ROOT, check=False).returncode
    took = time.monotonic() - began
    ok = code == 0 and target.exists()
    tqdm.write(
        f"== {benchmark.name}: {'done' if ok else f'FAILED (exit {code})'} in {took:.0f} s",
        file=sys.stderr,
    )
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
