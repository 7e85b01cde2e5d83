"""Stores of their own for the tests of what reads the jobs' results (dashboard, notebooks).

- `produced`: a PostgreSQL database, a MySQL database, a Redis database and a lake that the real
  jobs filled from simulated traffic (every domain, some bad records, product changes through
  the ingest API so that they carry producer acks) and from the hostile set of `tests.hostile`
  (10,000 malformed records, SQL injection strings, duplicates), once per test session: the
  readers must cope with whatever the jobs let through, and one run of the jobs is what the
  test budget affords.
- `empty_stores`: the same kinds of stores, migrated and empty.
- `unreachable_stores`: settings that point every store at a port where nothing listens.

Scratch databases rather than the shared `test` ones: the job tests empty those between tests,
and a reader's test must see exactly what its jobs wrote.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pulse.config import PulseConfig, load_config
from pulse.kafka.admin import ensure_topics
from pulse.local.migrate import create_mysql_database, migrate_mysql, migrate_postgres
from pulse.simulate.segments import seed_segments
from pulse.stores import mysql_connect, postgres_connect, redis_client
from tests.conftest import free_tcp_port
from tests.hostile import Hostile, publish_hostile
from tests.jobstack import JobStack
from tests.services.support import KEYS, Api, launch

# Redis databases of these fixtures; every other test uses database 0.
PRODUCED_REDIS_DB = 9
EMPTY_REDIS_DB = 10
SCRATCH_REDIS_DB = 11  # for a module's own scratch stores (`scratch_stores` empties it)


@dataclass(frozen=True)
class Stores:
    """`PULSE_*` settings that point a reader at one set of stores, and that configuration."""

    env: dict[str, str]
    conf: PulseConfig
    hostile: Hostile | None = None  # what `produced` sent besides the simulators

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Put the settings into this process's environment (AppTest, notebook kernels)."""
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)


@contextlib.contextmanager
def scratch_stores(
    conf: PulseConfig, test_env: dict[str, str], root: Path, redis_db: int
) -> Iterator[dict[str, str]]:
    """Migrated scratch databases, an emptied Redis database and a lake path; the settings
    that point at them. Dropped and emptied at the end."""
    # Database 0 is the one the machine's platform and every other test use: never emptied.
    assert redis_db != 0, "scratch stores empty their Redis database: not database 0"
    name = f"pulse_reads_{uuid.uuid4().hex[:10]}"
    admin = postgres_connect(conf.postgres)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    mysql = mysql_connect(conf.mysql, use_database=False)
    redis_url = conf.redis.url.rsplit("/", 1)[0] + f"/{redis_db}"
    redis = redis_client(conf.redis.model_copy(update={"url": redis_url}))
    try:
        pg = postgres_connect(conf.postgres.model_copy(update={"database": name}))
        migrate_postgres(pg)
        pg.close()
        create_mysql_database(mysql, name)
        migrate_mysql(mysql)
        redis.flushdb()
        yield {
            **test_env,
            "PULSE_POSTGRES__DATABASE": name,
            "PULSE_MYSQL__DATABASE": name,
            "PULSE_REDIS__URL": redis_url,
            "PULSE_LAKE__PATH": str(root / "lake"),
            "PULSE_STREAMING__CHECKPOINT_DIR": str(root / "checkpoints"),
        }
    finally:
        redis.flushdb()
        redis.close()
        mysql.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        mysql.close()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(scope="session")
def produced(
    conf: PulseConfig,
    test_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    spark: SparkSession,
) -> Iterator[Stores]:
    """Stores that the four jobs filled from a few seconds of simulated traffic (run in the
    test session's SparkSession)."""
    root = tmp_path_factory.mktemp("produced")
    with scratch_stores(conf, test_env, root, PRODUCED_REDIS_DB) as settings:
        prefix = f"r{uuid.uuid4().hex[:8]}"
        for domain, topic in conf.topics.all().items():
            settings[f"PULSE_TOPICS__{domain.upper()}__NAME"] = f"{prefix}.{topic.name}"
        settings["PULSE_INGEST__API_KEYS"] = KEYS[0]
        settings["PULSE_INGEST__FLUSH_INTERVAL_MS"] = "100"
        env = {**os.environ, **settings}
        produced_conf = load_config(environ=env)
        ensure_topics(
            produced_conf.kafka, {t.name: t.partitions for t in produced_conf.topics.all().values()}
        )
        seed_segments(produced_conf.postgres)
        logs = root / "logs"
        logs.mkdir()
        jobs = JobStack(env, produced_conf, logs, spark)
        api = launch("ingest", settings, root, partial(Api, conf=produced_conf))
        try:
            jobs.simulate("product", rate=40, seconds=3, seed=5, via_api=api.url)
        finally:
            assert api.stop() == 0, api.log.read_text()
        jobs.simulate("all", rate=300, seconds=4, seed=11, bad_ratio=0.03)
        hostile = publish_hostile(produced_conf, seed=13)
        jobs.run_together("lake", "live", "enrich")
        jobs.run("monitor")  # last: it reads the other jobs' batch reports too
        settings.pop("PULSE_INGEST__API_KEYS")
        yield Stores(settings, produced_conf, hostile)


@pytest.fixture(scope="session")
def empty_stores(
    conf: PulseConfig, test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stores]:
    """Migrated stores in which no job has written anything."""
    root = tmp_path_factory.mktemp("empty")
    with scratch_stores(conf, test_env, root, EMPTY_REDIS_DB) as settings:
        yield Stores(settings, load_config(environ={**os.environ, **settings}))


@pytest.fixture
def unreachable_stores(test_env: dict[str, str], tmp_path: Path) -> Stores:
    """Every store at a port where nothing listens (the lake at a path that does not exist)."""
    settings = {
        **test_env,
        "PULSE_POSTGRES__PORT": str(free_tcp_port()),
        "PULSE_MYSQL__PORT": str(free_tcp_port()),
        "PULSE_REDIS__URL": f"redis://127.0.0.1:{free_tcp_port()}/0",
        "PULSE_LAKE__PATH": str(tmp_path / "no-lake"),
    }
    return Stores(settings, load_config(environ={**os.environ, **settings}))
