"""Running the real jobs through `./spark-submit.sh` against the test stack.

Each test gets its own topics, checkpoints and lake (fresh names under the session broker), so
jobs never see each other's data; the database tables are shared and cleaned per test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pulse.config import PROJECT_ROOT, PulseConfig, load_config
from pulse.kafka.admin import ensure_topics
from pulse.local.migrate import create_mysql_database, migrate_mysql, migrate_postgres
from pulse.stores import mysql_connect, postgres_connect


def failure_summary(output: str, tail: int = 3000) -> str:
    """What a failed job said that matters: its error lines and causes, then the end of its log.

    A Spark stack trace runs to hundreds of lines; the tail alone shows only the middle of it,
    never the first exception or its root cause.
    """
    wanted = ("ERROR", "Exception:", "Error:", "Caused by", "Traceback")
    errors = [line for line in output.splitlines() if any(word in line for word in wanted)]
    return "\n".join(["error lines:", *errors[:60], "", "log ends:", output[-tail:]])


@dataclass
class JobStack:
    """A private set of topics and paths for one test, and how to run jobs against it."""

    env: dict[str, str]
    conf: PulseConfig
    logs: Path

    def simulate(
        self, domain: str, *, rate: int, seconds: int, seed: int, bad_ratio: float = 0.0
    ) -> None:
        """`pulse simulate` into this stack's topics (a real subprocess, like a user's)."""
        subprocess.run(
            [sys.executable, "-m", "pulse", "simulate", domain, "--rate", str(rate),
             "--duration", str(seconds), "--seed", str(seed), "--bad-ratio", str(bad_ratio),
             "--quiet"],
            cwd=PROJECT_ROOT, env=self.env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def run(self, job: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `jobs/<job>.py --available-now` to completion."""
        done = subprocess.run(
            [str(PROJECT_ROOT / "spark-submit.sh"), f"jobs/{job}.py", "--available-now"],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        (self.logs / f"{job}.log").write_text(done.stdout + done.stderr)  # kept as an artifact
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{job} failed:\n{failure_summary(output)}"
        return done

    def start(self, job: str) -> subprocess.Popen[bytes]:
        """Start `jobs/<job>.py` with its processing-time trigger, in its own process group."""
        log = open(self.logs / f"{job}-{uuid.uuid4().hex[:6]}.log", "wb")  # noqa: SIM115
        return subprocess.Popen(
            [str(PROJECT_ROOT / "spark-submit.sh"), f"jobs/{job}.py"],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the job's whole process group: driver JVM, Python workers, everything."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


@pytest.fixture(scope="session")
def databases(conf: PulseConfig) -> None:
    """The PostgreSQL and MySQL schemas, migrated once per session."""
    conn = postgres_connect(conf.postgres)
    migrate_postgres(conn)
    conn.close()
    mysql = mysql_connect(conf.mysql, use_database=False)
    create_mysql_database(mysql, conf.mysql.database)
    mysql.close()
    mysql = mysql_connect(conf.mysql)
    migrate_mysql(mysql)
    mysql.close()


@pytest.fixture
def job_stack(test_env: dict[str, str], tmp_path: Path, databases: None) -> Iterator[JobStack]:
    """Fresh topics (created), checkpoints and lake for one test's jobs."""
    prefix = f"j{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        **test_env,
        "PULSE_STREAMING__CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "PULSE_LAKE__PATH": str(tmp_path / "lake"),
    }
    base = load_config(environ=test_env)
    for domain, topic in base.topics.all().items():
        env[f"PULSE_TOPICS__{domain.upper()}__NAME"] = f"{prefix}.{topic.name}"
    conf = load_config(environ=env)
    ensure_topics(conf.kafka, {t.name: t.partitions for t in conf.topics.all().values()})
    logs = tmp_path / "logs"
    logs.mkdir()
    yield JobStack(env, conf, logs)
