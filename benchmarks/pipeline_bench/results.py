"""The pipeline run as a result file (suite_bench.results): the batch durations of every step,
the steps themselves (for the throughput plot), the baselines with Pulse's ratios to them
(measured in the same run), the figures and goals, and the latency samples."""

from __future__ import annotations

from typing import Any

from suite_bench.results import Row, Table

from pipeline_bench.report import RunSummary, StepResult, figures, goals


def tables(summary: RunSummary) -> list[Table]:
    """Batch durations per step (one value per batch) and the baselines (one run each)."""
    steps = Table(
        "Batch duration per step (batches with rows, finished in the measured interval)",
        "s",
        "batch s",
        repetition="batches",
    )
    for step in summary.steps:
        steps.rows.append(
            Row(
                f"{step.requested:,.0f}/s asked",
                [ms / 1000 for ms in step.durations_ms],
                {
                    "offered/s": step.offered,
                    "processed/s": step.processed,
                    "kept up": f"{step.kept_up:.1%}",
                    "batch p95 s": step.p95_ms / 1000,
                    "catch-up s": "> timeout"
                    if step.drain_seconds is None
                    else round(step.drain_seconds),
                    "cores: job / producers / broker / databases / other": " / ".join(
                        f"{step.cores[part]:.2f}"
                        for part in ("job", "producers", "broker", "databases", "other")
                    ),
                    "sustained": ("**yes**" if step.sustained else "no")
                    + (f" ({'; '.join(step.notes)})" if step.notes else ""),
                },
            )
        )
    best, top = summary.sustained, summary.saturated
    baselines = Table("Seed-style baselines, same topic, same run", "events/s", "events/s")
    for result in summary.baselines:
        baselines.rows.append(
            Row(
                f"{result.variant} consumer",
                [result.rate],
                {
                    "events": result.events,
                    "Pulse sustained / this": _ratio(best, result.rate),
                    "Pulse highest processed / this": _ratio(top, result.rate),
                },
            )
        )
    return [steps, baselines]


def data(summary: RunSummary) -> dict[str, Any]:
    """The steps for the throughput plot, the figures and goals as text."""
    return {
        "steps": [_step(step) for step in summary.steps],
        "skipped": summary.skipped,
        "trigger_seconds": summary.trigger_seconds,
        "latency_rate": summary.latency_rate,
        "figures": [list(pair) for pair in figures(summary)],
        "goals": [[goal, measured, met] for goal, measured, met in goals(summary)],
        "sample_unit": "s",
    }


def samples(summary: RunSummary) -> dict[str, list[float]]:
    """End-to-end latency samples, per event and per window, in seconds."""
    lat = summary.latency
    if lat is None:
        return {}
    rate = f"{summary.latency_rate:,.0f}/s"
    return {
        f"event ts -> visible in Redis, at {rate}": list(lat.samples),
        f"window end -> final count visible, at {rate}": list(lat.window_samples),
    }


def _step(step: StepResult) -> dict[str, Any]:
    return {
        "requested": step.requested,
        "processes": step.processes,
        "offered": step.offered,
        "processed": step.processed,
        "batches": step.batches,
        "p50_s": step.p50_ms / 1000,
        "p95_s": step.p95_ms / 1000,
        "max_s": step.max_ms / 1000,
        "drain_seconds": step.drain_seconds,
        "sustained": step.sustained,
        "cores": step.cores,
        "notes": step.notes,
    }


def _ratio(step: StepResult | None, rate: float) -> str:
    return f"{step.processed / rate:,.1f}x" if step and rate else "-"
