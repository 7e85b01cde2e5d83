"""`pulse run` as the benchmark's subprocess: start it with known keys, wait for its queries'
first batches, stop it with SIGINT and make sure nothing it started is left behind."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from platform_bench.joblog import JobLog
from pulse.config import PROJECT_ROOT
from pulse.local.run import DRIVERS as DRIVER_CHILDREN

STOP_TIMEOUT = 150.0  # `pulse run` gives each child 15 s, then stops the broker it started
# A platform already running shows as its drivers' scripts (`pgrep -f`) or its busy ports; the
# services a test starts on ports of its own are not one.
DRIVERS = tuple(child.argv[-1] for child in DRIVER_CHILDREN)
PORTS = (8080, 8081, 8100, 8501)


class LaunchError(RuntimeError):
    """The platform could not be started or did not come up."""


@dataclass
class Platform:
    """A running `pulse run`: its process, the keys it was given, the pids seen in its tree."""

    process: subprocess.Popen
    api_key: str
    registry_key: str
    log_path: Path
    seen: set[int] = field(default_factory=set)

    def alive(self) -> bool:
        return self.process.poll() is None

    def tree(self) -> list[psutil.Process]:
        """`pulse run` and every process under it, right now; remembers their pids."""
        try:
            root = psutil.Process(self.process.pid)
            found = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        self.seen.update(p.pid for p in found)
        return found


def busy_ports() -> list[int]:
    """The platform's ports that something already listens on."""
    busy = []
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def start(scale: float, log_path: Path) -> Platform:
    """`pulse run --traffic-scale <scale>` in its own session, its console into `log_path`."""
    drivers = running_drivers()
    if drivers or busy_ports():
        raise LaunchError(
            f"a platform seems to run already (driver pids {drivers}, busy ports "
            f"{busy_ports()}): stop it first"
        )
    api_key, registry_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "PULSE_INGEST__API_KEYS": api_key,
        "PULSE_GATEWAY__REGISTRY_KEY": registry_key,
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "pulse", "run", "--traffic-scale", f"{scale:g}"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # our SIGINT only, never a terminal's
            preexec_fn=_default_sigint,
        )
    return Platform(process, api_key, registry_key, log_path)


def wait_for_queries(
    platform: Platform, log: JobLog, queries: list[str], timeout: float, say
) -> list[str]:
    """Wait until every query of `queries` has logged a batch; returns those that did not."""
    deadline = time.monotonic() + timeout
    missing = list(queries)
    while missing and time.monotonic() < deadline:
        if not platform.alive():
            raise LaunchError(f"pulse run exited ({platform.process.returncode}): see its log")
        platform.tree()
        seen = log.queries_seen()
        now_missing = [q for q in queries if q not in seen]
        if now_missing != missing:
            say(f"first batches: {len(queries) - len(now_missing)}/{len(queries)} queries")
        missing = now_missing
        time.sleep(2)
    return missing


def stop(platform: Platform, say) -> list[int]:
    """SIGINT to `pulse run`, wait for it (then SIGTERM, its other clean way out, then SIGKILL);
    then kill (by pid) whatever of its tree is left. Returns the pids that had to be killed."""
    platform.tree()
    for sig, timeout in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGTERM, 60.0)):
        if not platform.alive():
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(platform.process.pid, sig)
        try:
            platform.process.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"pulse run still runs {timeout:.0f} s after {sig.name}")
    if platform.alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(platform.process.pid, signal.SIGKILL)
        platform.process.wait()
    killed = []
    for pid in sorted(platform.seen - {platform.process.pid}):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(pid).wait(5)
    for pid in sorted(platform.seen - {platform.process.pid}):
        with contextlib.suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:  # a zombie is dead, only not reaped
                process.kill()
                killed.append(pid)
    return killed


def running_drivers() -> list[int]:
    """Pids of processes running a local driver's script (`pgrep -f`)."""
    found: set[int] = set()
    for script in DRIVERS:
        result = subprocess.run(["pgrep", "-f", script], capture_output=True, text=True)
        found.update(int(pid) for pid in result.stdout.split())
    found.discard(os.getpid())
    return sorted(found)


def leftovers(platform: Platform) -> list[int]:
    """Pids of live processes that this run started, wherever they were reparented: every child
    of `pulse run` inherits its environment, and with it the run's own random API key."""
    marker = platform.api_key
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            ours = process.environ().get("PULSE_INGEST__API_KEYS") == marker
            if ours and process.pid != os.getpid() and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
    return sorted(found)


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default, so that Python turns it into
    KeyboardInterrupt even when the benchmark was started in the background (where a shell
    sets SIGINT to ignored, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
