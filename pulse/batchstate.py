"""Query state kept by the driver beside Spark's checkpoint, one small file per micro-batch, so
the live queries need no Spark state store (see "Driver-held state" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger("pulse.batchstate")

S = TypeVar("S")
D = TypeVar("D")

_SUFFIX = ".state"


class BatchState(Generic[S, D]):
    """The state of one query after each batch, rebuilt from per-batch deltas when needed.

    `fold(state, delta)` applies one batch's delta. Each delta is recorded with the watermark
    up to which it matters (`needed_until`, in the state's own unit; None: always), and
    `watermark(state)` says where a state's watermark is, so that files the watermark has
    passed can go without being read.

    >>> import tempfile
    >>> store = BatchState(tempfile.mkdtemp(), initial=0, fold=lambda s, d: s + d)
    >>> store.before(0)
    0
    >>> store.record(0, delta=5, state=5, needed_until=None)
    >>> store.record(1, delta=2, state=7, needed_until=None)
    >>> BatchState(store.directory, initial=0, fold=lambda s, d: s + d).before(2)  # a restart
    7
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        initial: S,
        fold: Callable[[S, D], S],
        watermark: Callable[[S], int | None] = lambda state: None,
    ) -> None:
        self.directory = Path(directory)
        self._initial = initial
        self._fold = fold
        self._watermark = watermark
        self._after: tuple[int, S] | None = None  # (batch id, state after it), in memory

    def before(self, batch_id: int) -> S:
        """The state after batch `batch_id - 1`: what batch `batch_id` starts from."""
        if self._after is not None and self._after[0] == batch_id - 1:
            return self._after[1]
        state = self._initial
        for number, _, path in self._files():
            if number < batch_id:
                state = self._fold(state, pickle.loads(path.read_bytes()))
        log.info("state of %s before batch %d rebuilt from its files", self.directory, batch_id)
        return state

    def record(self, batch_id: int, *, delta: D, state: S, needed_until: int | None) -> None:
        """Keep batch `batch_id`'s delta on disk (before any sink is written) and its state.

        `needed_until`: the watermark past which later batches no longer need this delta (None:
        always needed; keep that for deltas that truly never expire, or the files pile up; a
        negative value: needed by no later batch, whatever the watermark, even none yet).

        Files that only matter to batches the watermark has passed are deleted, judged by the
        state this batch started from: a replay of this batch still finds what it needs.
        """
        passed = self._watermark(self.before(batch_id))
        self.directory.mkdir(parents=True, exist_ok=True)
        until = "always" if needed_until is None else str(needed_until)
        path = self.directory / f"{batch_id}.{until}{_SUFFIX}"
        partial = self.directory / f"{batch_id}.partial"
        partial.write_bytes(pickle.dumps(delta, protocol=pickle.HIGHEST_PROTOCOL))
        for number, _, old in self._files():
            if number == batch_id and old != path:
                old.unlink()  # a replay whose delta differs in horizon: one file per batch
        partial.replace(path)  # atomic: a crash never leaves half a file under the real name
        for number, needed, old in self._files():
            later = number > batch_id
            passed_it = needed is not None and (
                needed < 0 or (passed is not None and needed < passed)
            )
            behind = number < batch_id - 1 and passed_it
            if later or behind:
                old.unlink(missing_ok=True)
        self._after = (batch_id, state)

    def _files(self) -> list[tuple[int, int | None, Path]]:
        """(batch id, watermark it matters until, path) of every delta, by batch id."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            number, _, until = path.name[: -len(_SUFFIX)].partition(".")
            if number.isdigit() and (until == "always" or until.lstrip("-").isdigit()):
                found.append((int(number), None if until == "always" else int(until), path))
        return sorted(found, key=lambda item: item[0])
