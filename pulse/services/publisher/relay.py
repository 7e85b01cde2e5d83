"""`pulse serve publisher --cluster C`: relay `emoji.aggregated` to Redis `cluster:{C}:emoji`,
Kafka for the durable feed and Redis pub/sub inside a cluster (why each: "The cluster
publisher" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import sys
import time

import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from pulse.config import PulseConfig
from pulse.interrupts import stop_signals_as_interrupt
from pulse.kafka.admin import KafkaUnavailable, end_offsets, require_topics
from pulse.services.gateway.channels import cluster_emoji_channel
from pulse.stores import StoreUnavailable, redis_client, redis_ping

log = logging.getLogger("pulse.services.publisher")

POLL_MESSAGES = 1000
POLL_SECONDS = 0.1
FETCH_WAIT_MS = 50  # librdkafka waits up to 500 ms for a fetch to fill by default: too slow here
REDIS_RETRY_SECONDS = 1.0


def serve(conf: PulseConfig, cluster: str, from_beginning: bool = False) -> int:
    """Relay until SIGTERM or Ctrl-C; the exit code (1 when it cannot start or Kafka fails)."""
    topic = conf.topics.emoji_aggregated.name
    channel = cluster_emoji_channel(cluster)
    client = redis_client(conf.redis)
    try:
        require_topics(conf.kafka, [topic])
        redis_ping(client)
    except (KafkaUnavailable, StoreUnavailable) as exc:
        print(f"pulse serve publisher: {exc}", file=sys.stderr)
        return 1
    consumer = Consumer(
        {
            **conf.kafka.client_params(),
            "group.id": f"pulse-publisher-{cluster}",  # required by the client; never joined
            "enable.auto.commit": False,
            "fetch.wait.max.ms": FETCH_WAIT_MS,
        }
    )
    try:
        consumer.assign(_start(conf, topic, from_beginning))
        log.info("publisher of cluster %s: %s -> Redis %s", cluster, topic, channel)
        with stop_signals_as_interrupt():
            _relay(consumer, client, channel)
    except KeyboardInterrupt:
        return 0
    except KafkaException as exc:
        log.error("publisher of cluster %s: Kafka failed: %s", cluster, exc)
        return 1
    finally:
        consumer.close()
        client.close()
    return 0


def _start(conf: PulseConfig, topic: str, from_beginning: bool) -> list[TopicPartition]:
    """Every partition, at its beginning or at its true end (Tansu's `OFFSET_END` can fall
    inside the last record batch, which would relay old records again)."""
    ends = end_offsets(conf.kafka, [topic])[topic]
    return [
        TopicPartition(topic, partition, OFFSET_BEGINNING if from_beginning else end)
        for partition, end in sorted(ends.items())
    ]


def _relay(consumer: Consumer, client: redis.Redis, channel: str) -> None:
    """Publish every record's value on `channel`, in the order read, until interrupted."""
    while True:
        records = consumer.consume(POLL_MESSAGES, POLL_SECONDS)
        values: list[bytes] = []
        for record in records:
            if record.error() is not None:
                raise KafkaException(record.error())
            value = record.value()
            if value is not None:
                values.append(value)
        if not values:
            continue
        pipe = client.pipeline(transaction=False)
        for value in values:
            pipe.publish(channel, value)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("%d records not relayed to %s: %s", len(values), channel, exc)
            time.sleep(REDIS_RETRY_SECONDS)
