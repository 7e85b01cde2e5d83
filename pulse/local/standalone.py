"""A Spark standalone cluster on loopback, from the installed pyspark: one master and N workers,
each with its own work directory. For trying `spark-submit` against a real cluster manager on
one machine (the cluster tests and benchmark use it); a real cluster starts the same classes
with `spark-class` on its own hosts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pulse.local.broker import free_port

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


class StandaloneError(RuntimeError):
    """The cluster did not come up; names what is missing and where the logs are."""


@dataclass(frozen=True)
class Standalone:
    """A running cluster: the master's URL, its web UI, and each worker's work directory."""

    master: str
    ui: str
    workers: tuple[Path, ...]


def spark_home() -> Path:
    """The Spark inside the installed pyspark (its `bin/` and `jars/`)."""
    import pyspark

    return Path(pyspark.__file__).parent


def alive_workers(ui: str) -> int:
    """How many workers the master counts as alive (0 while it does not answer, or answers
    with an empty or half-written page while its UI starts)."""
    try:
        with urllib.request.urlopen(f"{ui}/json/", timeout=2) as answer:
            state = json.load(answer)
    except (OSError, ValueError):
        return 0
    return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


@contextlib.contextmanager
def standalone_cluster(
    root: Path, workers: int, cores: int = 1, memory: str = "1g", timeout: float = 90
) -> Iterator[Standalone]:
    """Start a master and `workers` workers of `cores` cores and `memory` each under `root`
    (logs and work directories there); stop them all at exit."""
    port, ui_port = free_port(), free_port()
    master = f"spark://127.0.0.1:{port}"
    ui = f"http://127.0.0.1:{ui_port}"
    processes = [
        _start([MASTER, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port)],
               root / "master.log")
    ]  # fmt: skip
    work_dirs = []
    try:
        for number in range(1, workers + 1):
            work = root / f"worker-{number}"
            work.mkdir(parents=True, exist_ok=True)
            work_dirs.append(work)
            processes.append(
                _start(
                    [WORKER, master, "--host", "127.0.0.1", "--cores", str(cores),
                     "--memory", memory, "--work-dir", str(work),
                     "--webui-port", str(free_port())],
                    root / f"worker-{number}.log",
                )
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while alive_workers(ui) < workers:
            if time.monotonic() > deadline:
                raise StandaloneError(
                    f"{alive_workers(ui)} of {workers} workers alive at {master} after "
                    f"{timeout:.0f} s; see the logs in {root}"
                )
            time.sleep(0.2)
        yield Standalone(master, ui, tuple(work_dirs))
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            # Named outright: spark-class would look for Spark through whatever `python` is
            # first on PATH, which need not be this environment's.
            env={
                **os.environ,
                "SPARK_HOME": str(spark_home()),
                "PYSPARK_PYTHON": sys.executable,
                "SPARK_LOCAL_IP": "127.0.0.1",
            },
            start_new_session=True,
        )
