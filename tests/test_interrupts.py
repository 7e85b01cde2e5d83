"""A closed terminal (SIGHUP) or a supervisor (SIGTERM) stops a long-running command as Ctrl-C
does: through its own orderly stop, not by dying mid-write."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from pulse.config import PROJECT_ROOT

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
