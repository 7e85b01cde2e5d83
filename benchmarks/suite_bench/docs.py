"""Writing docs/BENCHMARKS.md and its plots from the result files of a directory: the only
part of the renderer that touches files (render.py and plots.py do the work)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pulse.config import PROJECT_ROOT
from suite_bench import plots
from suite_bench.render import Plot, document
from suite_bench.results import raw_path_of

DOCS = PROJECT_ROOT / "docs" / "BENCHMARKS.md"
PLOTS = PROJECT_ROOT / "docs" / "benchmarks"
RESULTS = PLOTS / "results"

LATENCY_TITLES = {
    "pipeline": "Pipeline: end-to-end latency (event ts -> visible in Redis)",
    "ingest": "Ingest API: request latency (written -> answer read)",
    "fanout": "Fan-out: delivery latency (Redis publish -> client receipt)",
}


def load(folder: Path) -> list[dict[str, Any]]:
    """Every result file of `folder`, oldest first, with its samples where its raw side is
    here (results.py: a fresh clone has the summaries only)."""
    found = []
    for path in sorted(folder.glob("*.json")):
        result = json.loads(path.read_text())
        raw = raw_path_of(path)
        result["samples"] = json.loads(raw.read_text())["samples"] if raw.exists() else {}
        found.append(result)
    return sorted(found, key=lambda r: r["started"])


def draw(results: list[dict[str, Any]], folder: Path) -> dict[str, list[Plot]]:
    """The plots of every benchmark that has the data for them, by benchmark."""
    drawn: dict[str, list[Plot]] = {}
    for result in results:
        name = result["benchmark"]
        caption = "Processed events/s per step against batch duration p50/p95"
        path = folder / f"{name}-throughput.png"
        if name == "pipeline" and plots.throughput(result, path):
            drawn.setdefault(name, []).append((caption, _relative(path)))
        for made in result["data"].get("plots", []) if name == "platform" else []:
            caption = "Consumer lag per query over the measured window"
            drawn.setdefault(name, []).append((caption, _relative(PROJECT_ROOT / made)))
        path = folder / f"{name}-latency.png"
        if name in LATENCY_TITLES and (
            plots.latency(result, path, LATENCY_TITLES[name]) or path.exists()
        ):  # without the samples, the plot drawn from them when the run was made
            drawn.setdefault(name, []).append((LATENCY_TITLES[name], _relative(path)))
    return drawn


def write(results_folder: Path = RESULTS, docs: Path = DOCS, note: str = "") -> Path:
    """Plots into docs/benchmarks/, then docs/BENCHMARKS.md; returns the docs path."""
    results = load(results_folder)
    text = document(results, draw(results, PLOTS), note)
    docs.write_text(text)
    return docs


def _relative(path: Path) -> str:
    return os.path.relpath(path, DOCS.parent)
