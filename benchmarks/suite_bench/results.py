"""One benchmark run's results as a JSON file: what every script writes with `--json PATH` (or
into `$PULSE_BENCH_RESULTS/<name>.json`), and what the suite's renderer reads.

A result file holds:

- `benchmark`: the script's name (`source_read`, `parse`, ...); `command`: its exact command
  line; `settings`: its arguments; `started`/`finished`: UTC times; `machine`: see machine.py.
- `tables`: measured series, each `{"title", "unit", "rows": [{"label", "count", "median",
  "min", "max", "columns"}]}`, summarised from one value per repetition (run, batch, ...);
  `columns` extra figures of the row (numbers or text).
- `data`: anything else a benchmark's prose needs (figures, goals, the pipeline's steps, ...).

That summary is what the repository keeps (docs/benchmarks/results/). What it was computed
from goes beside it into `raw/<name>.json`, a folder git ignores: every repetition's value,
`samples` (named lists of latencies for the distribution plots, at most `MAX_SAMPLES` each,
evenly spaced quantiles) and the long series of `data` (`RAW_DATA`: the platform's per-run
lag, memory and CPU). The renderer redraws a plot from them where they are, and otherwise
keeps the plot already drawn.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from suite_bench.machine import machine

ENVIRONMENT = "PULSE_BENCH_RESULTS"  # a directory: every script writes <name>.json into it
MAX_SAMPLES = 5_000
RAW = "raw"  # beside the summaries: what they were computed from (git ignores it)
RAW_DATA = ("runs",)  # keys of `data` that are series, not figures


@dataclass
class Row:
    """One measured series: its repetitions, and the figures that describe it."""

    label: str
    values: list[float]
    columns: dict[str, Any] = field(default_factory=dict)


@dataclass
class Table:
    """Rows measured in one unit (`rows/s`, `s`, `ms`, ...); `value` names what is measured."""

    title: str
    unit: str
    value: str
    rows: list[Row] = field(default_factory=list)
    repetition: str = "runs"  # what one value is: a run, a batch, a request, ...


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """`--json PATH`: write the results there too."""
    parser.add_argument(
        "--json",
        type=Path,
        help=f"write the results as JSON to this file (default: ${ENVIRONMENT}/<name>.json)",
    )


def command_line(script: str, argv: Sequence[str] | None = None) -> str:
    """The command that reproduces this run (the `--json` option left out: it is not a
    setting)."""
    given = list(sys.argv[1:] if argv is None else argv)
    kept: list[str] = []
    skip = False
    for arg in given:
        if skip:
            skip = False
            continue
        if arg == "--json":
            skip = True
            continue
        if arg.startswith("--json="):
            continue
        kept.append(arg)
    return " ".join([".venv/bin/python", f"benchmarks/{script}", *map(shlex.quote, kept)])


def samples(values: Sequence[float], limit: int = MAX_SAMPLES) -> list[float]:
    """At most `limit` values that keep the distribution: evenly spaced order statistics,
    the minimum and maximum included."""
    ordered = sorted(values)
    if len(ordered) <= limit:
        return [round(v, 6) for v in ordered]
    step = (len(ordered) - 1) / (limit - 1)
    return [round(ordered[round(i * step)], 6) for i in range(limit)]


def write_results(
    name: str,
    path: Path | None,
    *,
    command: str,
    settings: dict[str, Any],
    started: datetime,
    tables: Sequence[Table],
    sample_sets: dict[str, Sequence[float]] | None = None,
    data: dict[str, Any] | None = None,
) -> Path | None:
    """Write the result file to `path`, else into `$PULSE_BENCH_RESULTS`, else nowhere."""
    if path is None:
        folder = os.environ.get(ENVIRONMENT)
        if not folder:
            return None
        path = Path(folder) / f"{name}.json"
    document = {
        "benchmark": name,
        "command": command,
        "settings": {k: _plain(v) for k, v in settings.items() if k != "json"},
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "tables": [
            {
                "title": t.title,
                "unit": t.unit,
                "value": t.value,
                "repetition": t.repetition,
                "rows": [
                    {"label": r.label, "values": r.values, "columns": r.columns} for r in t.rows
                ],
            }
            for t in tables
        ],
        "samples": {key: samples(values) for key, values in (sample_sets or {}).items()},
        "data": data or {},
    }
    summary, raw = split(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_dumps(summary))
    raw_path = raw_path_of(path)
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw_path.write_text(json.dumps(raw, ensure_ascii=False, allow_nan=True) + "\n")
    print(f"results written to {path} (raw: {raw_path})", file=sys.stderr, flush=True)
    return path


def raw_path_of(path: Path) -> Path:
    """Where the raw side of the summary at `path` goes."""
    return path.parent / RAW / path.name


def split(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A result as (summary, raw): rows summarised, samples and series set aside.

    >>> doc = {"tables": [{"title": "t", "rows": [{"label": "a", "values": [3, 1, 2],
    ...        "columns": {}}]}], "samples": {"s": [1.0]}, "data": {"runs": [], "goals": []}}
    >>> summary, raw = split(doc)
    >>> summary["tables"][0]["rows"][0]
    {'label': 'a', 'count': 3, 'median': 2, 'min': 1, 'max': 3, 'columns': {}}
    >>> sorted(raw), sorted(summary["data"])
    (['data', 'samples', 'values'], ['goals'])
    """
    values: dict[str, dict[str, list[float]]] = {}
    tables = []
    for table in document["tables"]:
        rows = []
        for row in table["rows"]:
            values.setdefault(table["title"], {})[row["label"]] = row["values"]
            rows.append(
                {"label": row["label"], **summarise(row["values"]), "columns": row["columns"]}
            )
        tables.append({**table, "rows": rows})
    data = document.get("data", {})
    summary = {k: v for k, v in document.items() if k not in ("tables", "samples", "data")}
    summary["tables"] = tables
    summary["data"] = {k: v for k, v in data.items() if k not in RAW_DATA}
    raw = {
        "values": values,
        "samples": document.get("samples", {}),
        "data": {k: v for k, v in data.items() if k in RAW_DATA},
    }
    return summary, raw


