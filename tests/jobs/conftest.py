"""Running the real jobs against the test stack, in the test session's SparkSession
(`pulse.testing`), or through `./spark-submit.sh` where a test kills the driver.

Each test gets its own topics, checkpoints and lake (fresh names under the session broker), so
jobs never see each other's data; the database tables are shared and cleaned per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pulse.config import PulseConfig, load_config
from pulse.kafka.admin import ensure_topics
from pulse.local.migrate import create_mysql_database, migrate_mysql, migrate_postgres
from pulse.stores import mysql_connect, postgres_connect
from tests.jobstack import JobStack


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
def job_stack(
    test_env: dict[str, str], tmp_path: Path, databases: None, spark: SparkSession
) -> Iterator[JobStack]:
    """Fresh topics (created), checkpoints and lake for one test's jobs, run in the test
    session's SparkSession (`pulse.testing`)."""
    yield private_job_stack(test_env, tmp_path, spark)


def private_job_stack(
    test_env: dict[str, str], tmp_path: Path, spark: SparkSession | None
) -> JobStack:
    """Fresh topics, checkpoints and lake for one test's jobs, run in `spark`, or through
    `./spark-submit.sh` if it is None."""
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
    return JobStack(env, conf, logs, spark)
