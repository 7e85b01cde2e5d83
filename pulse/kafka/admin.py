"""Topic administration: create the configured topics, list them, read their end offsets."""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from pulse.config import KafkaConfig
from pulse.kafka.clients import select_partitions
from pulse.kafka.confluent_client import ConfluentClient
from pulse.kafka.errors import KafkaSourceError

_TIMEOUT = 10.0


def ensure_topics(kafka: KafkaConfig, partitions: Mapping[str, int]) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Idempotent."""
    admin = AdminClient(kafka.client_params())
    existing = admin.list_topics(timeout=_TIMEOUT).topics
    missing = [name for name in partitions if name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions[name], replication_factor=1) for name in missing],
        operation_timeout=_TIMEOUT,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):  # a concurrent `up` won the race
                raise KafkaSourceError(f"cannot create topic {name}: {exc}") from exc
    return created


def delete_topics(kafka: KafkaConfig, names: list[str]) -> None:
    """Delete topics (tests and resets); missing ones are ignored."""
    admin = AdminClient(kafka.client_params())
    existing = admin.list_topics(timeout=_TIMEOUT).topics
    doomed = [name for name in names if name in existing]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=_TIMEOUT).values():
            future.result()


def end_offsets(kafka: KafkaConfig, topics: list[str]) -> dict[str, dict[int, int]]:
    """The true end offset of every partition of the given topics that exist."""
    client = ConfluentClient(kafka.client_params())
    try:
        marks = client.watermarks(select_partitions(client.topics(), topics, None))
    finally:
        client.close()
    result: dict[str, dict[int, int]] = {}
    for (topic, partition), (_, end) in marks.items():
        result.setdefault(topic, {})[partition] = end
    return result
