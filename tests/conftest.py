"""Session-wide fixtures: one Tansu broker, one SparkSession, one configuration pointing at them.

The broker is a real Tansu process on a free port, separate from any `pulse up` broker the
developer may be running; PostgreSQL, MariaDB and Redis are the machine's real services.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pulse.config import PROJECT_ROOT, PulseConfig, load_config
from pulse.local.broker import LocalBroker, free_port

# The stores that the dashboard's and the notebooks' tests read (they import from here).
pytest_plugins = ["tests.stacks"]

if TYPE_CHECKING:  # support imports this module (free_tcp_port): import it late
    from tests.services.support import StartApi


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_port()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch directory for the whole test session (state, checkpoints, lake)."""
    return tmp_path_factory.mktemp("pulse")


@pytest.fixture(scope="session")
def broker(workdir: Path) -> Iterator[LocalBroker]:
    """A Tansu broker for the whole session, stopped at the end."""
    local = LocalBroker(f"127.0.0.1:{free_tcp_port()}", workdir / "broker")
    local.start(timeout=20)
    yield local
    local.stop()


# The test stacks' admission secret: their registries sign with it, their nodes check it, and
# tests that play the registry sign their own tokens with it.
ADMISSION_SECRET = "admission-secret-of-the-test-stacks-0123456789"


@pytest.fixture(scope="session")
def test_env(broker: LocalBroker, workdir: Path) -> dict[str, str]:
    """`PULSE_*` overrides that point a configuration or a `pulse` subprocess at the test stack."""
    return {
        "PULSE_KAFKA__BOOTSTRAP": broker.bootstrap,
        "PULSE_LOCAL__STATE_DIR": str(workdir / "state"),
        "PULSE_STREAMING__CHECKPOINT_DIR": str(workdir / "checkpoints"),
        "PULSE_LAKE__PATH": str(workdir / "lake"),
        "PULSE_GATEWAY__ADMISSION_SECRET": ADMISSION_SECRET,
    }


@pytest.fixture(scope="session")
def conf(test_env: dict[str, str]) -> PulseConfig:
    """The project configuration, pointed at the session's broker and scratch paths."""
    return load_config(environ=test_env)


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test session (starting one costs about 5 s)."""
    from pulse.spark import session

    spark = session("pulse-tests", master="local[2]")
    yield spark
    spark.stop()


@pytest.fixture
def topic_name() -> str:
    """A topic name no other test uses."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a broker of the test's own)."""
    return free_tcp_port()


PulseRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_pulse(test_env: dict[str, str]) -> PulseRunner:
    """Run the real `pulse` command in a subprocess, pointed at the test stack.

    `run_pulse("status", env={...})` adds to the test environment; the result has the exit code
    and the captured stdout and stderr.
    """

    def run(
        *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pulse", *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, **test_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="module")
def start_api(
    test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartApi]:
    """Starts `pulse serve ingest` on fresh topics, with `ingest` settings given as keywords;
    every API it started is stopped when the module's tests are done."""
    from tests.services.support import api_starter

    with api_starter(test_env, tmp_path_factory) as start:
        yield start


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the `counts` tests counted (faults, bad input, fuzzing, the cluster), passed or
    failed: pytest shows a passing test's output nowhere else, and these figures are the point
    of them."""
    reports = [
        report
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if report.when == "call" and "counts" in report.keywords and report.capstdout
    ]
    if reports:
        terminalreporter.section("what the counting tests counted (expected vs found)")
    for report in reports:
        terminalreporter.write_line(f"{report.nodeid} ({report.outcome})", bold=True)
        terminalreporter.write(report.capstdout)
