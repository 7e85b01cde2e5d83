"""The one way a long-running process hears SIGTERM, SIGINT or SIGHUP: within a block, a
signal calls the process's own stop (`on_stop_signals`, or `on_stop_signals_in_loop` under
asyncio), and the handlers found before come back at its end; off the main thread, no change.
Each caller names its signals. See "Stopping" in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # what `stop_signals_as_interrupt` catches


@contextmanager
def on_stop_signals(
    stop: Callable[[signal.Signals], object], signals: Sequence[signal.Signals]
) -> Iterator[None]:
    """Within the block, each of `signals` calls `stop(signal)`; on exit, the previous handlers
    are back. Off the main thread, where Python cannot handle signals, no change."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        stop(signal.Signals(signum))

    previous = {number: signal.signal(number, handle) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            # None: a handler installed outside Python, which cannot be put back from here.
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


@contextmanager
def on_stop_signals_in_loop(
    loop: asyncio.AbstractEventLoop, stop: Callable[[], object], signals: Sequence[signal.Signals]
) -> Iterator[None]:
    """`on_stop_signals` for code running in `loop`: `stop()` runs as a callback of the loop
    (`add_signal_handler`), not between two instructions of whatever the loop was doing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in signals}
    for number in signals:
        loop.add_signal_handler(number, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            loop.remove_signal_handler(number)
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


@contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `KeyboardInterrupt`, as Ctrl-C does; off the
    main thread, no change."""
    with on_stop_signals(_interrupt, STOP_SIGNALS):
        yield


def _interrupt(_number: signal.Signals) -> None:
    raise KeyboardInterrupt
