"""docs/BENCHMARKS.md as text, from result documents (suite_bench.results): pure functions, no
files read or written here, so the layout can be checked on any set of results.

Every table gives, per row, how many repetitions there were, their median (bold), min and max,
then the row's own figures. Results of the same benchmark (the same script
run with other arguments) share one section, their tables merged by title."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from suite_bench.prose import HEADER, SECTIONS, Section

Result = dict[str, Any]
Plot = tuple[str, str]  # (caption, path relative to docs/)


def document(results: Sequence[Result], plots: dict[str, list[Plot]], note: str = "") -> str:
    """The whole file: header, machine, then one section per benchmark in the usual order."""
    if not results:
        return HEADER + "\n\nNo results yet: run `make bench`.\n"
    newest = max(results, key=lambda r: r["finished"])
    parts = [HEADER, *([note] if note else []), machine_table(newest["machine"])]
    for name in ordered_benchmarks(results):
        mine = [r for r in results if r["benchmark"] == name]
        parts.append(section(name, mine, plots.get(name, []), newest["machine"]))
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"


def ordered_benchmarks(results: Sequence[Result]) -> list[str]:
    """Benchmarks in the order of the prose, unknown ones after them."""
    present = {r["benchmark"] for r in results}
    known = [name for name in SECTIONS if name in present]
    return known + sorted(present - set(known))


def machine_table(machine: dict[str, str]) -> str:
    """The machine as a two-column table."""
    rows = "\n".join(f"| {key} | {value} |" for key, value in machine.items())
    return f"## Machine\n\n| | |\n|---|---|\n{rows}"


def section(name: str, results: Sequence[Result], plots: list[Plot], machine: dict) -> str:
    """One benchmark: explanation, commands, when, tables, figures, goals, plots."""
    prose = SECTIONS.get(name, Section(name, ""))
    lines = [f"## {prose.heading}", "", prose.text, "", "```sh"]
    lines += [r["command"] for r in results]
    lines += ["```", ""]
    for result in results:
        mine = result["machine"]
        other = "" if _same(mine, machine) else f" on {_machine_line(mine)}"
        what = "Measured" if len(results) == 1 else f"`{result['command']}`: measured"
        lines += [
            f"{what} {_span(result['started'], result['finished'])} at commit "
            f"`{mine.get('commit', '?')}`{other}.",
            "",
        ]
    for table in merged_tables(results):
        lines += [f"### {table['title']}", "", table_text(table), ""]
    for result in results:
        lines += _pairs(["figure", "measured"], result["data"].get("figures", []))
        goals = [
            [g, m, "yes" if met else "**no**"] for g, m, met in result["data"].get("goals", [])
        ]
        lines += _pairs(["goal (from the issue)", "measured", "met"], goals)
    for caption, path in plots:
        lines += [f"![{caption}]({path})", ""]
    return "\n".join(lines)


def merged_tables(results: Sequence[Result]) -> list[dict[str, Any]]:
    """The tables of all results, rows of tables with the same title together."""
    merged: dict[str, dict[str, Any]] = {}
    for result in results:
        for table in result["tables"]:
            into = merged.setdefault(table["title"], {**table, "rows": []})
            into["rows"] = into["rows"] + table["rows"]
    return list(merged.values())


def table_text(table: dict[str, Any]) -> str:
    """One Markdown table: label, count, median, min and max, then the rows' own figures."""
    extra: list[str] = []
    for row in table["rows"]:
        extra += [key for key in row["columns"] if key not in extra]
    value = table.get("value", table["unit"])
    head = ["", table.get("repetition", "runs"), f"median {value}", "min", "max", *extra]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for row in table["rows"]:
        summary = (
            [f"**{number(row['median'])}**", number(row["min"]), number(row["max"])]
            if row["count"]
            else ["-", "-", "-"]
        )
        cells = [row["label"], *(cell(row["columns"].get(key, "")) for key in extra)]
        lines.append("| " + " | ".join([cells[0], str(row["count"]), *summary, *cells[1:]]) + " |")
    return "\n".join(lines)


def number(value: float) -> str:
    """A measured number with the digits that mean something: thousands separated from 100
    up, one decimal from 10, two below (three below 0.1)."""
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if size >= 0.1 or size == 0 else f"{value:.3f}"


def cell(value: Any) -> str:
    """A table cell: integers with separators, other numbers as `number`, text as it is."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return number(value)
    return str(value)


def _pairs(head: list[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    if not rows:
        return []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _same(one: dict[str, str], other: dict[str, str]) -> bool:
    """The same machine and versions (the commit may differ: the header names the newest)."""
    return {k: v for k, v in one.items() if k != "commit"} == {
        k: v for k, v in other.items() if k != "commit"
    }


def _machine_line(machine: dict[str, str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in machine.items() if key != "commit")


def _span(started: str, finished: str) -> str:
    """`2026-12-02 17:46-17:52 UTC` (both days when they differ)."""
    end = finished[11:16] if finished[:10] == started[:10] else finished.replace("T", " ")[:16]
    return f"{started.replace('T', ' ')[:16]}-{end} UTC"
