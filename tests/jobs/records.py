"""What the tests know independently of the jobs: the records in Kafka and which are valid."""

from __future__ import annotations

import json
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from pulse.config import PulseConfig
from pulse.events import InvalidEvent, validate
from pulse.events.schema import EventSchema
from pulse.kafka.admin import end_offsets


@dataclass(frozen=True)
class Record:
    """One Kafka record as produced."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def read_all(conf: PulseConfig, topic: str) -> list[Record]:
    """Every record of `topic`, read with assign (no consumer group)."""
    ends = end_offsets(conf.kafka, [topic]).get(topic, {})
    consumer = Consumer(
        {
            "bootstrap.servers": conf.kafka.bootstrap,
            "group.id": "tests",
            "enable.auto.commit": False,
        }
    )
    records: list[Record] = []
    try:
        for partition, end in ends.items():
            if end == 0:
                continue
            consumer.assign([TopicPartition(topic, partition, 0)])
            got = 0
            while got < end:
                for message in consumer.consume(min(10_000, end - got), 10):
                    assert message.error() is None, message.error()
                    records.append(
                        Record(topic, partition, message.offset(), message.key(), message.value())
                    )
                    got += 1
    finally:
        consumer.close()
    return records


def is_valid(schema: EventSchema, value: bytes | None) -> bool:
    """The producers' verdict on a record value (strict UTF-8, JSON, schema)."""
    if value is None:
        return False
    try:
        validate(schema, json.loads(value.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, InvalidEvent):
        return False
    return True


def valid_events(conf: PulseConfig, domain: str, schema: EventSchema) -> list[dict]:
    """The valid events of a domain's topic, decoded."""
    topic = getattr(conf.topics, domain).name
    return [
        json.loads(record.value)
        for record in read_all(conf, topic)
        if record.value is not None and is_valid(schema, record.value)
    ]
