"""A job's driver killed with SIGKILL in the middle of a batch, then restarted: every sink exact.

Live and enrich:
The kill lands after some sinks wrote and before Spark committed the batch's offsets: Redis
writes are paused (`CLIENT PAUSE ... WRITE`), so the emoji query commits PostgreSQL, then
blocks in its Redis sink; the test sees the PostgreSQL rows, kills the whole process group and
lets Redis go. The restarted job replays the batch: PostgreSQL skips it by its ledger, Redis and
Kafka get it, and nothing is counted twice. Lake: killed the moment its bronze table has its
first commit, before the batch's other sinks ran; its checks are the lake job's whole end-to-end
test (every record in bronze, good ones in silver, bad ones in quarantine and dead letters), so
that one run of jobs/lake.py serves both.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from pulse.events import SCHEMAS, source_domains
from pulse.events.schema import parse_timestamp
from pulse.stores import postgres_connect
from tests.exact import emoji_counts
from tests.jobs.conftest import databases, private_job_stack  # noqa: F401  (databases: a fixture)
from tests.jobs.records import is_valid, read_all, valid_events
from tests.jobstack import JobStack

pytestmark = [pytest.mark.spark, pytest.mark.broker]


def stored_windows(conf) -> dict:
    pg = postgres_connect(conf.postgres)
    with pg.cursor() as cur:
        cur.execute("SELECT match_id, emoji, window_start, count, units FROM emoji_windows")
        rows = {(m, e, w): (c, u) for m, e, w, c, u in cur.fetchall()}
    pg.close()
    return rows


def kill_between_sinks(
    job_stack: JobStack,
    job: str,
    store: redis.Redis,
    sql_written: Callable[[], object],
    redis_untouched: Callable[[], bool],
) -> None:
    """Start `job` through spark-submit with Redis writes paused, wait until its SQL sink wrote
    (`sql_written()` is truthy), check that Redis holds none of it, and SIGKILL the driver: the
    batch is half written and its offsets are not committed."""
    process = None
    store.execute_command("CLIENT", "PAUSE", "180000", "WRITE")
    try:
        process = job_stack.start(job)
        deadline = time.monotonic() + 150
        while not sql_written():
            assert process.poll() is None, f"the {job} job exited before its first batch"
            assert time.monotonic() < deadline, f"no SQL rows from the {job} job within 150 s"
            time.sleep(0.5)
        assert redis_untouched(), f"the {job} job wrote Redis while its writes were paused"
        job_stack.kill(process)
    finally:
        store.execute_command("CLIENT", "UNPAUSE")
        if process is not None and process.poll() is None:
            job_stack.kill(process)


@pytest.fixture
def job_stack(
    test_env: dict[str, str],
    tmp_path: Path,
    databases: None,  # noqa: F811
    spark: SparkSession,
) -> JobStack:
    """Fresh topics, checkpoints and lake. The driver to kill is a job started as a user starts
    it, through spark-submit (`start`); the restarted one (`run`) is a driver in the test
    session's SparkSession, another process all the same, with no JVM to start."""
    return private_job_stack(test_env, tmp_path, spark)


def test_a_killed_live_job_resumes_with_every_sink_exact(job_stack):
    conf = job_stack.conf
    pg = postgres_connect(conf.postgres)
    with pg, pg.cursor() as cur:
        cur.execute("TRUNCATE emoji_windows")
    pg.close()
    job_stack.simulate("emoji", rate=3000, seconds=2, seed=51)
    store = redis.Redis.from_url(conf.redis.url, decode_responses=True)
    kill_between_sinks(
        job_stack,
        "live",
        store,
        sql_written=lambda: stored_windows(conf),
        redis_untouched=lambda: (
            not any(store.exists(f"emoji:{m}") for m, _, _ in stored_windows(conf))
        ),
    )
    job_stack.simulate("emoji", rate=3000, seconds=2, seed=52)

    job_stack.run("live")

    counts = emoji_counts(conf)
    assert stored_windows(conf) == {
        k: (c, math.ceil(c / conf.emoji.ratio)) for k, c in counts.items()
    }
    for match in {m for m, _, _ in counts}:
        latest = max(w for m, _, w in counts if m == match)
        top = json.loads(store.hget(f"emoji:{match}", "top"))
        assert {t["emoji"]: t["count"] for t in top}.items() <= {
            e: c for (m, e, w), c in counts.items() if m == match and w == latest
        }.items()

    # Kafka is at least once: a replayed batch may repeat messages, always identical ones.
    copies: dict[tuple[int, int], set[str]] = defaultdict(set)
    final: dict[tuple, tuple[int, int]] = {}
    for record in read_all(conf, conf.topics.emoji_aggregated.name):
        message = json.loads(record.value)
        copies[(message["batch_id"], message["seq"])].add(record.value.decode())
        key = (message["match_id"], message["emoji"], parse_timestamp(message["window_start"]))
        if key not in final or message["batch_id"] >= final[key][0]:
            final[key] = (message["batch_id"], message["count"])
    assert all(len(versions) == 1 for versions in copies.values())
    assert {key: count for key, (_, count) in final.items()} == dict(counts)


