"""`KafkaOutput` against the session's Tansu broker, read back with assign (no group join)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from pulse.config import PulseConfig
from pulse.kafka.admin import ensure_topics
from pulse.sinks.errors import SinkDefinitionError
from pulse.sinks.kafka import KafkaOutput
from tests.polling import wait_for

pytestmark = [pytest.mark.spark, pytest.mark.broker]

WINDOWS = "match_id string, emoji string, window_start timestamp, count long, ratio decimal(6,3)"
T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)


def read_all(conf: PulseConfig, topic: str, partitions: int, count: int) -> list[Message]:
    """The first `count` messages of every partition of `topic`, in partition order."""
    consumer = Consumer(
        {**conf.kafka.client_params(), "group.id": "unused", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    messages: list[Message] = []

    def enough() -> bool:
        for message in consumer.consume(100, timeout=0.2):
            assert message.error() is None, message.error()
            messages.append(message)
        return len(messages) >= count

    try:
        wait_for(enough, 20, f"{count} messages on {topic}")
    finally:
        consumer.close()
    return messages


def test_messages_carry_batch_id_and_seq(spark, conf, ctx, topic_name) -> None:
    ensure_topics(conf.kafka, {topic_name: 2})
    sink = KafkaOutput("aggregated", conf.kafka, topic_name, key_column="match_id")
    batch = spark.createDataFrame(
        [("m2", "🔥", T0, 1500, Decimal("1.5")), ("m1", "👍", T0, 3, Decimal("0.003"))], WINDOWS
    )

    sink.write(batch, replace(ctx, batch_id=6))

    messages = read_all(conf, topic_name, 2, 2)
    decoded = sorted(
        ((m.key().decode(), json.loads(m.value())) for m in messages), key=lambda kv: kv[0]
    )
    assert decoded == [
        (
            "m1",
            {
                "match_id": "m1",
                "emoji": "👍",
                "window_start": "2026-11-22T20:15:00.000000Z",
                "count": 3,
                "ratio": "0.003",
                "batch_id": 6,
                "seq": 0,
            },
        ),
        (
            "m2",
            {
                "match_id": "m2",
                "emoji": "🔥",
                "window_start": "2026-11-22T20:15:00.000000Z",
                "count": 1500,
                "ratio": "1.500",
                "batch_id": 6,
                "seq": 1,
            },
        ),
    ]


def test_a_replayed_batch_repeats_each_row_with_the_same_seq(spark, conf, ctx, topic_name) -> None:
    """At least once: a replay produces again, and readers drop what they saw by (batch, seq)."""
    ensure_topics(conf.kafka, {topic_name: 1})
    sink = KafkaOutput("aggregated", conf.kafka, topic_name, key_column="match_id")
    rows = [(f"m{i}", "🔥", T0, i, Decimal("1")) for i in range(20)]

    sink.write(spark.createDataFrame(rows, WINDOWS), ctx)
    sink.write(spark.createDataFrame(list(reversed(rows)), WINDOWS).repartition(3), ctx)

    messages = [json.loads(m.value()) for m in read_all(conf, topic_name, 1, 40)]
    first, replay = messages[:20], messages[20:]
    assert sorted(first, key=lambda m: m["seq"]) == sorted(replay, key=lambda m: m["seq"])
    assert len({(m["batch_id"], m["seq"]) for m in messages}) == 20


def test_a_column_named_like_the_message_extras_is_refused(spark, conf, ctx, topic_name) -> None:
    sink = KafkaOutput("aggregated", conf.kafka, topic_name, key_column="id")

    with pytest.raises(SinkDefinitionError, match="seq"):
        sink.write(spark.createDataFrame([("a", 1)], "id string, seq long"), ctx)
