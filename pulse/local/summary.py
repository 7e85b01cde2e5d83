"""The live console of `pulse run`: per-topic rates, totals and sparklines, as plain text.

Rendering is a pure function of rows, so it is tested without a terminal or a broker; `run.py`
does the drawing in place. Rates are charted as well as printed, because a rate that people
watch is read faster as a shape than as a column of changing digits.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BARS = "▁▂▃▄▅▆▇█"
HISTORY = 30  # samples kept per topic: a minute at the 2-second refresh


@dataclass(frozen=True)
class TopicRow:
    """One topic on the console; `total` None: the topic does not exist (yet)."""

    topic: str
    total: int | None
    rate: float | None  # records/s over the last interval; None before the second sample
    history: tuple[float, ...] = ()  # recent rates, oldest first


@dataclass(frozen=True)
class Board:
    """Everything the console shows at one refresh."""

    topics: tuple[TopicRow, ...]
    processes: tuple[tuple[str, str], ...] = ()  # (name, state)
    places: tuple[tuple[str, str], ...] = ()  # (label, where): broker, state dir, logs
    problem: str = ""  # shown above the table, e.g. the broker stopped answering
    title: str = "Pulse is running. Ctrl-C stops it."
    queries: tuple[str, ...] = ()  # one line per streaming query (pulse.queryhealth.describe)


class RateMeter:
    """Turns successive totals (end offsets summed per topic) into rates and their history."""

    def __init__(self, topics: Sequence[str], keep: int = HISTORY) -> None:
        self._topics = tuple(topics)
        self._last: dict[str, tuple[float, int]] = {}
        self._history: dict[str, deque[float]] = {topic: deque(maxlen=keep) for topic in topics}

    def sample(self, at: float, totals: Mapping[str, int]) -> tuple[TopicRow, ...]:
        """Rows for totals read at monotonic time `at`; a topic missing from `totals` has none."""
        rows = []
        for topic in self._topics:
            total = totals.get(topic)
            rate = None
            if total is not None:
                previous = self._last.get(topic)
                if previous is not None and at > previous[0]:
                    # A total that went down means a recreated topic: count from zero again.
                    rate = max(0, total - previous[1]) / (at - previous[0])
                    self._history[topic].append(rate)
                self._last[topic] = (at, total)
            rows.append(TopicRow(topic, total, rate, tuple(self._history[topic])))
        return tuple(rows)


def sparkline(values: Sequence[float], width: int = HISTORY) -> str:
    """The last `width` values as bars scaled to their maximum; blank for zero or no value."""
    recent = list(values)[-width:]
    top = max(recent, default=0.0)
    bars = []
    for value in recent:
        if value <= 0 or top <= 0:
            bars.append(" ")
        else:
            # Bar k of 8 covers (k-1)/8 to k/8 of the maximum: half the maximum is bar 4.
            bars.append(BARS[max(0, math.ceil(value / top * len(BARS)) - 1)])
    return "".join(bars).rjust(width)


def render(board: Board) -> str:
    """The console as text: title, problem, the topic table, processes and where to look."""
    width = max([len("topic"), *(len(row.topic) for row in board.topics)])
    lines = [board.title, ""]
    if board.problem:
        lines += [f"! {board.problem}", ""]
    lines.append(f"{'topic':<{width}}  {'events/s':>10}  {'total':>12}  last {HISTORY * 2} s")
    for row in board.topics:
        if row.total is None:
            lines.append(f"{row.topic:<{width}}  {'-':>10}  {'-':>12}  (no such topic yet)")
            continue
        rate = "..." if row.rate is None else f"{row.rate:,.0f}"
        chart = sparkline(row.history).rstrip()
        lines.append(f"{row.topic:<{width}}  {rate:>10}  {row.total:>12,}  {chart}".rstrip())
    if board.queries:
        lines += ["", "queries"]
        lines += [f"  {line}" for line in board.queries]
    if board.processes:
        name_width = max(len(name) for name, _ in board.processes) + 2
        lines += ["", "processes"]
        lines += [f"  {name:<{name_width}}{state}" for name, state in board.processes]
    if board.places:
        lines.append("")
        label_width = max(len(label) for label, _ in board.places) + 2
        lines += [f"{label:<{label_width}}{where}" for label, where in board.places]
    return "\n".join(lines)
