"""The default destination of `pulse simulate`: a producer straight to each domain's topic, and
the broker check that explains a broker it cannot reach rather than hanging on it.
"""

from __future__ import annotations

import socket
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from pulse.config import KafkaConfig
from pulse.kafka.producer import EventProducer, ProduceError
from pulse.simulate.records import Send

PROBE_TIMEOUT = 3.0  # seconds for a TCP connect to a bootstrap address
METADATA_TIMEOUT = 6.0  # with the probe, the broker check gives up within about 10 s
# Records the broker has not acknowledged after this long fail, and stop the run (the default,
# five minutes, would leave a simulator sending into a dead broker unnoticed).
DELIVERY_TIMEOUT_MS = 30_000


class SimulateError(RuntimeError):
    """The simulator cannot run: unreachable broker, missing topic; says what to do."""


class KafkaDestination:
    """Records produced straight to each domain's topic."""

    assigned_ids: frozenset[str] = frozenset()

    def __init__(self, kafka: KafkaConfig, topics: dict[str, str]) -> None:
        self._bootstrap, self._topics = kafka.bootstrap, topics
        self._producer = EventProducer(kafka, **{"message.timeout.ms": DELIVERY_TIMEOUT_MS})

    def label(self, domain: str) -> str:
        """The domain's topic."""
        return self._topics[domain]

    def sender(self, domain: str) -> Send:
        """Queue one record in the producer."""
        topic, send_bytes = self._topics[domain], self._producer.send_bytes
        return lambda key, value, _kind: send_bytes(topic, key, value)

    def failure(self) -> str | None:
        """The first record the broker refused."""
        return f"records failed: {self._producer.failed[0]}" if self._producer.failed else None

    def close(self) -> int:
        """Wait for the broker to acknowledge everything queued."""
        try:
            self._producer.flush()
        except ProduceError as exc:
            print(f"pulse simulate: {exc} (broker {self._bootstrap})", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(
                "pulse simulate: interrupted while flushing; queued records may be lost",
                file=sys.stderr,
            )
            return 130
        return 0

    def report(self, domain: str, sent: int) -> list[str]:
        """Nothing more to say: the producer failed the run if a record was lost."""
        return []


def check_broker(kafka: KafkaConfig, topics: list[str]) -> None:
    """Raise `SimulateError` within about 10 s unless the broker answers and has the topics."""
    addresses = [address.strip() for address in kafka.bootstrap.split(",") if address.strip()]
    if not any(_accepts_connections(address) for address in addresses):
        raise SimulateError(
            f"cannot reach the Kafka broker at {kafka.bootstrap} (connection failed); "
            "start the local one with `pulse up`, or set PULSE_KAFKA__BOOTSTRAP"
        )
    logs = _LastLog()  # librdkafka would print every failed attempt; keep the last for the error
    admin = AdminClient({**kafka.client_params(), "logger": logs})
    try:
        metadata = admin.list_topics(timeout=METADATA_TIMEOUT)
    except KafkaException as exc:
        admin.poll(0)  # hands the client's queued log lines to `logs`
        error = exc.args[0] if exc.args else exc
        reason = error.str() if hasattr(error, "str") else str(error)
        detail = f" ({logs.last})" if logs.last else ""
        raise SimulateError(
            f"the Kafka broker at {kafka.bootstrap} does not answer: {reason}{detail}"
        ) from None
    missing = [topic for topic in topics if topic not in metadata.topics]
    if missing:
        raise SimulateError(
            f"topic {', '.join(missing)} does not exist on {kafka.bootstrap}; "
            "create the configured topics with `pulse up`"
        )


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
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False
