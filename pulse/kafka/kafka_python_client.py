"""Kafka metadata and reads through kafka-python (pure Python, `kafka.client=kafka-python`).

About 2.5 times slower than librdkafka inside Spark, but it installs anywhere Python does.
Like the confluent client it assigns and seeks, never joins a consumer group.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence

import pyarrow as pa
from kafka import KafkaConsumer, TopicPartition

from pulse.kafka.clients import PROBE_SECONDS, Range, warn_unprobed
from pulse.kafka.errors import KafkaSourceError
from pulse.kafka.records import RecordBatchBuilder

TP = tuple[str, int]
_BATCH = 10_000

# librdkafka-style names (the `kafka.*` pass-through) to kafka-python's keyword arguments.
_PARAM_NAMES = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
    "client.id": "client_id",
    "request.timeout.ms": "request_timeout_ms",
}


class KafkaPythonClient:
    """One kafka-python consumer used for metadata, watermarks and partition reads."""

    def __init__(self, bootstrap: str, params: Mapping[str, str]) -> None:
        unknown = [key for key in params if key not in _PARAM_NAMES]
        if unknown:
            raise KafkaSourceError(
                f"option 'kafka.{unknown[0]}' is not supported with kafka.client=kafka-python; "
                f"supported: {', '.join('kafka.' + key for key in _PARAM_NAMES)}"
            )
        settings: dict[str, str | int] = {_PARAM_NAMES[key]: value for key, value in params.items()}
        if "request_timeout_ms" in settings:
            settings["request_timeout_ms"] = int(settings["request_timeout_ms"])
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=52_428_800,
            max_partition_fetch_bytes=10_485_760,
            **settings,
        )

    def close(self) -> None:
        """Release the consumer's sockets."""
        self._consumer.close()

    def topics(self) -> dict[str, int]:
        """Partition count of every topic on the broker (internal topics excluded)."""
        try:
            names = self._consumer.topics()
        except Exception as exc:
            raise KafkaSourceError(f"cannot read topic metadata from Kafka: {exc}") from exc
        counts = {}
        for name in names:
            if name.startswith("__"):
                continue
            partitions = self._consumer.partitions_for_topic(name) or set()
            counts[name] = len(partitions)
        return counts

    def recent_watermarks(self, partitions: list[TP]) -> dict[TP, tuple[int, int]]:
        """The exact watermarks: this client follows no partition between calls."""
        return self.watermarks(partitions)

    def watermarks(self, partitions: list[TP]) -> dict[TP, tuple[int, int]]:
        """(earliest, end) offsets per partition, end being the true next offset.

        As with the confluent client, a fetch from the reported end corrects Tansu's
        ListOffsets answer (the base offset of the last record batch + 1).
        """
        if not partitions:
            return {}
        tps = [TopicPartition(t, p) for t, p in partitions]
        lows = self._consumer.beginning_offsets(tps)
        highs = self._consumer.end_offsets(tps)
        marks = {(tp.topic, tp.partition): (lows[tp], highs[tp]) for tp in tps}
        probe = [tp for tp in tps if highs[tp] > lows[tp]]
        if probe:
            self._consumer.assign(probe)
            for tp in probe:
                self._consumer.seek(tp, highs[tp] - 1)
            # kafka-python fetches the next partition only once the records it buffered are
            # drained, and Tansu answers with the whole last batch: drain in large polls.
            pending = set(probe)
            deadline = time.monotonic() + PROBE_SECONDS
            while pending and time.monotonic() < deadline:
                for tp in self._consumer.poll(timeout_ms=200, max_records=100_000):
                    pending.discard(tp)
            for tp in probe:
                fetched = self._consumer.highwater(tp)
                if fetched is not None:
                    key = (tp.topic, tp.partition)
                    marks[key] = (marks[key][0], max(marks[key][1], fetched))
            self._consumer.assign([])
            warn_unprobed(sorted((tp.topic, tp.partition) for tp in pending))
        return marks

    def read_many(self, ranges: Sequence[Range], include_headers: bool) -> Iterator[pa.RecordBatch]:
        """The ranges one after another: the fallback client reads one partition at a time."""
        for topic, partition, start, end in ranges:
            yield from self.read(topic, partition, start, end, include_headers)

    def read(
        self, topic: str, partition: int, start: int, end: int, include_headers: bool
    ) -> Iterator[pa.RecordBatch]:
        """Rows `[start, end)` of one partition as Arrow record batches in Spark's Kafka schema."""
        tp = TopicPartition(topic, partition)
        self._consumer.assign([tp])
        self._consumer.seek(tp, start)
        builder = RecordBatchBuilder(topic, partition, include_headers)
        position = start
        idle_polls = 0
        try:
            while position < end:
                records = self._consumer.poll(timeout_ms=1000, max_records=_BATCH).get(tp, [])
                if not records:
                    if self._consumer.position(tp) >= end:  # gaps: transaction markers
                        break
                    idle_polls += 1
                    if idle_polls >= 30:
                        raise KafkaSourceError(
                            f"{topic}[{partition}]: no records arrive from offset {position} "
                            f"although the broker reported data up to {end}"
                        )
                    continue
                idle_polls = 0
                for record in records:
                    if record.offset < position:  # a batch can begin before the seek offset
                        continue
                    if record.offset >= end:
                        position = end
                        break
                    builder.append(
                        record.key,
                        record.value,
                        record.offset,
                        record.timestamp,
                        record.timestamp_type,  # already Spark's: 0 create, 1 log-append
                        record.headers if include_headers else None,
                    )
                    position = record.offset + 1
                if builder.size >= _BATCH:
                    yield builder.build()
            if builder.size:
                yield builder.build()
        finally:
            self._consumer.assign([])
