"""The default destination of `pulse simulate`: a producer straight to each domain's topic, and
the broker check that explains a broker it cannot reach rather than hanging on it.
"""

from __future__ import annotations

import sys

from pulse.config import KafkaConfig
from pulse.kafka.admin import KafkaUnavailable, require_topics
from pulse.kafka.producer import EventProducer, ProduceError
from pulse.simulate.records import Send

# Records the broker has not acknowledged after this long fail, and stop the run (the default,
# five minutes, would leave a simulator sending into a dead broker unnoticed).
DELIVERY_TIMEOUT_MS = 30_000
# Simulated traffic is sent in record batches of up to 250 ms per partition (the producer's
# default is 20 ms). On the local broker (Tansu 0.6, in memory) every read that returns records
# lists all the record batches its partition holds, so its cost grows with the batches written:
# at 20 ms the emoji simulator alone wrote 50 batches a second per partition. The cost: up to
# 250 ms more between an event's time and its send. (docs/ARCHITECTURE.md, "The local broker".)
SIMULATOR_LINGER_MS = 250


class SimulateError(RuntimeError):
    """The simulator cannot run: unreachable broker, missing topic; says what to do."""


class KafkaDestination:
    """Records produced straight to each domain's topic."""

    assigned_ids: frozenset[str] = frozenset()

    def __init__(self, kafka: KafkaConfig, topics: dict[str, str]) -> None:
        self._bootstrap, self._topics = kafka.bootstrap, topics
        self._producer = EventProducer(
            kafka, **{"message.timeout.ms": DELIVERY_TIMEOUT_MS, "linger.ms": SIMULATOR_LINGER_MS}
        )

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
    try:
        require_topics(kafka, topics)
    except KafkaUnavailable as exc:
        raise SimulateError(str(exc)) from None
