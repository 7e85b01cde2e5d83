"""SIGTERM handled as Ctrl-C, for the long-running commands (`pulse simulate`, `pulse run`).

A supervisor (`pulse run`, systemd, Kubernetes) stops a process with SIGTERM; treated as Ctrl-C,
it lets the command flush what it holds and stop what it started instead of dying mid-write.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises `KeyboardInterrupt`; off the main thread, no change."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread, where Python cannot handle signals
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
