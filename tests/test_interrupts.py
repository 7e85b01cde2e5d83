"""A stop signal reaches a process's own stop, within the block only: a closed terminal (SIGHUP)
or a supervisor (SIGTERM) stops a long-running command as Ctrl-C does, through its own orderly
stop, not by dying mid-write."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from pulse.config import PROJECT_ROOT
from pulse.interrupts import on_stop_signals, on_stop_signals_in_loop, stop_signals_as_interrupt

PROGRAM = """
import time
from pulse.interrupts import stop_signals_as_interrupt
try:
    with stop_signals_as_interrupt():
        print("ready", flush=True)
        time.sleep(60)
except KeyboardInterrupt:
    print("stopped in order", flush=True)
"""


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP], ids=lambda n: n.name)
def test_a_stop_signal_runs_the_orderly_stop(number: signal.Signals) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", PROGRAM], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    child.send_signal(number)
    out, _ = child.communicate(timeout=30)
    assert (out, child.returncode) == ("stopped in order\n", 0)


def _previous(_signum: int, _frame: FrameType | None) -> None:
    """The handler a host process had installed before the block."""


@pytest.fixture
def previous() -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP held by `_previous` for the test, as pytest found them after."""
    numbers = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    found = {number: signal.signal(number, _previous) for number in numbers}
    yield
    for number, handler in found.items():
        signal.signal(number, handler)


def test_a_real_sigterm_sets_the_event_and_the_previous_handler_comes_back(previous) -> None:
    stopping = threading.Event()
    with on_stop_signals(lambda _: stopping.set(), (signal.SIGTERM, signal.SIGINT)):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stopping.is_set()
    assert signal.getsignal(signal.SIGTERM) is _previous
    assert signal.getsignal(signal.SIGINT) is _previous


def test_the_callback_is_told_which_signal_came(previous) -> None:
    heard: list[signal.Signals] = []
    with on_stop_signals(heard.append, (signal.SIGTERM, signal.SIGINT)):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
    assert heard == [signal.SIGINT, signal.SIGTERM]


def test_a_signal_not_named_is_left_to_its_previous_handler(previous) -> None:
    with on_stop_signals(lambda _: None, (signal.SIGTERM,)):
        assert signal.getsignal(signal.SIGINT) is _previous


def test_an_exception_from_the_callback_leaves_the_block_and_restores(previous) -> None:
    with pytest.raises(KeyboardInterrupt), stop_signals_as_interrupt():
        os.kill(os.getpid(), signal.SIGHUP)
    assert signal.getsignal(signal.SIGHUP) is _previous
    assert signal.getsignal(signal.SIGTERM) is _previous


def test_off_the_main_thread_nothing_changes(previous) -> None:
    seen: list[object] = []

    def in_thread() -> None:
        with on_stop_signals(lambda _: None, (signal.SIGTERM,)):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen == [_previous]


def test_in_an_event_loop_a_real_sigterm_runs_the_stop_as_a_callback(previous) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        with on_stop_signals_in_loop(asyncio.get_running_loop(), stop.set, (signal.SIGTERM,)):
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(stop.wait(), timeout=5)

    asyncio.run(main())
    assert signal.getsignal(signal.SIGTERM) is _previous
