"""A Spark standalone cluster on loopback, from the installed pyspark: one master, two workers,
each worker with one core and a work directory of its own, stopped at the end of the module."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pulse.config import PROJECT_ROOT
from tests.conftest import free_tcp_port
from tests.polling import wait_for

SPARK_CLASS = PROJECT_ROOT / ".venv" / "bin" / "spark-class"


@dataclass(frozen=True)
class Standalone:
    """A running standalone cluster: its master URL and each worker's work directory."""

    master: str
    workers: tuple[Path, ...]


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(SPARK_CLASS), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
            start_new_session=True,
        )


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as answer:
            state = json.load(answer)
    except OSError:
        return 0
    return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    root = tmp_path_factory.mktemp("standalone")
    port, ui_port = free_tcp_port(), free_tcp_port()
    master = f"spark://127.0.0.1:{port}"
    processes = [
        _start(
            ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(ui_port)],
            root / "master.log",
        )
    ]  # fmt: skip
    workers = []
    for number in (1, 2):
        work = root / f"worker-{number}"
        work.mkdir()
        workers.append(work)
        processes.append(
            _start(
                ["org.apache.spark.deploy.worker.Worker", master, "--host", "127.0.0.1",
                 "--cores", "1", "--memory", "1g", "--work-dir", str(work),
                 "--webui-port", str(free_tcp_port())],
                root / f"worker-{number}.log",
            )
        )  # fmt: skip
    try:
        wait_for(lambda: _alive_workers(ui_port) == 2, 90, "two workers alive at the master")
        yield Standalone(master, tuple(workers))
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(30)
