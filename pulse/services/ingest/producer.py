"""The ingest API's Kafka producer: accepted events are batched, sent, acknowledged, counted, on
the event loop, with a buffer of its own so that the flush promise holds across partitions
and nothing accepted is lost (why: "The ingest producer" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pulse.config import KafkaConfig, PulseConfig
from pulse.events.schema import wire_bytes
from pulse.services.ingest.metrics import IngestMetrics
from pulse.services.ingest.records import COMPONENT, Outgoing, producer_ack

log = logging.getLogger("pulse.services.ingest.producer")

_POLL_SECONDS = 0.005  # how often delivery reports are served: the most it adds to latency
_SLICE = 2_000  # records handed to librdkafka between two turns of the event loop


class QueueFull(RuntimeError):
    """`max_queue` events wait for Kafka already; the client should retry after `retry_after` s."""

    def __init__(self, depth: int, retry_after: int) -> None:
        self.depth, self.retry_after = depth, retry_after
        super().__init__(f"the producer queue is full ({depth} events wait for Kafka)")


class ProducerClosed(RuntimeError):
    """The service is stopping; nothing more is accepted."""


@dataclass(frozen=True)
class ProducerSettings:
    """How the ingest producer batches and how much it may hold."""

    flush_interval: float  # seconds
    flush_messages: int
    max_queue: int
    drain_timeout: float  # seconds
    monitoring_topic: str

    @classmethod
    def from_config(cls, conf: PulseConfig) -> ProducerSettings:
        """The settings of the `ingest` section, acks going to the monitoring topic."""
        return cls(
            flush_interval=conf.ingest.flush_interval_ms / 1000,
            flush_messages=conf.ingest.flush_messages,
            max_queue=conf.ingest.max_queue,
            drain_timeout=conf.ingest.drain_timeout_seconds,
            monitoring_topic=conf.topics.monitoring.name,
        )

    @property
    def retry_after(self) -> int:
        """Whole seconds a refused client should wait: at least one flush interval."""
        return max(1, math.ceil(self.flush_interval))


def librdkafka_settings(kafka: KafkaConfig, settings: ProducerSettings) -> dict[str, Any]:
    """The client configuration: send at once what a flush hands over, never give a record up."""
    return {
        **kafka.client_params(),
        "linger.ms": 5,  # the batching is done here; librdkafka only groups one flush's records
        "batch.num.messages": min(settings.flush_messages, 100_000),
        "compression.type": "lz4",
        "enable.idempotence": True,  # retries never write a record twice
        "message.timeout.ms": 0,  # never expire: an outage delays records, `max_queue` bounds them
        # Room for every accepted event plus the acks of those delivered since the last flush.
        "queue.buffering.max.messages": max(2 * settings.max_queue + 10_000, 100_000),
    }


class IngestProducer:
    """Accepts records and sends them from tasks on the running event loop; acknowledges them."""

    def __init__(
        self,
        kafka: KafkaConfig,
        settings: ProducerSettings,
        metrics: IngestMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._producer = Producer(librdkafka_settings(kafka, settings))
        self._pending: list[tuple[Outgoing, float]] = []  # (record, accepted at)
        self._acks: list[Outgoing] = []
        self._outstanding = 0  # accepted, not yet acknowledged (or failed)
        self._closing = False
        self._full = asyncio.Event()  # `flush_messages` are held: flush before the interval ends
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def depth(self) -> int:
        """Events accepted and not yet acknowledged by Kafka."""
        return self._outstanding

    def start(self) -> None:
        """Start the flusher and poller on the running event loop."""
        self._tasks = [
            asyncio.create_task(self._run_flusher(), name="ingest-flush"),
            asyncio.create_task(self._run_poller(), name="ingest-poll"),
        ]

    def submit(self, records: Sequence[Outgoing]) -> None:
        """Take all of `records` or none: raise `QueueFull` (or `ProducerClosed`) instead.

        A batch larger than `max_queue` is taken when nothing else waits, rather than refused
        forever.
        """
        if self._closing:
            raise ProducerClosed("the ingest API is stopping")
        depth = self._outstanding
        if depth and depth + len(records) > self._settings.max_queue:
            raise QueueFull(depth, self._settings.retry_after)
        self._outstanding += len(records)
        accepted_at = self._clock()
        self._pending.extend((record, accepted_at) for record in records)
        if len(self._pending) >= self._settings.flush_messages:
            self._full.set()

    async def close(self) -> int:
        """Send everything held, wait for Kafka up to the drain timeout; return the events lost."""
        self._closing = True
        self._full.set()
        flusher, poller = self._tasks or (None, None)
        if flusher is not None and poller is not None:
            await flusher  # it hands over what is held, then returns
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        return await asyncio.to_thread(self._drain)

    def _drain(self) -> int:
        deadline = self._clock() + self._settings.drain_timeout
        waiting = 0
        while True:
            # Delivery reports served by `flush` add acks; they are sent in the next round.
            for record, callback in self._take_held():
                self._produce(record, callback)
            waiting = self._producer.flush(max(deadline - self._clock(), 0))
            held = len(self._pending) + len(self._acks)
            if (waiting == 0 and held == 0) or self._clock() >= deadline:
                break
        lost = self._outstanding
        if waiting or lost:
            log.error(
                "stopped with %d accepted events and %d records unacknowledged by Kafka",
                lost,
                waiting,
            )
        return lost

    def _take_held(self) -> list[tuple[Outgoing, Callable[..., None]]]:
        """What is held, with the callback of each record's delivery; the buffers emptied."""
        batch, self._pending = self._pending, []
        acks, self._acks = self._acks, []
        return [
            *((record, partial(self._on_event_delivery, record, at)) for record, at in batch),
            *((ack, self._on_ack_delivery) for ack in acks),
        ]

    async def _run_flusher(self) -> None:
        interval = self._settings.flush_interval
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), interval)
            self._full.clear()
            held = self._take_held()
            for start in range(0, len(held), _SLICE):
                for record, callback in held[start : start + _SLICE]:
                    self._produce(record, callback)
                self._producer.poll(0)
                await asyncio.sleep(0)  # let requests in between slices

    async def _run_poller(self) -> None:
        while True:
            try:
                self._producer.poll(0)
            except Exception:  # a callback's error must not stop delivery reports for good
                log.exception("serving delivery reports failed")
            await asyncio.sleep(_POLL_SECONDS)

    def _produce(self, record: Outgoing, callback: Callable[..., None]) -> None:
        while True:
            try:
                self._producer.produce(
                    record.topic, value=record.value, key=record.key, on_delivery=callback
                )
                return
            except BufferError:  # librdkafka's own queue is full: let deliveries make room
                self._producer.poll(0.05)
            except KafkaException as exc:  # refused at once (too large): a failed delivery
                callback(exc.args[0] if exc.args else exc, None)
                return

    def _on_event_delivery(
        self,
        record: Outgoing,
        accepted_at: float,
        error: KafkaError | None,
        message: Message | None,
    ) -> None:
        latency = self._clock() - accepted_at
        self._outstanding -= 1
        if error is not None:
            self._metrics.delivery_failed()
            log.error("event %s not written to %s: %s", record.event_id, record.topic, error)
            return
        self._metrics.delivered(latency)
        if not record.ack or message is None:
            return
        ack = producer_ack(
            topic=record.topic,
            event_id=record.event_id,
            partition=_known(message.partition()),
            offset=_known(message.offset()),
            latency_ms=latency * 1000,
            now=datetime.now(UTC),
        )
        self._acks.append(
            Outgoing(
                self._settings.monitoring_topic,
                COMPONENT.encode(),
                wire_bytes(ack),
                ack["id"],
                False,
            )
        )

    def _on_ack_delivery(self, error: KafkaError | None, _message: Message | None) -> None:
        if error is not None:
            log.warning(
                "producer ack not written to %s: %s", self._settings.monitoring_topic, error
            )


def _known(position: int | None) -> int | None:
    """A partition or offset as reported, None when librdkafka reports none (negative)."""
    return position if position is not None and position >= 0 else None
