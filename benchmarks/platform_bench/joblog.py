"""The Spark driver's log (`.pulse/logs/jobs.log`), read from a given offset: the batch line
every query logs (pulse/progress.py: `<query> batch <id>: <rows> rows in <ms> ms (...)`) and
the supervisor's `failed, restarting` lines (pulse/queries.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BATCH = re.compile(
    r" (?P<query>[\w.-]+) batch (?P<batch>\d+): (?P<rows>\d+) rows in (?P<ms>\d+) ms"
)
RESTART = "failed, restarting"


@dataclass(frozen=True)
class Batch:
    query: str
    batch_id: int
    rows: int
    ms: int


class JobLog:
    """The part of the log written after `start` (its size when the object was made, unless
    given); `mark()` gives the current end, to read a window of it later."""

    def __init__(self, path: Path, start: int | None = None) -> None:
        self.path = path
        self.start = self.mark() if start is None else start

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def text(self, start: int | None = None, end: int | None = None) -> str:
        """The log between two marks (`start` defaults to the object's, `end` to the end)."""
        if not self.path.exists():
            return ""
        begin = self.start if start is None else start
        with open(self.path, "rb") as log:
            log.seek(begin)
            data = log.read() if end is None else log.read(max(0, end - begin))
        return data.decode("utf-8", errors="replace")

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
