"""SIGTERM and SIGHUP handled as Ctrl-C, for the long-running commands (`pulse simulate`,
`pulse run`).

A supervisor (`pulse run`, systemd, Kubernetes) stops a process with SIGTERM, and a closed
terminal sends SIGHUP; treated as Ctrl-C, either lets the command flush what it holds and stop
what it started, in order, instead of dying mid-write and leaving its children to stop
themselves in any order (a broker stopped before the API that still held its records).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `KeyboardInterrupt`; off the main thread, no
    change."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    with ExitStack() as restore:
        for number in STOP_SIGNALS:
            try:
                previous = signal.signal(number, interrupt)
            except ValueError:  # not the main thread, where Python cannot handle signals
                break
            restore.callback(signal.signal, number, previous)
        yield
