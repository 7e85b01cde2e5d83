"""A JSON event producer on confluent-kafka, shared by simulators, services and tests."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from pulse.config import KafkaConfig
from pulse.events.schema import wire_bytes

# Throughput settings: batch for up to 20 ms, compress with lz4, keep up to 1M messages queued.
THROUGHPUT_TUNING = {
    "linger.ms": 20,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 1_000_000,
    "batch.num.messages": 10_000,
    "enable.idempotence": True,
}


class ProduceError(RuntimeError):
    """The broker refused or lost a record; names the topic."""


class EventProducer:
    """Sends JSON events and raw bytes; counts deliveries and remembers the first failure."""

    def __init__(self, kafka: KafkaConfig, **overrides: Any) -> None:
        self._producer = Producer({**kafka.client_params(), **THROUGHPUT_TUNING, **overrides})
        self.delivered = 0
        self.failed: list[str] = []

    def send_event(self, topic: str, key: str | None, event: dict[str, Any]) -> None:
        """Queue one event as compact UTF-8 JSON."""
        self.send_bytes(topic, key.encode() if key is not None else None, wire_bytes(event))

    def send_bytes(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """Queue one raw record, waiting for queue room instead of failing when it is full."""
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued record is acknowledged; raise if any could not be."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise ProduceError(f"{remaining} records still unacknowledged after {timeout:.0f} s")
        if self.failed:
            raise ProduceError(f"{len(self.failed)} records failed; first: {self.failed[0]}")

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed.append(f"{message.topic()}: {error}")
