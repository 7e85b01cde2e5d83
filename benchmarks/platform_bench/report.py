"""One platform run's figures: latency and batch percentiles, lag trend, goals, the console
table, the lag plot and the result file's tables."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from pipeline_bench.stats import percentile
from suite_bench.results import Row, Table, samples

from platform_bench.joblog import Batch
from platform_bench.probes import PATHS
from platform_bench.samplers import Samples
from pulse.reads.health import LIVE_P95_SECONDS as LIVE_P95

LIVE_PATHS = ("emoji", "scores", "game", "media")
SLACK = 2.0  # seconds over the trigger for the other paths
RSS_LIMIT = 6.0  # GiB
GIB = 1024**3


@dataclass
class RunResult:
    """Everything one platform run measured."""

    scale: float
    seconds: float
    latencies: dict[str, list[float]]
    sent: dict[str, int]
    failed: dict[str, int]
    batches: list[Batch]
    restarts: list[str]
    samples: Samples
    triggers: dict[str, float]  # query -> trigger seconds
    path_triggers: dict[str, float]  # product, lake -> their query's trigger
    missing_queries: list[str] = field(default_factory=list)
    leftovers: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"x{self.scale:g}"


def path_limit(result: RunResult, path: str) -> float:
    return LIVE_P95 if path in LIVE_PATHS else result.path_triggers[path] + SLACK


def batch_rows(result: RunResult) -> dict[str, list[Batch]]:
    """Batches with rows, by query, in the order of the triggers."""
    by_query: dict[str, list[Batch]] = {q: [] for q in result.triggers}
    for batch in result.batches:
        if batch.rows > 0:
            by_query.setdefault(batch.query, []).append(batch)
    return by_query


def lag_trend(result: RunResult) -> dict[str, tuple[float, float, float]]:
    """Per query: mean lag of the first third, of the last third, and the tolerance (the mean
    rows of one batch, i.e. one trigger's worth of input)."""
    by_query = batch_rows(result)
    trend = {}
    for query, series in sorted(result.samples.lag.items()):
        if len(series) < 3:
            continue
        third = len(series) // 3
        first = statistics.fmean(v for _, v in series[:third])
        last = statistics.fmean(v for _, v in series[-third:])
        rows = [b.rows for b in by_query.get(query, [])]
        trend[query] = (first, last, statistics.fmean(rows) if rows else 0.0)
    return trend


def goals(result: RunResult) -> list[tuple[str, str, bool]]:
    """(goal, measured, met) for every goal of the run."""
    out = []
    for path in PATHS:
        values = result.latencies.get(path, [])
        limit = path_limit(result, path)
        p95 = percentile(values, 95)
        measured = f"{p95:.2f} s ({len(values)} samples)" if values else "no samples"
        out.append((f"{path} e2e p95 <= {limit:g} s", measured, bool(values) and p95 <= limit))
    out.append(
        ("0 query restarts (from the start)", str(len(result.restarts)), not result.restarts)
    )
    trend = lag_trend(result)
    rising = [q for q, (first, last, tol) in trend.items() if last - first > tol]
    measured = "rising: " + ", ".join(rising) if rising else f"flat ({len(trend)} queries)"
    out.append(
        (
            "lag flat (last third <= first third + one trigger of input)",
            measured,
            bool(trend) and not rising,
        )
    )
    # Judged on PSS: the RSS of forked workers counts their shared pages once per process.
    peak = max((v for _, v in result.samples.pss), default=math.nan) / GIB
    summed = max((v for _, v in result.samples.rss), default=math.nan) / GIB
    out.append(
        (
            f"memory (PSS) <= {RSS_LIMIT:g} GiB",
            f"{peak:.2f} GiB (RSS summed per process {summed:.2f})",
            peak <= RSS_LIMIT,
        )
    )
    return out


def all_met(result: RunResult) -> bool:
    return all(met for _, _, met in goals(result))


def figures(result: RunResult) -> list[tuple[str, str]]:
    cpu = [v for _, v in result.samples.cpu]
    return [
        ("traffic scale", f"{result.scale:g} (asked {result.scale * 2410:,.0f} events/s)"),
        ("events/s produced into the input topics", f"{result.samples.events_per_second():,.0f}"),
        ("measured seconds", f"{result.seconds:.0f}"),
        ("processes in the tree (max)", str(result.samples.processes)),
        ("mean CPU of the tree", f"{statistics.fmean(cpu):.0f} % of one core" if cpu else "-"),
        ("queries without a batch at the start", ", ".join(result.missing_queries) or "none"),
        ("processes left behind", ", ".join(map(str, result.leftovers)) or "none"),
    ]


def console_table(result: RunResult) -> str:
    """The run as text: latencies, batches, lag, goals."""
    lines = [f"== platform at traffic scale {result.scale:g}, {result.seconds:.0f} s measured"]
    lines += [f"{name}: {value}" for name, value in figures(result)]
    lines += ["", f"{'path':<9}{'samples':>8}{'sent':>6}{'p50 s':>8}{'p95 s':>8}{'goal s':>8}"]
    for path in PATHS:
        values = result.latencies.get(path, [])
        sent = result.sent.get(path)
        lines.append(
            f"{path:<9}{len(values):>8}{sent if sent is not None else '-':>6}"
            f"{percentile(values, 50):>8.2f}{percentile(values, 95):>8.2f}"
            f"{path_limit(result, path):>8g}"
        )
    lines += ["", f"{'query':<20}{'trigger':>8}{'batches':>8}{'rows/b':>8}{'p50 s':>7}{'p95 s':>7}"]
    trend = lag_trend(result)
    for query, rows in batch_rows(result).items():
        ms = [b.ms / 1000 for b in rows]
        per = statistics.fmean(b.rows for b in rows) if rows else 0
        lag = trend.get(query)
        lag_text = f"  lag {lag[0]:,.0f} -> {lag[1]:,.0f}" if lag else ""
        lines.append(
            f"{query:<20}{result.triggers.get(query, math.nan):>8g}{len(rows):>8}{per:>8,.0f}"
            f"{percentile(ms, 50):>7.2f}{percentile(ms, 95):>7.2f}{lag_text}"
        )
    lines += [""] + [
        f"[{'met' if met else 'NOT MET'}] {goal}: {measured}"
        for goal, measured, met in goals(result)
    ]
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def plot_lag(result: RunResult, path: Path) -> Path | None:
    """Lag per query over the measured window, as a PNG."""
    if not result.samples.lag:
        return None
    figure, axes = plt.subplots(figsize=(9, 4.5))
    for query, series in sorted(result.samples.lag.items()):
        axes.plot([t for t, _ in series], [v for _, v in series], label=query, linewidth=1.2)
    axes.set_xlabel("seconds into the measured window")
    axes.set_ylabel("consumer lag (records)")
    axes.set_title(f"Platform at traffic scale {result.scale:g}: lag per query")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def tables(results: list[RunResult]) -> list[Table]:
    latency = Table(
        "End-to-end latency per path (event ts -> visible)", "s", "latency s", repetition="samples"
    )
    batches = Table(
        "Batch duration per query (batches with rows)", "s", "batch s", repetition="batches"
    )
    for result in results:
        for path in PATHS:
            values = result.latencies.get(path, [])
            latency.rows.append(
                Row(
                    f"{path} {result.label}",
                    samples(values, 1000),
                    {
                        "p50 s": percentile(values, 50),
                        "p95 s": percentile(values, 95),
                        "goal p95 s": path_limit(result, path),
                    },
                )
            )
        for query, rows in batch_rows(result).items():
            ms = [b.ms / 1000 for b in rows]
            batches.rows.append(
                Row(
                    f"{query} {result.label}",
                    samples(ms, 1000),
                    {
                        "trigger s": result.triggers.get(query),
                        "p50 s": percentile(ms, 50),
                        "p95 s": percentile(ms, 95),
                        "rows per batch": statistics.fmean(b.rows for b in rows) if rows else 0,
                    },
                )
            )
    return [latency, batches]


def data(results: list[RunResult], highest: float | None, plots: list[str]) -> dict[str, Any]:
    last = results[-1]
    return {
        "figures": [list(pair) for r in results for pair in _labelled(r, figures(r), results)],
        "goals": [[g, m, met] for r in results for g, m, met in _labelled3(r, goals(r), results)],
        "highest_scale_all_goals": highest,
        "events_per_second_at_scale_1": 2410,
        "runs": [_run(r) for r in results],
        "plots": plots,
        "sample_unit": "s",
        "restart_lines": last.restarts[:20],
    }


def sample_sets(results: list[RunResult]) -> dict[str, list[float]]:
    return {
        f"{path} e2e, {r.label}": r.latencies[path]
        for r in results
        for path in PATHS
        if r.latencies.get(path)
    }


def _run(result: RunResult) -> dict[str, Any]:
    return {
        "scale": result.scale,
        "seconds": result.seconds,
        "all_goals_met": all_met(result),
        "sent": dict(result.sent),
        "failed": dict(result.failed),
        "restarts": len(result.restarts),
        "lag": {q: [[round(t, 1), v] for t, v in s] for q, s in result.samples.lag.items()},
        "rss_gib": [[round(t, 1), round(v / GIB, 3)] for t, v in result.samples.rss],
        "pss_gib": [[round(t, 1), round(v / GIB, 3)] for t, v in result.samples.pss],
        "cpu_percent": [[round(t, 1), round(v, 1)] for t, v in result.samples.cpu],
        "events_per_second": result.samples.events_per_second(),
        "leftovers": result.leftovers,
        "notes": result.notes,
    }


def _labelled(result: RunResult, pairs: list[tuple[str, str]], results: list[RunResult]):
    return [(f"{a} ({result.label})" if len(results) > 1 else a, b) for a, b in pairs]


def _labelled3(result: RunResult, rows: list[tuple[str, str, bool]], results: list[RunResult]):
    return [(f"{a} ({result.label})" if len(results) > 1 else a, b, c) for a, b, c in rows]
