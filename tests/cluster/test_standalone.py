"""The live job submitted to a Spark standalone cluster (a master and two workers) writes
exactly what the same job writes on `local[*]` from the same events, with the package and the
Python environment shipped to the executors as a real cluster gets them."""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pulse.config import PulseConfig, load_config
from pulse.kafka.admin import ensure_topics
from pulse.local.standalone import Standalone
from pulse.reads.sources import open_postgres
from pulse.stores import redis_client
from tests.jobstack import JobStack
from tests.stacks import scratch_stores

pytestmark = pytest.mark.cluster

TABLES = {
    "emoji_windows": "SELECT match_id, emoji, window_start, count, units FROM emoji_windows",
    "match_scores": "SELECT match_id, home_score, away_score, period, status, sequence"
    " FROM match_scores",
    "player_stats": "SELECT match_id, player_id, stat, total FROM player_stats",
}


def stack_of(settings: dict[str, str], root: Path, extra: dict[str, str]) -> JobStack:
    """Topics of its own for one run, on the given stores."""
    prefix = f"c{uuid.uuid4().hex[:8]}"
    base = load_config(environ={**os.environ, **settings})
    for domain, topic in base.topics.all().items():
        settings[f"PULSE_TOPICS__{domain.upper()}__NAME"] = f"{prefix}.{topic.name}"
    env = {**os.environ, **settings, **extra}
    conf = load_config(environ=env)
    ensure_topics(conf.kafka, {t.name: t.partitions for t in conf.topics.all().values()})
    logs = root / "logs"
    logs.mkdir(parents=True)
    return JobStack(env, conf, logs)


def results(conf: PulseConfig) -> dict[str, pd.DataFrame]:
    """The live job's PostgreSQL tables and Redis scoreboards, sorted for comparison."""
    pg = open_postgres(conf.postgres)
    try:
        tables = {name: pg.frame(sql) for name, sql in TABLES.items()}
    finally:
        pg.close()
    redis = redis_client(conf.redis)
    try:
        boards = {key.decode(): redis.hgetall(key) for key in redis.scan_iter(match="match:*")}
    finally:
        redis.close()
    tables = {
        name: table.sort_values(list(table.columns), ignore_index=True)
        for name, table in tables.items()
    }
    tables["redis_scoreboards"] = pd.DataFrame(
        sorted((key, field.decode(), value.decode()) for key, hash_ in boards.items()
               for field, value in hash_.items()),
        columns=["key", "field", "value"],
    )  # fmt: skip
    return tables


def test_the_live_job_on_a_standalone_cluster_writes_what_a_local_run_writes(
    standalone: Standalone, conf: PulseConfig, test_env: dict[str, str], tmp_path: Path
):
    start = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="seconds")
    cluster_args = {
        "SPARK_MASTER": standalone.master,
        "SPARK_SUBMIT_ARGS": "--conf spark.executor.memory=768m --conf spark.cores.max=2",
    }
    with contextlib.ExitStack() as stores:
        local_settings = stores.enter_context(
            scratch_stores(conf, test_env, tmp_path / "local", redis_db=12)
        )
        cluster_settings = stores.enter_context(
            scratch_stores(conf, test_env, tmp_path / "cluster", redis_db=13)
        )
        local = stack_of(local_settings, tmp_path / "local", {})
        cluster = stack_of(cluster_settings, tmp_path / "cluster", cluster_args)
        for stack in (local, cluster):
            stack.simulate("sports", rate=200, seconds=3, seed=21, start=start)
            stack.simulate("emoji", rate=1000, seconds=3, seed=21, start=start)

        local.run("live")
        cluster.run("live")

        expected, found = results(local.conf), results(cluster.conf)
        for name, table in expected.items():
            assert len(table) > 0, f"the local run wrote no {name}"
            pd.testing.assert_frame_equal(found[name], table, check_dtype=False, obj=name)

    # Each worker ran an executor, and each executor got the package the way a cluster gives
    # it: the zip of --py-files fetched into the executor's work directory.
    for work in standalone.workers:
        shipped = list(work.glob("app-*/*/pulse-*.zip"))
        assert shipped, f"no executor of {work.name} received the package"
