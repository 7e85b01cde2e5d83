"""What the tests know independently of the jobs: the records in Kafka and which are valid."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

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
    timestamp_ms: int  # the record's Kafka timestamp: when it was produced


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
                        Record(
                            topic,
                            partition,
                            message.offset(),
                            message.key(),
                            message.value(),
                            message.timestamp()[1],
                        )
                    )
                    got += 1
    finally:
        consumer.close()
    return records


def is_valid(schema: EventSchema, record: Record) -> bool:
    """The producers' verdict on a record (strict UTF-8, JSON, schema, its event time against
    its Kafka timestamp)."""
    if record.value is None:
        return False
    received = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
    try:
        validate(schema, json.loads(record.value.decode("utf-8")), received_at=received)
    except (UnicodeDecodeError, ValueError, InvalidEvent):
        return False
    return True


def valid_events(conf: PulseConfig, domain: str, schema: EventSchema) -> list[dict]:
    """The valid events of a domain's topic, decoded."""
    topic = getattr(conf.topics, domain).name
    return [
        json.loads(record.value) for record in read_all(conf, topic) if is_valid(schema, record)
    ]
