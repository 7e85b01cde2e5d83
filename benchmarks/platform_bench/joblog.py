"""The Spark drivers' logs (`.pulse/logs/<driver>.log`), read from given offsets: the batch line
every query logs (pulse/progress.py: `<query> batch <id>: <rows> rows in <ms> ms (...)`) and the
supervisor's `failed, restarting` lines (pulse/queries.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BATCH = re.compile(
    r" (?P<query>[\w.-]+) batch (?P<batch>\d+): (?P<rows>\d+) rows in (?P<ms>\d+) ms"
)
RESTART = "failed, restarting"

Mark = tuple[int, ...]  # a size per log


@dataclass(frozen=True)
class Batch:
    query: str
    batch_id: int
    rows: int
    ms: int


class JobLog:
    """The part of the logs written after `start` (their sizes when the object was made, unless
    given); `mark()` gives their current ends, to read a window of them later."""

    def __init__(self, paths: Sequence[Path], start: Mark | None = None) -> None:
        self.paths = tuple(paths)
        self.start = self.mark() if start is None else start

    def mark(self) -> Mark:
        return tuple(path.stat().st_size if path.exists() else 0 for path in self.paths)

    def text(self, start: Mark | None = None, end: Mark | None = None) -> str:
        """The logs between two marks (`start` defaults to the object's, `end` to the ends),
        one after the other."""
        begins = self.start if start is None else start
        ends = end or (None,) * len(self.paths)
        parts = []
        for path, begin, stop in zip(self.paths, begins, ends, strict=True):
            if path.exists():
                with open(path, "rb") as log:
                    log.seek(begin)
                    data = log.read() if stop is None else log.read(max(0, stop - begin))
                parts.append(data.decode("utf-8", errors="replace"))
        return "".join(parts)

    def queries_seen(self) -> set[str]:
        return {b.query for b in batches(self.text())}


def batches(text: str) -> list[Batch]:
    """Every batch line of `text`."""
    return [
        Batch(m["query"], int(m["batch"]), int(m["rows"]), int(m["ms"]))
        for m in BATCH.finditer(text)
    ]


def restarts(text: str) -> list[str]:
    """The `failed, restarting` lines of `text`."""
    return [line for line in text.splitlines() if RESTART in line]
