"""A process a benchmark starts: a command in a session of its own, its output in a log file.

Used by both benchmarks (the live job and the private Redis here, the ingest API in
`ingest_bench.processes`). Its own session, so Ctrl-C in the terminal reaches only the benchmark,
which then stops the process the way an operator would: SIGTERM, and after a grace SIGKILL to
whatever is left of its process group (Spark's Python workers, uvicorn's workers), so that no
run leaves processes behind on a machine others share.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pulse.config import PROJECT_ROOT

log = logging.getLogger("bench.process")


class ProcessNotStarted(RuntimeError):
    """A process was asked for its pid before `start`."""


class GroupProcess:
    """`command`, run from the project root with `env` added to the benchmark's environment.

    `what` names it in messages; `grace` is how long `stop` waits after the SIGTERM.
    `term_leader_only` sends the SIGTERM to the leader alone, for a supervisor that passes it on
    to its workers itself (as after an operator's `kill`); otherwise the whole group gets it.
    """

    def __init__(
        self,
        what: str,
        command: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        *,
        grace: float,
        term_leader_only: bool = False,
    ) -> None:
        self.what, self.command, self.log_path = what, list(command), log_path
        self.env = dict(env or {})
        self.grace, self.term_leader_only = grace, term_leader_only
        self._process: subprocess.Popen[bytes] | None = None
        self.stop_seconds: float | None = None  # set when `stop` saw it exit within the grace

    @property
    def pid(self) -> int:
        """The pid of the leader, which is also the id of its process group."""
        if self._process is None:
            raise ProcessNotStarted(f"{self.what} is not started")
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The leader's exit code; None while it runs or before it starts (negative: killed by
        that signal)."""
        return None if self._process is None else self._process.poll()

    def start(self) -> None:
        """Start the command, its stdout and stderr into the log file."""
        with open(self.log_path, "wb") as output:
            self._process = subprocess.Popen(
                self.command,
                cwd=PROJECT_ROOT,
                env={**os.environ, **self.env},
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def tail(self, chars: int = 4000) -> str:
        """The last `chars` characters of its output."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM it, SIGKILL what is left of its group after the grace; a no-op if it is not
        running."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        began = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            if self.term_leader_only:
                os.kill(process.pid, signal.SIGTERM)
            else:
                os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(self.grace)
            self.stop_seconds = time.monotonic() - began
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s; killing it", self.what, self.grace)
        # The group may outlive its leader (workers): kill what is left of it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime of a process (all its threads) in seconds, and with `reaped_children` those
    of the children it has waited for (a process tree whose workers come and go); 0 if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # the command may contain spaces
    return sum(int(value) for value in fields[11 : 15 if reaped_children else 13]) / _TICK
