"""The live job submitted to a Spark standalone cluster (a master and two workers) writes
exactly what the events say, by the measure the local job test and the fault suite use
(`tests.exact`), with the package and the Python environment shipped to the executors as a real
cluster gets them."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pulse.config import PulseConfig, load_config
from pulse.kafka.admin import ensure_topics
from pulse.local.standalone import Standalone
from tests.exact import live_sinks, report
from tests.jobstack import JobStack
from tests.stacks import scratch_stores

pytestmark = [pytest.mark.cluster, pytest.mark.counts]


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


def test_the_live_job_on_a_standalone_cluster_writes_exactly_what_the_events_say(
    standalone: Standalone, conf: PulseConfig, test_env: dict[str, str], tmp_path: Path
):
    start = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="seconds")
    cluster_args = {
        "SPARK_MASTER": standalone.master,
        "SPARK_SUBMIT_ARGS": "--conf spark.executor.memory=768m --conf spark.cores.max=2",
    }
    with scratch_stores(conf, test_env, tmp_path, redis_db=13) as settings:
        cluster = stack_of(settings, tmp_path, cluster_args)
        cluster.simulate("sports", rate=200, seconds=3, seed=21, start=start)
        cluster.simulate("emoji", rate=1000, seconds=3, seed=21, start=start)
        cluster.run("live")
        # The measure of the local job test and the fault suite, computed from the topics; no
        # game update is sent (HRW routing is the local job test's), so its sink is left out.
        sinks = [c for c in live_sinks(cluster.conf, {}) if c.sink != "mysql game_deliveries"]
        report("the live job on a standalone cluster: expected vs found", sinks)
    # Each worker ran an executor, and each executor got the package the way a cluster gives
    # it: the zip of --py-files fetched into the executor's work directory.
    for work in standalone.workers:
        shipped = list(work.glob("app-*/*/pulse-*.zip"))
        assert shipped, f"no executor of {work.name} received the package"
