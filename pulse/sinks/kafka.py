"""`KafkaOutput`: each row of a batch as one JSON message on a Kafka topic, at least once, with
`batch_id` and `seq` so that readers drop repeats (see "Kafka outputs" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field

from pulse.config import KafkaConfig
from pulse.kafka.producer import EventProducer
from pulse.sinks.base import Batch, BatchContext
from pulse.sinks.errors import SinkDefinitionError
from pulse.sinks.values import (
    collect_batch,
    json_columns,
    json_text,
    require_columns,
    text_value,
)

log = logging.getLogger("pulse.sinks")

MESSAGE_EXTRAS = ("batch_id", "seq")


class _Live(dict[str, EventProducer]):
    """A sink's live producer, if it has one (a dict subclass, so that it can be held weakly)."""


# The live producers of every KafkaOutput of this process, by id (see `close_outputs`).
_LIVE: weakref.WeakValueDictionary[int, _Live] = weakref.WeakValueDictionary()


def close_outputs() -> None:
    """Drop the producer of every `KafkaOutput` of this process (the next batch starts
    another): `pulse.testing` calls it after each run, so that no idle producer of a past run
    stays connected to its broker."""
    for live in list(_LIVE.values()):
        live.clear()


@dataclass(frozen=True)
class KafkaOutput:
    """Produce each row as JSON (every column, plus `batch_id` and `seq`) keyed by `key_column`.

    The batch fails (raises `ProduceError`) when any message is not acknowledged within
    `timeout_seconds`.
    """

    name: str
    kafka: KafkaConfig
    topic: str
    key_column: str
    timeout_seconds: float = 30.0
    # The live producer (see the module docstring): state of the process, not of the sink's
    # definition, so it is left out of init, comparison and repr.
    _live: _Live = field(default_factory=_Live, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _LIVE[id(self._live)] = self._live
        if self.timeout_seconds <= 0:
            raise SinkDefinitionError(
                f"sink {self.name}: timeout_seconds {self.timeout_seconds} <= 0"
            )

    def write(self, frame: Batch, ctx: BatchContext) -> None:
        """Produce every row of the batch and wait until the broker has acknowledged them."""
        table = collect_batch(frame)
        if table.num_rows == 0:
            return
        require_columns(table, [self.key_column], self.name)
        taken = [column for column in MESSAGE_EXTRAS if column in table.column_names]
        if taken:
            raise SinkDefinitionError(
                f"sink {self.name}: column {', '.join(taken)} would be overwritten by the "
                f"message's own {', '.join(taken)}"
            )
        values = json_columns(table, table.column_names)
        keys = values[self.key_column]
        keyed = []
        for i, row in enumerate(zip(*values.values(), strict=True)):
            key = None if keys[i] is None else text_value(keys[i])
            keyed.append((key, json_text(dict(zip(values, row, strict=True)))))
        keyed.sort(key=lambda item: (item[0] or "", item[1]))
        producer = self._producer()
        try:
            for seq, (key, body) in enumerate(keyed):
                # The body is a JSON object with at least the key column: append the two
                # fields to it rather than encode every row twice.
                message = f'{body[:-1]},"batch_id":{ctx.batch_id},"seq":{seq}}}'
                producer.send_bytes(
                    self.topic, None if key is None else key.encode(), message.encode()
                )
            # librdkafka fails each message at message.timeout.ms; the margin lets it report.
            producer.flush(self.timeout_seconds + 5)
        except BaseException:
            self._live.clear()  # the next batch starts a producer with no failures of this one
            raise
        log.debug(
            "sink=%s query=%s batch=%d topic=%s messages=%d produced",
            self.name,
            ctx.query,
            ctx.batch_id,
            self.topic,
            len(keyed),
        )

    def _producer(self) -> EventProducer:
        """The sink's producer, created on first use and after a failed batch."""
        if "producer" not in self._live:
            self._live["producer"] = EventProducer(
                self.kafka, **{"message.timeout.ms": round(self.timeout_seconds * 1000)}
            )
        return self._live["producer"]
