"""The PNG plots of docs/BENCHMARKS.md, drawn with matplotlib's Agg backend (no display).

Each function takes a result document (suite_bench.results) and a path, draws one figure, and
returns whether it drew anything (a result without the data draws nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

Result = dict[str, Any]


def throughput(result: Result, path: Path) -> bool:
    """The pipeline's processed events/s per step against its batch duration p50 and p95,
    with the trigger interval: where the batches outgrow the trigger, the job falls behind."""
    steps = [s for s in result["data"].get("steps", []) if s["batches"]]
    if not steps:
        return False
    figure, axes = plt.subplots(figsize=(7, 4.2))
    processed = [s["processed"] for s in steps]
    axes.plot(processed, [s["p50_s"] for s in steps], "o-", label="batch duration p50")
    axes.plot(processed, [s["p95_s"] for s in steps], "s--", label="batch duration p95")
    for step in steps:
        axes.annotate(
            f"{step['requested']:,.0f}/s asked" + ("" if step["sustained"] else " (not sustained)"),
            (step["processed"], step["p95_s"]),
            textcoords="offset points",
            xytext=(4, 6),
            fontsize=7,
        )
    trigger = result["data"].get("trigger_seconds")
    if trigger:
        axes.axhline(trigger, color="grey", linestyle=":", label=f"trigger ({trigger:g} s)")
    axes.set_xlim(0, max(processed) * 1.3)  # room for the labels on the right
    axes.set_ylim(0, max([s["p95_s"] for s in steps] + [trigger or 0]) * 1.15)
    axes.set_xlabel("processed events/s in the step")
    axes.set_ylabel("batch duration (s)")
    axes.set_title("Pipeline: throughput against batch duration")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    _save(figure, path)
    return True


def latency(result: Result, path: Path, title: str) -> bool:
    """Every latency sample set of a result as an empirical CDF, on a log scale when the
    samples span more than two decades (a tail would flatten the body otherwise)."""
    sets = {name: values for name, values in result.get("samples", {}).items() if values}
    if not sets:
        return False
    unit = result["data"].get("sample_unit", "")
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for name, values in sets.items():
        ordered = sorted(values)
        axes.step(ordered, _fractions(len(ordered)), where="post", label=name)
    low = min(v for values in sets.values() for v in values if v > 0) if _positive(sets) else 0
    high = max(v for values in sets.values() for v in values)
    if low > 0 and high / low > 100:
        axes.set_xscale("log")
    for q in (0.5, 0.95, 0.99):
        axes.axhline(q, color="grey", linewidth=0.5, linestyle=":")
    axes.set_xlabel(f"latency ({unit})")
    axes.set_ylabel("fraction of samples at or below")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    _save(figure, path)
    return True


def _fractions(count: int) -> Sequence[float]:
    return [(i + 1) / count for i in range(count)]


def _positive(sets: dict[str, list[float]]) -> bool:
    return any(v > 0 for values in sets.values() for v in values)


def _save(figure: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
