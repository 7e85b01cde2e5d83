"""One benchmark run's results as a JSON file: what every script writes with `--json PATH` (or
into `$PULSE_BENCH_RESULTS/<name>.json`), and what the suite's renderer reads.

A result file holds:

- `benchmark`: the script's name (`source_read`, `parse`, ...); `command`: its exact command
  line; `settings`: its arguments; `started`/`finished`: UTC times; `machine`: see machine.py.
- `tables`: measured series, each `{"title", "unit", "rows": [{"label", "values", "columns"}]}`,
  `values` being one number per repetition (run, batch, ...), from which the renderer takes
  median, min, max and count; `columns` extra figures of the row (numbers or text).
- `samples`: named lists of latencies for distribution plots (at most `MAX_SAMPLES` each,
  evenly spaced quantiles of the full list, so the distribution is kept and the file small).
- `data`: anything else a benchmark's plots or prose need (the pipeline's steps, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from suite_bench.machine import machine

ENVIRONMENT = "PULSE_BENCH_RESULTS"  # a directory: every script writes <name>.json into it
MAX_SAMPLES = 5_000


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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, allow_nan=True) + "\n")
    print(f"results written to {path}", file=sys.stderr, flush=True)
    return path


def _plain(value: Any) -> Any:
    """Settings as JSON values (paths and other objects as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)