def summarise(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Count, median, min and max of the finite values."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"count": 0, "median": None, "min": None, "max": None}
    return {
        "count": len(finite),
        "median": statistics.median(finite),
        "min": min(finite),
        "max": max(finite),
    }


def _dumps(document: dict[str, Any]) -> str:
    """A summary as JSON indented down to its tables' rows, each row and each list of plain
    values on one line: a summary stays short and a re-run's diff reads row by row.

    >>> print(_dumps({"tables": [{"rows": [{"label": "a", "median": 1.5}]}], "scales": [2, 4]}))
    {
     "tables": [
      {
       "rows": [
        {"label": "a", "median": 1.5}
       ]
      }
     ],
     "scales": [2, 4]
    }
    <BLANKLINE>
    """
    return _json(document, 0) + "\n"


_ONE_LINE_FROM = 4  # the nesting level of a table's rows: document, tables, table, rows


def _json(value: Any, level: int) -> str:
    def text(item: Any) -> str:
        return json.dumps(item, ensure_ascii=False, allow_nan=True)

    plain = isinstance(value, list) and not any(isinstance(v, dict | list) for v in value)
    if level >= _ONE_LINE_FROM or plain or not isinstance(value, dict | list) or not value:
        return text(value)
    pad = "\n" + " " * (level + 1)
    if isinstance(value, dict):
        items = [f"{text(key)}: {_json(item, level + 1)}" for key, item in value.items()]
        return "{" + pad + ("," + pad).join(items) + "\n" + " " * level + "}"
    items = [_json(item, level + 1) for item in value]
    return "[" + pad + ("," + pad).join(items) + "\n" + " " * level + "]"


def _plain(value: Any) -> Any:
    """Settings as JSON values (paths and other objects as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)