def test_a_killed_enrich_job_resumes_with_every_sink_exact(job_stack):
    conf = job_stack.conf
    job_stack.simulate("media", rate=500, seconds=2, seed=53)
    media = {e["id"]: e for e in valid_events(conf, "media", SCHEMAS["media"])}
    store = redis.Redis.from_url(conf.redis.url, decode_responses=True)

    def stored() -> dict[str, str]:
        pg = postgres_connect(conf.postgres)
        with pg.cursor() as cur:
            cur.execute("SELECT id, type FROM events WHERE id = ANY(%s)", (list(media),))
            rows = dict(cur.fetchall())
        pg.close()
        return rows

    kill_between_sinks(
        job_stack,
        "enrich",
        store,
        sql_written=stored,
        redis_untouched=lambda: not any(store.exists(f"event:{i}") for i in media),
    )

    job_stack.run("enrich")

    assert stored() == {i: e["type"] for i, e in media.items()}
    assert all(store.hget(f"event:{i}", "type") == e["type"] for i, e in media.items())


def test_a_killed_lake_job_resumes_with_every_sink_exact(job_stack):
    conf = job_stack.conf
    for seed in (54, 55):
        job_stack.simulate("all", rate=300, seconds=2, seed=seed, bad_ratio=0.05)
        if seed == 54:
            # Killed the moment the bronze table has its first commit, as close as polling
            # gets to the batch's later sinks (silver, quarantine, dead letters: milliseconds
            # after bronze since the lake computes on its driver, so the kill may land after
            # some of them; the fault suite kills at random points). Either way the rerun must
            # leave every sink exact.
            first_commit = Path(conf.lake.path) / "bronze" / "_delta_log" / f"{0:020d}.json"
            job = job_stack.start("lake")
            deadline = time.monotonic() + 150
            while not first_commit.exists():
                assert job.poll() is None, "the lake job exited before its first batch"
                assert time.monotonic() < deadline, "no bronze commit within 150 s"
                time.sleep(0.002)
            job_stack.kill(job)
            silver = Path(conf.lake.path) / "silver"
            committed = sorted(p.parent.parent.name for p in silver.glob("*/_delta_log/*.json"))
            print(f"killed after bronze's first commit; silver tables committed: {committed}")

    job_stack.run("lake")

    # Every record in bronze once; each good one in its domain's silver table, each bad one in
    # quarantine and on the dead-letter topic with its reason and its original key.
    produced = {d: read_all(conf, getattr(conf.topics, d).name) for d in source_domains()}
    bad = {(r.topic, r.partition, r.offset): r.key for d, rs in produced.items() for r in rs
           if not is_valid(SCHEMAS[d], r)}  # fmt: skip
    assert {topic for topic, _, _ in bad} == {r.topic for rs in produced.values() for r in rs}, (
        "the simulator produced no bad records of some domain to follow"
    )
    bronze = DeltaTable(f"{conf.lake.path}/bronze").to_pyarrow_table().to_pylist()
    # The jobs' own progress reports on platform.monitoring land in bronze too: counted apart.
    sources = [b for b in bronze if b["topic"] != conf.topics.monitoring.name]
    assert sorted((b["topic"], b["partition"], b["offset"]) for b in sources) == sorted(
        (r.topic, r.partition, r.offset) for rs in produced.values() for r in rs
    )
    for domain, records in produced.items():
        schema = SCHEMAS[domain]
        silver = DeltaTable(f"{conf.lake.path}/silver/{domain}").to_pyarrow_table()
        assert sorted(silver.column(schema.id_field).to_pylist()) == sorted(
            json.loads(r.value)[schema.id_field]
            for r in records
            if (r.topic, r.partition, r.offset) not in bad
        ), domain
    quarantine = DeltaTable(f"{conf.lake.path}/quarantine").to_pyarrow_table().to_pylist()
    assert sorted((q["topic"], q["partition"], q["offset"]) for q in quarantine) == sorted(bad)
    assert all(q["reason"] for q in quarantine)
    letters = read_all(conf, conf.topics.deadletter.name)
    messages = [json.loads(letter.value) for letter in letters]
    # At least once (DESIGN.md): a replayed batch may repeat a dead letter, never drop one.
    assert {(m["topic"], m["partition"], m["offset"]) for m in messages} == set(bad)
    assert all(m["reason"] for m in messages)
    assert all(
        letter.key == bad[(m["topic"], m["partition"], m["offset"])]
        for letter, m in zip(letters, messages, strict=True)
    )


def test_a_killed_monitor_job_resumes_with_every_sink_exact(job_stack):
    conf = job_stack.conf
    topic = conf.topics.emoji.name
    job_stack.simulate("emoji", rate=3000, seconds=2, seed=56)

    def rolled_up() -> int:
        pg = postgres_connect(conf.postgres)
        with pg.cursor() as cur:
            cur.execute("SELECT sum(records) FROM monitoring_rollups WHERE topic = %s", (topic,))
            (total,) = cur.fetchone()
        pg.close()
        return int(total or 0)

    store = redis.Redis.from_url(conf.redis.url, decode_responses=True)
    kill_between_sinks(
        job_stack,
        "monitor",
        store,
        sql_written=rolled_up,
        redis_untouched=lambda: not store.exists(f"gauge:topic:{topic}"),
    )
    job_stack.simulate("emoji", rate=3000, seconds=1, seed=57)

    job_stack.run("monitor")

    assert rolled_up() == len(read_all(conf, topic))
    assert int(store.hget(f"gauge:topic:{topic}", "records")) > 0
