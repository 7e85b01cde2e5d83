"""jobs/monitor.py end to end: topic rollups and arrivals, the jobs' batch reports and acks by
event id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import redis

from pulse.events.schema import format_timestamp
from pulse.kafka.producer import EventProducer
from pulse.stores import postgres_connect
from tests.jobs.records import read_all

pytestmark = [pytest.mark.spark, pytest.mark.broker]


def test_monitor_job_rolls_up_topics_batches_and_acks(job_stack):
    conf = job_stack.conf
    job_stack.simulate("emoji", rate=500, seconds=2, seed=41)
    event_id = f"er-{uuid.uuid4().hex[:8]}"
    producer = EventProducer(conf.kafka)
    for kind, component in (("producer_ack", "ingest"), ("processing_ack", "live")):
        producer.send_event(
            conf.topics.monitoring.name,
            component,
            {
                "id": f"{kind}-{event_id}",
                "ts": format_timestamp(datetime.now(UTC)),
                "component": component,
                "kind": kind,
                "topic": conf.topics.emoji.name,
                "event_id": event_id,
                "latency_ms": 4.0,
            },
        )
    producer.flush()
    job_stack.run("lake")  # its progress reports land on platform.monitoring

    job_stack.run("monitor")

    emoji = read_all(conf, conf.topics.emoji.name)
    pg = postgres_connect(conf.postgres)
    with pg.cursor() as cur:
        cur.execute(
            "SELECT sum(records), sum(bytes), max(latency_max_ms) FROM monitoring_rollups"
            " WHERE topic = %s",
            (conf.topics.emoji.name,),
        )
        records, size, latency = cur.fetchone()
        cur.execute(
            "SELECT sum(records) FROM topic_arrivals WHERE topic = %s", (conf.topics.emoji.name,)
        )
        [arrived] = cur.fetchone()
        cur.execute(
            "SELECT count(*), min(duration_ms), sum(rows) FROM query_batches"
            " WHERE query = 'lake' AND reported_at > now() - interval '10 minutes'",
        )
        lake_batches, shortest, lake_rows = cur.fetchone()
        cur.execute("SELECT kind, component FROM event_acks WHERE event_id = %s", (event_id,))
        acks = set(cur.fetchall())
    pg.close()

    assert records == len(emoji)
    assert arrived == len(emoji)  # each record counted once, in the window it arrived in
    assert size == sum(len(r.key or b"") + len(r.value or b"") for r in emoji)
    assert latency > 0
    assert lake_batches >= 1 and shortest > 0 and lake_rows >= len(emoji)
    assert acks == {("producer_ack", "ingest"), ("processing_ack", "live")}
    gauges = redis.Redis.from_url(conf.redis.url, decode_responses=True)
    assert int(gauges.hget(f"gauge:topic:{conf.topics.emoji.name}", "records")) > 0
    assert gauges.hget("gauge:query:lake", "batch_id") is not None
