"""Helpers of the service tests: polling with a deadline, and reading a topic back.

Reading goes through one consumer with assign (no group: joins are slow on Tansu) that waits
for a condition, then reads on to the topic's true end, so that a repeat written along with the
awaited records is seen too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from pulse.config import PulseConfig
from pulse.kafka.admin import end_offsets

Events = list[dict[str, Any]]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds, failing the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def read_until(
    conf: PulseConfig,
    topic: str,
    done: Callable[[Events], bool] = lambda _events: True,
    timeout: float = 15,
) -> Events:
    """Every record of `topic` once `done(records so far)` holds, as JSON with `_key`,
    `_partition` and `_offset` added; fails the test after `timeout` seconds."""
    consumer = Consumer(
        {**conf.kafka.client_params(), "group.id": "pulse-tests", "enable.auto.commit": False}
    )
    deadline = time.monotonic() + timeout
    events: Events = []

    def poll() -> None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s reading {topic}")
        for message in consumer.consume(10_000, 0.1):
            assert message.error() is None, message.error()
            events.append(
                {
                    **json.loads(message.value()),
                    "_key": message.key(),
                    "_partition": message.partition(),
                    "_offset": message.offset(),
                }
            )

    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        while not done(events):
            poll()
        total = sum(end_offsets(conf.kafka, [topic]).get(topic, {}).values())
        while len(events) < total:
            poll()
    finally:
        consumer.close()
    return events
