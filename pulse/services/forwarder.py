"""`pulse serve forwarder`: copy chosen domains' events (`forward.domains`) to another Pulse
instance's Kafka, under the same topic names, without loops and losing nothing across a
restart (see "Several instances" in docs/DEPLOY.md and "The forwarder" in
docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from pulse.config import KafkaConfig, PulseConfig
from pulse.interrupts import stop_signals_as_interrupt
from pulse.kafka.admin import KafkaUnavailable, end_offsets, require_topics
from pulse.kafka.messages import consumed_headers, position

log = logging.getLogger("pulse.services.forwarder")

ORIGIN_HEADER = "pulse-origin"
POLL_MESSAGES = 5000
POLL_SECONDS = 0.2
FLUSH_SECONDS = 30.0

Headers = list[tuple[str, bytes]]
Delivered = Callable[[KafkaError | None, Message], None]


class ForwardError(RuntimeError):
    """The target did not acknowledge every record of a poll: nothing of it is committed."""


def forwarded_headers(
    headers: Sequence[tuple[str, bytes | None]] | None, origin: str
) -> Headers | None:
    """The headers a record gets at the target, or None when it must not be forwarded (it
    came from another instance: it carries an origin already)."""
    kept = [(name, value or b"") for name, value in headers or ()]
    if any(name == ORIGIN_HEADER for name, _ in kept):
        return None
    return [*kept, (ORIGIN_HEADER, origin.encode())]


def target_kafka(conf: PulseConfig) -> KafkaConfig:
    """The target instance's Kafka: this one's settings (security included) at its address."""
    return conf.kafka.model_copy(update={"bootstrap": conf.forward.target_bootstrap})


def serve(conf: PulseConfig) -> int:
    """Forward until SIGTERM or Ctrl-C; 0 then, 1 when Kafka fails, 2 when not configured."""
    forward = conf.forward
    if not forward.target_bootstrap or not forward.domains:
        print(
            "pulse serve forwarder: set forward.target_bootstrap (PULSE_FORWARD__TARGET_BOOTSTRAP)"
            " and forward.domains (PULSE_FORWARD__DOMAINS=emoji,product)",
            file=sys.stderr,
        )
        return 2
    topics = [getattr(conf.topics, domain).name for domain in forward.domains]
    target = target_kafka(conf)
    try:
        require_topics(conf.kafka, topics)
        require_topics(target, topics)
    except KafkaUnavailable as exc:
        print(f"pulse serve forwarder: {exc}", file=sys.stderr)
        return 1
    consumer = Consumer(
        {
            **conf.kafka.client_params(),
            "group.id": forward.group,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    producer = Producer(
        {**target.client_params(), "enable.idempotence": True, "acks": "all", "linger.ms": 20}
    )
    try:
        consumer.assign(_committed_positions(conf.kafka, consumer, topics))
        log.info(
            "forwarding %s from %s to %s as origin %s",
            ", ".join(topics), conf.kafka.bootstrap, target.bootstrap, forward.origin,
        )  # fmt: skip
        with stop_signals_as_interrupt():
            while True:
                _forward_one_poll(consumer, producer, forward.origin)
    except KeyboardInterrupt:
        return 0
    except (KafkaException, ForwardError) as exc:
        log.error("forwarder stopped: %s", exc)
        return 1
    finally:
        producer.flush(FLUSH_SECONDS)
        consumer.close()


def _committed_positions(
    kafka: KafkaConfig, consumer: Consumer, topics: list[str]
) -> list[TopicPartition]:
    """Every partition of `topics`, at the group's committed offset or at its beginning."""
    ends = end_offsets(kafka, topics)
    partitions = [TopicPartition(t, p) for t in topics for p in sorted(ends.get(t, {}))]
    committed = consumer.committed(partitions, timeout=10)
    return [
        TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
        for tp in committed
    ]


def _forward_one_poll(consumer: Consumer, producer: Producer, origin: str) -> int:
    """Send one poll's local records to the target, wait for every acknowledgement, then
    commit the positions after them; the number of records sent."""
    records = consumer.consume(POLL_MESSAGES, POLL_SECONDS)
    if not records:
        return 0
    failures: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error)

    sent = 0
    positions: dict[tuple[str, int], int] = {}
    for record in records:
        if record.error() is not None:
            raise KafkaException(record.error())
        topic, partition, offset = position(record)
        positions[(topic, partition)] = offset + 1
        headers = forwarded_headers(consumed_headers(record), origin)
        if headers is None:
            continue
        _produce(producer, record, headers, delivered)
        sent += 1
    unsent = producer.flush(FLUSH_SECONDS)
    if failures or unsent:
        raise ForwardError(
            f"{len(failures) + unsent} of {sent} records not acknowledged by the target "
            f"({failures[0] if failures else 'flush timed out'}); positions not committed"
        )
    consumer.commit(
        offsets=[TopicPartition(t, p, offset) for (t, p), offset in positions.items()],
        asynchronous=False,
    )
    return sent


def _produce(producer: Producer, record: Message, headers: Headers, delivered: Delivered) -> None:
    """Produce one record to the same topic at the target, waiting for room when full."""
    topic, _, _ = position(record)
    _, timestamp = record.timestamp()
    while True:
        try:
            producer.produce(
                topic,
                value=record.value(),
                key=record.key(),
                # The stub asks for a list of (name, str | bytes | None) pairs: a list being
                # invariant, it refuses the (name, bytes) pairs that librdkafka takes alike.
                headers=cast("list[tuple[str, str | bytes | None]]", headers),
                timestamp=timestamp,
                on_delivery=delivered,
            )
            return
        except BufferError:
            producer.poll(0.1)
