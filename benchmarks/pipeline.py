"""Benchmark: the live job (`jobs/live.py`) on the emoji stream, end to end, on this machine.

    .venv/bin/python benchmarks/pipeline.py [--quick] [--rates 5000,10000,...] [--warmup 10]
                                            [--seconds 30] [--all-steps] [--no-docs] [--keep]
                                            [--json PATH]

One run takes 5-10 minutes (3-4 with `--quick`), depending on how many steps the job drains:

1. A private stack: its own Tansu broker and Redis server on free ports, topics with a unique
   prefix, a PostgreSQL and a MariaDB database created and migrated for the run, checkpoints
   and lake in a temporary directory; then `./spark-submit.sh jobs/live.py` as a subprocess
   pointed at all of it through `PULSE_*` variables. Only the emoji query gets traffic; the
   other three queries idle.
2. Throughput: producer processes offer emoji events at increasing rates. Each step is a
   warm-up (`--warmup` seconds and at least two whole batches at the new rate), a measured
   interval, then a pause until the job has caught up, so no step inherits the previous one's
   backlog. From the job's own batch reports on the monitoring topic: processed events/s and
   batch duration p50/p95. The highest sustained rate is the highest step where processed >=
   95 % of offered and batch p95 <= the 2 s trigger. A step whose backlog does not drain in
   time ends the escalation (every higher step would fail as well) unless `--all-steps`.
   How this is measured, and why, is in pipeline_bench/report.py.
   Before the steps, the fixed cost per batch: the batches of a trickle of 20 events/s.
3. End-to-end latency at 20k events/s (during that step): event `ts` -> visible in Redis, per
   event and per window (definitions in pipeline_bench/latency.py).
4. Peak memory of the job's process tree (driver JVM, Python driver and workers), from /proc.
5. The seed-style baseline consumers, per event and batched, and Pulse's ratios to them.
6. A summary table, and the section "Pipeline: jobs/live.py on the emoji stream" of
   docs/BENCHMARKS.md written with it (unless `--no-docs`); with `--json PATH` (or
   `$PULSE_BENCH_RESULTS`) a result file with the steps, batch durations, baselines and latency
   samples (pipeline_bench/results.py).

Every step's table row carries the cores used by the job, the producers, the broker, the
databases and everything else on the machine, because all of them share the two cores: a row
where other work took a noticeable share says so.

Every process it starts (job, producers, baseline consumers, broker, Redis) is stopped at the
end, also after a failure, Ctrl-C or SIGTERM; the databases it made are dropped.
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline_bench.baseline import BaselineResult, run_baseline
from pipeline_bench.latency import LatencyResult, latency, read_events
from pipeline_bench.load import LoadTarget, ProducerPool
from pipeline_bench.observe import BatchReports, LedgerWatch, ProcessSampler, cores_used
from pipeline_bench.report import (
    FIXED_COST_RATE,
    Interval,
    RunSummary,
    StepResult,
    console_table,
    markdown,
    measure_step,
    now,
    write_section,
)
from pipeline_bench.results import data, samples, tables
from pipeline_bench.stack import BenchStack, LiveJob, StackError, private_stack, wait_for
from suite_bench.results import add_json_option, command_line, write_results
from tqdm import tqdm

from pulse.config import PROJECT_ROOT
from pulse.interrupts import stop_signals_as_interrupt
from pulse.kafka.admin import end_offsets

QUERY = "live"
DOCS = PROJECT_ROOT / "docs" / "BENCHMARKS.md"
TRICKLE = 1_000  # events/s while the job starts
STEADY_TIMEOUT = 120.0  # seconds for two batches at a new rate
FIXED_COST_SECONDS = 20.0


@dataclass(frozen=True)
class Settings:
    """What one run does; `--quick` shortens every part."""

    rates: list[float]
    latency_rate: float
    warmup: float
    seconds: float
    first_batch_timeout: float
    job_warmup: float
    drain_timeout: float
    per_process_rate: float
    per_event_events: int
    batched_events: int
    write_docs: bool
    keep: bool
    all_steps: bool
    json: Path | None


def parse_args(argv: list[str] | None = None) -> Settings:
    """The command line; `--quick` changes the defaults, explicit options still win."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter steps (~4 min)")
    parser.add_argument("--rates", help="events/s per step, comma separated")
    parser.add_argument("--latency-rate", type=float, default=20_000)
    parser.add_argument("--warmup", type=float, help="seconds per step before measuring")
    parser.add_argument("--seconds", type=float, help="measured seconds per step")
    parser.add_argument("--drain-timeout", type=float, help="seconds to wait for a backlog")
    parser.add_argument(
        "--per-process-rate",
        type=float,
        default=100_000,
        help="events/s per producer process before another one is added",
    )
    parser.add_argument("--per-event-events", type=int, help="events for the per-event baseline")
    parser.add_argument("--batched-events", type=int, help="events for the batched baseline")
    parser.add_argument(
        "--all-steps",
        action="store_true",
        help="run every step even after one whose backlog did not drain",
    )
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/BENCHMARKS.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    add_json_option(parser)
    args = parser.parse_args(argv)
    quick = args.quick
    # From 5k: in trials the job kept pace with 10k/s and 20k/s but with batch p95 just over
    # the trigger, so the steps must start low enough to find the rate it does sustain.
    default_rates = "5000,20000,100000" if quick else "5000,10000,20000,50000,100000,150000,200000"
    rates = sorted({float(r) for r in (args.rates or default_rates).split(",")})
    if args.latency_rate not in rates:
        rates = sorted([*rates, args.latency_rate])
    return Settings(
        rates=rates,
        latency_rate=args.latency_rate,
        warmup=_given(args.warmup, 5 if quick else 10),
        seconds=_given(args.seconds, 15 if quick else 30),
        first_batch_timeout=240,
        job_warmup=10 if quick else 20,
        drain_timeout=_given(args.drain_timeout, 30 if quick else 45),
        per_process_rate=args.per_process_rate,
        per_event_events=args.per_event_events or (5_000 if quick else 30_000),
        batched_events=args.batched_events or (100_000 if quick else 300_000),
        write_docs=not args.no_docs,
        keep=args.keep,
        all_steps=args.all_steps,
        json=args.json,
    )


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the summary; write the docs section."""
    settings = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    command = command_line("pipeline.py", argv)
    work = Path(tempfile.mkdtemp(prefix="pulse-bench-pipeline-"))
    started = now()
    try:
        with stop_signals_as_interrupt():
            summary = run(settings, work, command, started)
    except KeyboardInterrupt:
        print("\ninterrupted: everything the benchmark started has been stopped", file=sys.stderr)
        return 130
    except StackError as exc:
        print(f"pipeline benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if settings.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(console_table(summary))
    if settings.write_docs:
        write_section(DOCS, markdown(summary))
        print(f"\nwrote the section to {DOCS.relative_to(PROJECT_ROOT)}")
    write_results(
        "pipeline",
        settings.json,
        command=command,
        settings=vars(settings),
        started=started,
        tables=tables(summary),
        sample_sets=samples(summary),
        data=data(summary),
    )
    return 0


def run(settings: Settings, work: Path, command: str, started: datetime) -> RunSummary:
    """The whole run inside one exit stack: whatever happens, all it started is stopped."""
    with ExitStack() as cleanup:
        say("starting a private broker, topics, databases and Redis database")
        stack = cleanup.enter_context(private_stack(work))
        conf = stack.conf
        reports = BatchReports(conf)
        reports.start()
        cleanup.callback(reports.stop)
        ledger = LedgerWatch(conf, QUERY)
        ledger.start()
        cleanup.callback(ledger.stop)
        processes = max(math.ceil(rate / settings.per_process_rate) for rate in settings.rates)
        pool = ProducerPool(
            LoadTarget(conf.kafka.bootstrap, stack.emoji_topic, f"b{stack.tag}"),
            processes,
            settings.per_process_rate,
        )
        cleanup.callback(pool.stop)
        say(f"starting {processes} producer processes (events drawn from the emoji generator)")
        pool.start()
        job = LiveJob(stack)
        cleanup.callback(job.stop)
        say(f"starting ./spark-submit.sh jobs/live.py (log: {job.log_path})")
        job.start()
        sampler = ProcessSampler(
            job.pid, pool.pids(), stack.broker.pid(), stack.redis_pid, interval=0.5
        )
        sampler.start()
        cleanup.callback(sampler.stop)

        def healthy() -> None:
            job.check_alive()
            pool.check_alive()
            reports.check()
            ledger.check()

        warm_up(settings, stack, pool, reports, healthy)
        small_batches = fixed_cost(pool, reports, healthy)
        steps: list[StepResult] = []
        latency_window: tuple[Interval, dict[int, int], dict[int, int]] | None = None
        skipped: list[float] = []
        for requested in settings.rates:
            if steps and steps[-1].drain_seconds is None and not settings.all_steps:
                skipped.append(requested)
                continue
            step, window = run_step(settings, stack, requested, pool, reports, sampler, healthy)
            steps.append(step)
            if requested == settings.latency_rate:
                latency_window = window
            if step.drain_seconds is None and not settings.all_steps:
                say(f"the backlog of step {requested:,.0f}/s did not drain: no higher steps")
        pool.set_rate(0)
        say("stopping the job")
        job.stop()
        sampler.stop()
        reports.dump(work / "batch-reports.jsonl")
        (work / "peak-memory.txt").write_text(
            "".join(
                f"{pid} {rss / 2**20:8.0f} MiB {cmd}\n" for pid, cmd, rss in sampler.peak.detail
            )
        )
        lat = measure_latency(stack, reports, ledger, latency_window)
        baselines, failures, baseline_other = run_baselines(settings, stack, sampler)
        return RunSummary(
            command=command,
            settings=(
                f"a warm-up of {settings.warmup:g} s and at least two whole batches at the new "
                f"rate, {settings.seconds:g} s measured, at most {settings.drain_timeout:g} s "
                "to catch up"
            ),
            steps=steps,
            skipped=skipped,
            latency_rate=settings.latency_rate,
            latency=lat,
            memory=sampler.peak,
            small_batches_ms=small_batches,
            baselines=baselines,
            baseline_failures=failures,
            baseline_other_cores=baseline_other,
            trigger_seconds=conf.streaming.trigger_seconds,
            started=started,
        )
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions


def warm_up(
    settings: Settings,
    stack: BenchStack,
    pool: ProducerPool,
    reports: BatchReports,
    healthy: Callable[[], None],
) -> None:
    """Warm the job before anything is measured: a trickle until its first batch with data
    (the first batches take tens of seconds while Python workers start, so a real rate would
    pile up a backlog), then the first step's rate for `job_warmup` seconds, then a pause until
    it has caught up."""
    pool.set_rate(TRICKLE)
    say(f"warming up: {TRICKLE:,}/s until the job's first batch with data")
    began = time.monotonic()

    def first_batch() -> bool:
        healthy()
        return any(r.rows > 0 for r in reports.of(QUERY))

    wait_for("the job's first batch with data", first_batch, settings.first_batch_timeout)
    say(
        f"first batch after {time.monotonic() - began:.0f} s; "
        f"{settings.job_warmup:g} s at {settings.rates[0]:,.0f}/s"
    )
    pool.set_rate(settings.rates[0])
    pause(settings.job_warmup, healthy)
    pool.set_rate(0)
    if drain_seconds(stack, pool, reports, settings.first_batch_timeout, healthy) is None:
        raise StackError("the job did not catch up with its warm-up load")


def fixed_cost(
    pool: ProducerPool, reports: BatchReports, healthy: Callable[[], None]
) -> list[float]:
    """Durations (ms) of the batches of a trickle of `FIXED_COST_RATE` events/s for
    `FIXED_COST_SECONDS`, the job warm: what a batch costs before its rows."""
    say(f"fixed cost per batch: {FIXED_COST_RATE} events/s for {FIXED_COST_SECONDS} s")
    pool.set_rate(FIXED_COST_RATE)
    began = time.time()
    pause(FIXED_COST_SECONDS, healthy)
    pool.set_rate(0)
    return [
        r.duration_ms
        for r in reports.of(QUERY)
        if r.finished - r.duration_ms / 1000 >= began and 0 < r.rows <= 5 * FIXED_COST_RATE
    ]


def run_step(
    settings: Settings,
    stack: BenchStack,
    requested: float,
    pool: ProducerPool,
    reports: BatchReports,
    sampler: ProcessSampler,
    healthy: Callable[[], None],
) -> tuple[StepResult, tuple[Interval, dict[int, int], dict[int, int]]]:
    """Warm up at `requested`, measure, stop the load and wait for the job to catch up."""
    processes = pool.set_rate(requested)
    changed = time.time()
    pause(settings.warmup, healthy)

    def steady() -> bool:
        # Two whole batches that started after the rate changed: the first one at a new rate
        # carries the transition (in a trial, 16.8 s against 8 s for the batches after it).
        healthy()
        return sum(r.finished - r.duration_ms / 1000 >= changed for r in reports.of(QUERY)) >= 2

    wait_for(f"two batches at {requested:,.0f}/s", steady, STEADY_TIMEOUT)
    topic = stack.emoji_topic
    offsets_start = end_offsets(stack.conf.kafka, [topic]).get(topic, {})
    t0, sent0, cpu0 = time.time(), pool.sent(), sampler.cpu()
    bar = tqdm(total=round(settings.seconds), desc=f"{requested:>9,.0f}/s", unit="s", leave=True)
    while (elapsed := time.time() - t0) < settings.seconds:
        time.sleep(min(1.0, settings.seconds - elapsed))
        healthy()
        done = reports.of(QUERY)
        last = done[-1] if done else None
        bar.n = min(round(time.time() - t0), bar.total)
        bar.set_postfix_str(
            f"offered {(pool.sent() - sent0) / max(time.time() - t0, 1e-3):,.0f}/s"
            + (
                f", last batch {last.rows:,} rows in {last.duration_ms / 1000:.2f} s"
                if last
                else ""
            )
        )
    t1, sent1, cpu1 = time.time(), pool.sent(), sampler.cpu()
    offsets_end = end_offsets(stack.conf.kafka, [topic]).get(topic, {})
    bar.close()
    interval = Interval(t0, t1, sent0, sent1, cpu0, cpu1)
    pool.set_rate(0)
    drain = drain_seconds(stack, pool, reports, settings.drain_timeout, healthy)
    step = measure_step(
        requested, processes, reports.of(QUERY), interval, stack.conf.streaming.trigger_seconds
    )
    step.drain_seconds = drain
    if pool.failed():
        step.notes.append(f"{pool.failed():,} deliveries failed so far")
    say(
        f"step {requested:,.0f}/s: offered {step.offered:,.0f}/s, processed "
        f"{step.processed:,.0f}/s, batch p50 {step.p50_ms / 1000:.2f} s / p95 "
        f"{step.p95_ms / 1000:.2f} s, caught up "
        + ("not within the timeout" if drain is None else f"{drain:.0f} s after the load stopped")
        + f" -> {'sustained' if step.sustained else 'NOT sustained'}; cores "
        + ", ".join(f"{part} {used:.2f}" for part, used in step.cores.items())
    )
    return step, (interval, offsets_start, offsets_end)


def drain_seconds(
    stack: BenchStack,
    pool: ProducerPool,
    reports: BatchReports,
    timeout: float,
    healthy: Callable[[], None],
) -> float | None:
    """Seconds until the job had read everything produced (None: not within `timeout`)."""
    topic = stack.emoji_topic
    began = time.monotonic()
    target = pool.sent()
    while time.monotonic() - began < timeout:
        healthy()
        ends = end_offsets(stack.conf.kafka, [topic]).get(topic, {})
        done = reports.of(QUERY)
        read = sum(o for (t, _), o in done[-1].end_offsets.items() if t == topic) if done else 0
        if sum(ends.values()) >= target and read >= sum(ends.values()):
            return time.monotonic() - began
        time.sleep(0.5)
    return None


def measure_latency(
    stack: BenchStack,
    reports: BatchReports,
    ledger: LedgerWatch,
    window: tuple[Interval, dict[int, int], dict[int, int]] | None,
) -> LatencyResult | None:
    """Per-event and per-window latency of the latency step (see pipeline_bench.latency)."""
    if window is None:
        return None
    interval, start, end = window
    say(f"latency: reading back the {sum(end.values()) - sum(start.values()):,} events measured")
    events = read_events(stack.conf.kafka.bootstrap, stack.emoji_topic, start, end)
    return latency(
        events,
        stack.emoji_topic,
        reports.of(QUERY),
        ledger,
        stack.conf.emoji.window_seconds,
        (interval.start, interval.end),
    )


def run_baselines(
    settings: Settings, stack: BenchStack, sampler: ProcessSampler
) -> tuple[list[BaselineResult], list[str], dict[str, float]]:
    """The seed-style consumers over the same topic, per event and batched, and the cores other
    work took meanwhile. A failed one is reported as failed, not allowed to throw away the
    job's figures."""
    results, failures, other = [], [], {}
    for variant, count in (
        ("per-event", settings.per_event_events),
        ("batched", settings.batched_events),
    ):
        say(f"baseline {variant}: {count:,} events")
        before = sampler.cpu()
        try:
            result = run_baseline(stack.env, variant, count)  # type: ignore[arg-type]
        except Exception as exc:
            say(f"baseline {variant} failed: {exc}")
            failures.append(f"{variant}: {exc}")
            continue
        # The child is reaped by now, so its CPU counts as this process's (cutime), not `other`.
        other[variant] = cores_used(before, sampler.cpu())["other"]
        say(f"baseline {variant}: {result.rate:,.0f} events/s")
        results.append(result)
    return results, failures, other


def pause(seconds: float, healthy: Callable[[], None]) -> None:
    """Sleep `seconds`, checking every second that the job and the producers still run."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        healthy()


def say(message: str) -> None:
    """A progress line with the time, on stderr (the summary goes to stdout)."""
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
