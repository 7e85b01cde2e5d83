"""The API under test as a real `python -m pulse serve ingest` process, and CPU time from /proc.

The API is a `pipeline_bench.process.GroupProcess`: a session of its own, so Ctrl-C in the
terminal reaches only the benchmark, which then stops the API the way an operator would.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline_bench.process import GroupProcess, cpu_seconds


class ApiError(RuntimeError):
    """The API did not start or did not stop; carries the end of its log."""


class ApiProcess(GroupProcess):
    """`pulse serve ingest --port P [--workers N]` with the given `PULSE_*` settings.

    Stopped as an operator's `kill` would: SIGTERM to the `pulse` process only (uvicorn's
    graceful stop, producers drained; with `--workers` the supervisor passes it on to each
    worker), SIGKILL to the group after 45 s.
    """

    def __init__(self, port: int, workers: int, settings: Mapping[str, str], log: Path) -> None:
        command = [sys.executable, "-m", "pulse", "serve", "ingest", "--port", str(port)]
        if workers > 1:
            command += ["--workers", str(workers)]
        super().__init__("the API", command, log, settings, grace=45.0, term_leader_only=True)
        self.port, self.workers = port, workers

    def start(self, timeout: float = 60.0) -> None:
        """Start it; return once it answers /health and all its workers run."""
        super().start()
        deadline = time.monotonic() + timeout
        while not (self._healthy() and self._workers_running()):
            if self.returncode is not None:
                raise ApiError(f"the API exited with {self.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise ApiError(
                    f"the API (or one of its workers) did not start within {timeout:.0f} s:\n"
                    f"{self.tail()}"
                )
            time.sleep(0.2)
        if self.workers > 1:
            time.sleep(0.5)  # from "startup complete" to listening on the shared socket

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def _workers_running(self) -> bool:
        """Every worker has started its application (uvicorn logs it once per process): until
        then the first ready worker would take every connection of a run."""
        if self.workers == 1:
            return True  # it answered /health: its application has started
        return self.tail(1_000_000).count("Application startup complete") >= self.workers

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the API itself, or its uvicorn workers (children
        whose command is multiprocessing's spawn; its resource tracker is not one)."""
        if self.workers == 1:
            return [self.pid]
        return [pid for pid in children(self.pid) if "spawn_main" in command_line(pid)]


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds per process of interest, and the machine's busy and total jiffies."""

    at: float
    seconds: dict[int, float]
    machine_busy: float
    machine_total: float


def snapshot(pids: list[int]) -> CpuSnapshot:
    """utime + stime of each pid now (own threads included, children not)."""
    busy, total = _machine_cpu()
    return CpuSnapshot(time.monotonic(), {pid: cpu_seconds(pid) for pid in pids}, busy, total)


def cores(first: CpuSnapshot, last: CpuSnapshot, pids: list[int]) -> float:
    """Average cores the given pids used between two snapshots."""
    elapsed = last.at - first.at
    used = sum(last.seconds.get(pid, 0.0) - first.seconds.get(pid, 0.0) for pid in pids)
    return used / elapsed


def machine_cores(first: CpuSnapshot, last: CpuSnapshot) -> float:
    """Average cores busy on the whole machine between two snapshots."""
    share = (last.machine_busy - first.machine_busy) / (last.machine_total - first.machine_total)
    return share * (os.cpu_count() or 1)


def children(pid: int) -> list[int]:
    """The direct children of a process."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.extend(int(child) for child in task.read_text().split())
    return found


def command_line(pid: int) -> str:
    """The command line of a process, arguments joined by spaces."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def machine() -> str:
    """Cores, CPU model, memory and Python version, from /proc and the interpreter."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{os.cpu_count()} cores ({model}){memory}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return float(total - idle), float(total)
