"""The ingest producer against the session's broker: when it sends, when it refuses, its acks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import pytest

from pulse.config import PulseConfig
from pulse.events import validate
from pulse.events.domains import MONITORING
from pulse.kafka.admin import ensure_topics
from pulse.services.ingest.metrics import IngestMetrics
from pulse.services.ingest.producer import (
    IngestProducer,
    ProducerClosed,
    ProducerSettings,
    QueueFull,
)
from pulse.services.ingest.records import Outgoing
from tests.jobs.records import read_all

pytestmark = pytest.mark.broker

Make = Callable[..., tuple[IngestProducer, IngestMetrics, ProducerSettings]]


@pytest.fixture
def make_producer(conf: PulseConfig, topic_name: str) -> Make:
    """Producers with the given settings (started by the test, on its event loop)."""

    def make(
        flush_interval: float = 60.0, flush_messages: int = 1000, max_queue: int = 1000
    ) -> tuple[IngestProducer, IngestMetrics, ProducerSettings]:
        ensure_topics(conf.kafka, {topic_name: 2, f"{topic_name}.acks": 1})
        settings = ProducerSettings(
            flush_interval=flush_interval,
            flush_messages=flush_messages,
            max_queue=max_queue,
            drain_timeout=20.0,
            monitoring_topic=f"{topic_name}.acks",
        )
        metrics = IngestMetrics(max_queue=max_queue)
        return IngestProducer(conf.kafka, settings, metrics), metrics, settings

    return make


def running(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run `scenario` on a fresh event loop, as the API's producer runs on uvicorn's."""
    asyncio.run(asyncio.wait_for(scenario(), 30))


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Yield to the loop until `condition` holds; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        await asyncio.sleep(0.01)


def records(topic: str, count: int, prefix: str = "e") -> list[Outgoing]:
    return [
        Outgoing(topic, b"k", json.dumps({"n": n}).encode(), f"{prefix}-{n}") for n in range(count)
    ]


def delivered(metrics: IngestMetrics) -> int:
    return metrics.snapshot(0).delivered


def test_a_full_count_is_sent_without_waiting_for_the_interval(make_producer, topic_name) -> None:
    producer, metrics, _ = make_producer(flush_interval=600.0, flush_messages=10)

    async def scenario() -> None:
        producer.start()
        producer.submit(records(topic_name, 10))
        await until(lambda: delivered(metrics) == 10, "10 deliveries")
        assert producer.depth == 0
        assert await producer.close() == 0

    running(scenario)


def test_what_the_interval_holds_is_sent_when_it_expires(make_producer, topic_name) -> None:
    producer, metrics, _ = make_producer(flush_interval=0.2, flush_messages=1000)

    async def scenario() -> None:
        producer.start()
        producer.submit(records(topic_name, 3))
        await until(lambda: delivered(metrics) == 3, "3 deliveries")
        await producer.close()

    running(scenario)


def test_deliveries_keep_up_while_the_loop_is_busy_accepting(make_producer, topic_name) -> None:
    # The reason the producer runs on the loop: with its own threads, a loop busy with requests
    # starved the delivery callbacks and the queue filled.
    producer, metrics, _ = make_producer(flush_interval=0.05, max_queue=50_000)

    async def scenario() -> None:
        producer.start()
        for round_ in range(20):
            producer.submit(records(topic_name, 1000, f"r{round_}"))
            busy_until = time.monotonic() + 0.05
            while time.monotonic() < busy_until:  # a loop with no idle time between requests
                await asyncio.sleep(0)
        await until(lambda: delivered(metrics) == 20_000, "20,000 deliveries")
        await producer.close()

    running(scenario)


def test_a_full_queue_refuses_a_whole_batch_and_close_sends_what_it_holds(
    conf, make_producer, topic_name
) -> None:
    producer, metrics, _ = make_producer(flush_interval=600.0, max_queue=5)

    async def scenario() -> None:
        producer.start()
        producer.submit(records(topic_name, 3, "a"))
        with pytest.raises(QueueFull) as refused:
            producer.submit(records(topic_name, 3, "b"))
        assert refused.value.retry_after == 600
        assert producer.depth == 3
        assert await producer.close() == 0
        with pytest.raises(ProducerClosed):
            producer.submit(records(topic_name, 1, "c"))

    running(scenario)
    assert delivered(metrics) == 3
    values = sorted(json.loads(r.value)["n"] for r in read_all(conf, topic_name))
    assert values == [0, 1, 2]


def test_each_delivery_is_acknowledged_on_monitoring_with_its_offset(
    conf, make_producer, topic_name
) -> None:
    producer, _, settings = make_producer(flush_interval=0.05)

    async def scenario() -> None:
        producer.start()
        producer.submit(records(topic_name, 4))
        producer.submit([Outgoing(topic_name, b"k", b"{}", "silent", ack=False)])
        await producer.close()

    running(scenario)

    written = {
        json.loads(r.value).get("n"): (r.partition, r.offset) for r in read_all(conf, topic_name)
    }
    acks = [json.loads(r.value) for r in read_all(conf, settings.monitoring_topic)]
    assert sorted(ack["event_id"] for ack in acks) == ["e-0", "e-1", "e-2", "e-3"]
    for ack in acks:
        assert validate(MONITORING, ack) == ack
        assert (ack["kind"], ack["component"], ack["topic"]) == (
            "producer_ack",
            "ingest",
            topic_name,
        )
        n = int(ack["event_id"].split("-")[1])
        assert (ack["partition"], ack["offset"]) == written[n]
        assert ack["latency_ms"] >= 0
