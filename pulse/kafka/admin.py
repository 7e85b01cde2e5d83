"""Topic administration: create the configured topics, list them, read their end offsets, and
check at start that the broker answers and has the topics a process needs."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from pulse.config import KafkaConfig
from pulse.kafka.clients import select_partitions
from pulse.kafka.confluent_client import ConfluentClient
from pulse.kafka.errors import KafkaSourceError

_TIMEOUT = 10.0
_PROBE_TIMEOUT = 3.0  # seconds for a TCP connect to a bootstrap address
_METADATA_TIMEOUT = 6.0  # with the probe, `require_topics` gives up within about 10 s


class KafkaUnavailable(RuntimeError):
    """The broker does not answer, or lacks a topic; the message says what to do."""


def require_topics(kafka: KafkaConfig, topics: Sequence[str]) -> None:
    """Raise `KafkaUnavailable` within about 10 s unless the broker answers and has `topics`.

    A process that starts against a wrong bootstrap address should say so at once rather than
    hang in librdkafka's retries; a TCP probe first makes "nothing listens there" quick.
    """
    addresses = [address.strip() for address in kafka.bootstrap.split(",") if address.strip()]
    if not any(_accepts_connections(address) for address in addresses):
        raise KafkaUnavailable(
            f"cannot reach the Kafka broker at {kafka.bootstrap} (connection failed); "
            "start the local one with `pulse up`, or set PULSE_KAFKA__BOOTSTRAP"
        )
    logs = _LastLog()  # librdkafka would print every failed attempt; keep the last for the error
    # The client takes a `logger` object in its config; the stub allows scalar values only.
    admin = AdminClient({**kafka.client_params(), "logger": logs})  # type: ignore[dict-item]
    try:
        metadata = admin.list_topics(timeout=_METADATA_TIMEOUT)
    except KafkaException as exc:
        admin.poll(0)  # hands the client's queued log lines to `logs`
        error = exc.args[0] if exc.args else exc
        reason = error.str() if hasattr(error, "str") else str(error)
        detail = f" ({logs.last})" if logs.last else ""
        raise KafkaUnavailable(
            f"the Kafka broker at {kafka.bootstrap} does not answer: {reason}{detail}"
        ) from None
    missing = [topic for topic in topics if topic not in metadata.topics]
    if missing:
        raise KafkaUnavailable(
            f"topic {', '.join(missing)} does not exist on {kafka.bootstrap}; "
            "create the configured topics with `pulse up`"
        )


def ensure_topics(kafka: KafkaConfig, partitions: Mapping[str, int]) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Idempotent."""
    admin = AdminClient({**kafka.client_params()})  # a display: the stub's dict is invariant
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
    admin = AdminClient({**kafka.client_params()})  # a display: the stub's dict is invariant
    existing = admin.list_topics(timeout=_TIMEOUT).topics
    doomed = [name for name in names if name in existing]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=_TIMEOUT).values():
            future.result()


def end_offsets(
    kafka: KafkaConfig,
    topics: list[str],
    client: ConfluentClient | None = None,
    *,
    recent: bool = False,
) -> dict[str, dict[int, int]]:
    """The true end offset of every partition of the given topics that exist; with `client`,
    through that one (a caller that asks every few seconds keeps one: a new client each time
    cost `pulse run` a quarter of a core, and its probes the broker as much). `recent`: the ends
    the client's follower last heard, a moment old and free on Tansu (a kept `client` only)."""
    own = client is None
    client = client or ConfluentClient(kafka.client_params())
    try:
        partitions = select_partitions(client.topics(), topics, None)
        marks = client.recent_watermarks(partitions) if recent else client.watermarks(partitions)
    finally:
        if own:
            client.close()
    result: dict[str, dict[int, int]] = {}
    for (topic, partition), (_, end) in marks.items():
        result.setdefault(topic, {})[partition] = end
    return result


class _LastLog:
    """A librdkafka `logger` that keeps only the last line."""

    def __init__(self) -> None:
        self.last = ""

    def log(self, _level: int, message: str, *args: object) -> None:
        self.last = message % args if args else message


def _accepts_connections(address: str) -> bool:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return True  # not host:port; let the Kafka client judge it
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=_PROBE_TIMEOUT):
            return True
    except OSError:
        return False
