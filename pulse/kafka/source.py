"""Pulse's Kafka streaming source on Spark's Python Data Source API (pyspark 4.2+), for where the
official connector is not on the classpath: one input partition per Kafka partition, assign +
seek, offsets in Spark's checkpoint, `maxOffsetsPerTrigger`, `Trigger.AvailableNow`, and Arrow
batches in the official connector's schema, so a job runs unchanged on either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql import types as T
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)

from pulse.kafka.clients import KafkaClient, open_client, select_partitions
from pulse.kafka.options import Offsets, SourceOptions
from pulse.kafka.planning import (
    Admission,
    cap_batch,
    from_json,
    initial_offsets,
    resolve_start,
    to_json,
)

log = logging.getLogger("pulse.kafka.source")

FORMAT = "pulse_kafka"


def kafka_schema(include_headers: bool) -> T.StructType:
    """The schema of Spark's official Kafka source, which `read_kafka` always returns."""
    fields = [
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
        T.StructField("timestampType", T.IntegerType()),
    ]
    if include_headers:
        header = T.StructType(
            [T.StructField("key", T.StringType()), T.StructField("value", T.BinaryType())]
        )
        fields.append(T.StructField("headers", T.ArrayType(header)))
    return T.StructType(fields)


class KafkaPartitionRange(InputPartition):
    """Offsets `[start, end)` of one Kafka partition: the work of one Spark task."""

    def __init__(self, topic: str, partition: int, start: int, end: int) -> None:
        super().__init__((topic, partition, start, end))
        self.topic, self.partition, self.start, self.end = topic, partition, start, end


class KafkaSource(DataSource):
    """The `pulse_kafka` streaming format; options as Spark's official Kafka source."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def schema(self) -> T.StructType:
        return kafka_schema(SourceOptions.parse(self.options).include_headers)

    def streamReader(self, schema: T.StructType) -> KafkaStreamReader:
        return KafkaStreamReader(SourceOptions.parse(self.options))


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Plans micro-batches over Kafka offsets on the driver and reads them on the executors."""

    def __init__(self, options: SourceOptions) -> None:
        self.options = options
        self._client: KafkaClient | None = None
        self._target: Offsets | None = None  # Trigger.AvailableNow: never read past this
        self._latest: Offsets | None = None
        self._marks: dict[tuple[str, int], tuple[int, int]] | None = None  # of the last plan
        self._admission = (
            Admission(options.batch_seconds, options.max_offsets_per_trigger or 1_000_000)
            if options.batch_seconds
            else None
        )
        self._planned: tuple[float, int] | None = None  # when the last batch was planned, rows

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None  # live sockets never travel to executors
        return state

    # -- driver side ------------------------------------------------------------------------

    def initialOffset(self) -> dict:
        marks = self._watermarks()
        return to_json(initial_offsets(self.options.starting, marks))

    def getDefaultReadLimit(self) -> ReadLimit:
        limit = self.options.max_offsets_per_trigger
        return ReadMaxRows(limit) if limit else ReadAllAvailable()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        # A live trigger plans to the ends the follower last heard (a fetch wait old at most:
        # what arrived since goes to the next batch); an AvailableNow run to its exact target.
        marks = self._marks = self._watermarks(recent=self._target is None)
        previous = self._latest or {}
        self._latest = {tp: high for tp, (_, high) in marks.items()}
        arrived = sum(high - previous.get(tp, high) for tp, high in self._latest.items())
        begin, losses = resolve_start(from_json(start), marks, self.options.fail_on_data_loss)
        for loss in losses:
            log.warning("data loss: %s", loss.message())
        end = dict(self._latest)
        if self._target is not None:
            end = {tp: min(high, self._target.get(tp, begin[tp])) for tp, high in end.items()}
        end = {tp: max(high, begin[tp]) for tp, high in end.items()}
        max_rows = limit.max_rows if isinstance(limit, ReadMaxRows) else None
        if self._admission is not None and max_rows is not None:
            now = time.monotonic()
            if self._planned is not None:
                self._admission.observe(self._planned[1], now - self._planned[0], arrived)
            max_rows = min(max_rows, self._admission.cap())
            capped = cap_batch(begin, end, max_rows)
            self._planned = (now, sum(capped[tp] - begin[tp] for tp in capped))
            return to_json(capped)
        return to_json(cap_batch(begin, end, max_rows))

    def reportLatestOffset(self) -> dict | None:
        return to_json(self._latest) if self._latest is not None else None

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = {tp: high for tp, (_, high) in self._watermarks().items()}
        # A catch-up run (tests, backfills) has no live view to keep moving: its batches take
        # up to `maxOffsetsPerTrigger`, as Spark's own source does. Smaller batches would also
        # judge lateness by the watermark of the batches before them, so events published out
        # of time order would count or not by where the batches happened to be cut.
        self._admission = None

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        first, last = from_json(start), from_json(end)
        if all(first.get(tp) == offset for tp, offset in last.items()):
            return []
        # Normally latestOffset has just read the watermarks. A batch replayed after a restart
        # arrives without it: then ask the broker again, so that new partitions and gone
        # offsets are handled the same way.
        marks, self._marks = self._marks, None
        if marks is None or any(tp not in marks for tp in last):
            marks = self._watermarks(last)
        begin, _ = resolve_start(first, marks, self.options.fail_on_data_loss)
        return [
            KafkaPartitionRange(topic, partition, begin[(topic, partition)], offset)
            for (topic, partition), offset in sorted(last.items())
            if offset > begin.get((topic, partition), offset)
        ]

    def commit(self, end: dict) -> None:
        """Nothing to do: the offsets live in Spark's checkpoint, never in Kafka."""

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _watermarks(
        self, only: Offsets | None = None, *, recent: bool = False
    ) -> dict[tuple[str, int], tuple[int, int]]:
        if self._client is None:
            self._client = open_client(self.options)
        if only is not None:
            existing = self._client.topics()
            partitions = sorted(tp for tp in only if tp[1] < existing.get(tp[0], 0))
        elif self.options.assign:
            partitions = list(self.options.assign)
        else:
            partitions = select_partitions(
                self._client.topics(), self.options.subscribe, self.options.pattern
            )
        if recent:
            return self._client.recent_watermarks(partitions)
        return self._client.watermarks(partitions)

    # -- executor side ----------------------------------------------------------------------

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, KafkaPartitionRange)
        # Spark reuses its Python workers (spark.python.worker.reuse): a client kept in the
        # worker spares each task the connection and metadata round trips of a new consumer,
        # a fixed cost paid per Kafka partition per batch. A client that failed is dropped.
        key = repr(self.options)
        client = _IDLE_CLIENTS.pop(key, None) or open_client(self.options)
        try:
            yield from client.read(
                partition.topic,
                partition.partition,
                partition.start,
                partition.end,
                self.options.include_headers,
            )
        except BaseException:
            client.close()
            raise
        _IDLE_CLIENTS[key] = client


# Clients of the executor side, idle between tasks, by the options they were opened with.
_IDLE_CLIENTS: dict[str, KafkaClient] = {}
