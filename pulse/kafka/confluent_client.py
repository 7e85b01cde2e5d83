"""Kafka metadata and reads through confluent-kafka (librdkafka), Pulse's default client.

Reads use assign + seek, never consumer groups: group joins take seconds on Tansu and Spark
keeps the offsets itself, in its checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from pulse.kafka.clients import PROBE_SECONDS, Range, warn_unprobed
from pulse.kafka.errors import KafkaSourceError
from pulse.kafka.messages import consumed_headers
from pulse.kafka.records import HEADERS_TYPE, TIMESTAMP, arrow_schema

TP = tuple[str, int]

# librdkafka stalls about a second whenever its pre-fetch queue passes 100k messages unless
# the queue floor is raised; these sizes keep a read task streaming (measured, DESIGN.md).
_READ_TUNING = {
    "queued.min.messages": 1_000_000,
    "queued.max.messages.kbytes": 262_144,
    "fetch.max.bytes": 52_428_800,
    "max.partition.fetch.bytes": 10_485_760,
}
# Reads of a small live batch on Tansu take about fetch.wait.max.ms each (librdkafka's default
# 500 ms): 0.5 s per partition, 1.5-2 s per batch of 12 partitions on two cores. With 20 ms, 30
# ms per read (measured). The end-offset probe keeps the default: with a short wait Tansu's
# fetch at the last record batch of a large partition answered nothing, ever (10 ms at 200k
# records per partition), so the prober is a consumer of its own.
_READ_FETCH_WAIT = {"fetch.wait.max.ms": 20}
_BATCH = 10_000
# A whole-batch read polls briefly (records already on the broker arrive within a fetch wait) and
# gives up on a partition that sends nothing for this long.
_MANY_POLL_SECONDS = 0.02
_MANY_IDLE_SECONDS = 30.0
_METADATA_TIMEOUT = 10.0
# consume(n, timeout) waits out its whole timeout when fewer than n records are there, which a
# probe always meets: short polls in a loop end as soon as every partition has answered
# (measured: 0.2 s polls cost 240-270 ms per trigger, 5 ms polls about 60 ms).
_PROBE_POLL_SECONDS = 0.005
# The follower (`recent_watermarks`) sits this far past every partition's end. Tansu answers a
# fetch there with no records and the partition's high watermark, and costs nothing: its
# ListOffsets and every fetch that returns records walk the whole list of record batches a
# partition holds, so they grow slower by the minute (measured on v0.6.0, one partition: 2 ms
# at 1,000 batches, 65 ms at 50,000; under `make run` the watermarks of four partitions took
# 0.1-0.5 s at 5 minutes and 1-1.8 s at 6, and every query's batches slowed with them).
# Apache Kafka refuses such a fetch (OFFSET_OUT_OF_RANGE); the client then lists offsets, which
# costs Kafka nothing.
_FAR_OFFSET = 1 << 60
_FOLLOW_FETCH_WAIT = {"fetch.wait.max.ms": 50}
_OUT_OF_RANGE = {KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET}


class ConfluentClient:
    """librdkafka consumers for metadata and watermarks (the driver's) and for partition reads
    (the executors'), each made on first use."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._settings = {
            **params,
            "group.id": "pulse-source",  # required by librdkafka; never joined or committed
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "auto.offset.reset": "error",
            **_READ_TUNING,
        }
        self._prober: Consumer | None = None
        self._reader: Consumer | None = None
        self._follower: Consumer | None = None
        self._following: set[TP] = set()
        self._follows = True  # until the broker refuses a fetch past the end
        # (ListOffsets end, true end) per partition as last probed: while the broker's answer
        # stays the same, no record batch was appended, so the probed end still holds and an
        # idle partition costs no fetch at each trigger.
        self._probed: dict[TP, tuple[int, int]] = {}

    @property
    def _consumer(self) -> Consumer:
        """The consumer for metadata and the end-offset probe."""
        if self._prober is None:
            self._prober = Consumer(self._settings)
        return self._prober

    def _read_consumer(self) -> Consumer:
        if self._reader is None:
            self._reader = Consumer({**self._settings, **_READ_FETCH_WAIT})
        return self._reader

    def close(self) -> None:
        """Release the consumers' sockets and threads."""
        for consumer in (self._prober, self._reader, self._follower):
            if consumer is not None:
                consumer.close()
        self._prober = self._reader = self._follower = None
        self._following = set()

    def topics(self) -> dict[str, int]:
        """Partition count of every topic on the broker (internal topics excluded)."""
        try:
            metadata = self._consumer.list_topics(timeout=_METADATA_TIMEOUT)
        except Exception as exc:
            raise KafkaSourceError(f"cannot read topic metadata from Kafka: {exc}") from exc
        return {
            name: len(topic.partitions)
            for name, topic in metadata.topics.items()
            if topic.error is None and not name.startswith("__")
        }

    def watermarks(self, partitions: list[TP]) -> dict[TP, tuple[int, int]]:
        """(earliest, end) offsets per partition, end being the true next offset.

        Tansu answers ListOffsets(latest) with the base offset of the last record batch + 1;
        a fetch from there returns the true high watermark. Apache Kafka answers exactly, and
        the fetch then confirms the same value, so one path serves both.
        """
        marks = {}
        for topic, partition in partitions:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_METADATA_TIMEOUT, cached=False
            )
            marks[(topic, partition)] = (low, high)
        probe = []
        for tp, (low, high) in marks.items():
            listed, true_end = self._probed.get(tp, (None, None))
            if listed == high and true_end is not None:
                marks[tp] = (low, max(high, true_end))
            elif high > low:
                probe.append(tp)
        if probe:
            fetched = self._fetched_high_watermarks(probe, marks)
            for tp, high in fetched.items():
                self._probed[tp] = (marks[tp][1], max(marks[tp][1], high))
                marks[tp] = (marks[tp][0], max(marks[tp][1], high))
        return marks

    def recent_watermarks(self, partitions: list[TP]) -> dict[TP, tuple[int, int]]:
        """(earliest, end) offsets per partition as the broker last answered a fetch, at most a
        fetch wait (50 ms) old: for a live trigger or a console, where an end a moment old only
        leaves its newest records to the next look. A reader that must see everything already
        written (a first or AvailableNow batch) asks `watermarks`.

        A consumer stays assigned far past the end of every partition asked about; librdkafka
        keeps each answer's high watermark. On a broker that refuses such a fetch, this is
        `watermarks`.
        """
        if not self._follows:
            return self.watermarks(partitions)
        follower = self._follow(partitions)
        deadline = time.monotonic() + PROBE_SECONDS
        timeout = 0.0  # the answers of partitions followed already are there
        while True:
            for message in follower.consume(_BATCH, timeout):
                error = message.error()
                if error is not None and error.code() in _OUT_OF_RANGE:  # Apache Kafka
                    self._follows = False
                    follower.close()
                    self._follower, self._following = None, set()
                    return self.watermarks(partitions)
            marks = {
                tp: follower.get_watermark_offsets(TopicPartition(*tp), cached=True)
                for tp in partitions
            }
            unknown = sorted(tp for tp, (_, high) in marks.items() if high < 0)
            if not unknown:
                return {tp: (max(low, 0), high) for tp, (low, high) in marks.items()}
            if time.monotonic() >= deadline:
                warn_unprobed(unknown)
                return {**marks, **self.watermarks(unknown)}
            timeout = _PROBE_POLL_SECONDS

    def _follow(self, partitions: list[TP]) -> Consumer:
        if self._follower is None:
            self._follower = Consumer({**self._settings, **_FOLLOW_FETCH_WAIT})
        new = [
            TopicPartition(t, p, _FAR_OFFSET)
            for t, p in partitions
            if (t, p) not in self._following
        ]
        if new:
            self._follower.incremental_assign(new)
            self._following.update((tp.topic, tp.partition) for tp in new)
        return self._follower

    def _fetched_high_watermarks(
        self, partitions: list[TP], marks: Mapping[TP, tuple[int, int]]
    ) -> dict[TP, int]:
        # Tansu answers with the whole last batch of each partition (thousands of records) and
        # the answers can come in separate fetches: drain in large consumes until every
        # partition has answered, bounded in time. A bound in calls ended within 10 ms while
        # the first answers were still queued, and a partition whose answer had not come kept
        # the short ListOffsets end (an AvailableNow read stopped 3,180 records short).
        self._consumer.assign([TopicPartition(t, p, marks[(t, p)][1] - 1) for t, p in partitions])
        pending = set(partitions)
        deadline = time.monotonic() + PROBE_SECONDS
        try:
            while pending and time.monotonic() < deadline:
                for message in self._consumer.consume(_BATCH, _PROBE_POLL_SECONDS):
                    if message.error() is None:
                        pending.discard((message.topic(), message.partition()))
            highs = {
                tp: self._consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)[1]
                for tp in partitions
            }
        finally:
            self._consumer.unassign()
        warn_unprobed(sorted(pending))
        return {tp: high for tp, high in highs.items() if high >= 0}

    def read_many(self, ranges: Sequence[Range], include_headers: bool) -> Iterator[pa.RecordBatch]:
        """Rows `[start, end)` of several partitions, fetched together: one consumer assigned to
        all of them, so the broker's answers for every partition come in the same round trips
        (one partition after another cost a fetch wait each). In (topic, partition, offset)
        order.

        Each answer's messages become Arrow columns at once (`message_columns`) and are kept
        or dropped by their offsets in Arrow: a Python loop over the messages cost 7-10 us a
        record, most of a large batch (docs/ARCHITECTURE.md, "Reading a batch")."""
        todo = {(t, p): (start, end) for t, p, start, end in ranges if end > start}
        if not todo:
            return
        consumer = self._read_consumer()
        assigned = list(todo)
        consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in todo.items()])
        positions = {tp: start for tp, (start, _) in todo.items()}
        kept: list[pa.RecordBatch] = []
        idle_polls = 0
        try:
            while todo:
                remaining = sum(end - positions[tp] for tp, (_, end) in todo.items())
                messages = consumer.consume(min(_BATCH, remaining), _MANY_POLL_SECONDS)
                if not messages:
                    # Offsets can have gaps (transaction markers, compaction): the positions
                    # say whether a range is already read through.
                    for found in consumer.position([TopicPartition(*tp) for tp in todo]):
                        tp = (found.topic, found.partition)
                        if found.offset >= todo[tp][1]:
                            _done(consumer, todo, tp)
                    idle_polls += 1
                    if todo and idle_polls * _MANY_POLL_SECONDS >= _MANY_IDLE_SECONDS:
                        (topic, partition), (_, end) = next(iter(todo.items()))
                        raise KafkaSourceError(
                            f"{topic}[{partition}]: no records arrive from offset "
                            f"{positions[(topic, partition)]} although the batch ends at {end}"
                        )
                    continue
                idle_polls = 0
                records = [message for message in messages if message.error() is None]
                if len(records) < len(messages):
                    _raise_errors(messages)
                if records:
                    kept.append(
                        _in_ranges(
                            message_columns(records, include_headers), todo, positions, consumer
                        )
                    )
        finally:
            # A pause outlives the assignment (librdkafka keeps it per partition): the next
            # batch would wait on a paused partition for ever.
            consumer.resume([TopicPartition(*tp) for tp in assigned])
            consumer.unassign()
        if kept:
            table = pa.Table.from_batches(kept).sort_by(
                [("topic", "ascending"), ("partition", "ascending"), ("offset", "ascending")]
            )
            yield from table.combine_chunks().to_batches()

    def read(
        self, topic: str, partition: int, start: int, end: int, include_headers: bool
    ) -> Iterator[pa.RecordBatch]:
        """Rows `[start, end)` of one partition as Arrow record batches in Spark's Kafka schema."""
        return self.read_many([(topic, partition, start, end)], include_headers)


def _done(consumer: Consumer, todo: dict[TP, tuple[int, int]], tp: TP) -> None:
    """A partition read through: paused, so that the consumer stops fetching records past the
    batch's end for it while the others finish (they would be dropped, and as the batches
    grew, so did the fetches: a slow batch made the next one slower)."""
    del todo[tp]
    consumer.pause([TopicPartition(*tp)])


def message_columns(messages: Sequence[Message], include_headers: bool) -> pa.RecordBatch:
    """Consumed records (none with an error) as a batch in Spark's Kafka schema: one
    comprehension per column, no Python work per record beyond the message's own accessors."""
    stamps = [message.timestamp() for message in messages]
    columns = [
        pa.array([message.key() for message in messages], pa.binary()),
        pa.array([message.value() for message in messages], pa.binary()),
        pa.array([message.topic() for message in messages], pa.string()),
        pa.array([message.partition() for message in messages], pa.int32()),
        pa.array([message.offset() for message in messages], pa.int64()),
        pa.array([millis * 1000 for _, millis in stamps], pa.int64()).cast(TIMESTAMP),
        # librdkafka: 1 create time, 2 log-append time; Spark: 0 and 1.
        pa.array([kind - 1 for kind, _ in stamps], pa.int32()),
    ]
    if include_headers:
        columns.append(
            pa.array(
                [
                    [{"key": k, "value": v} for k, v in consumed_headers(message) or []]
                    for message in messages
                ],
                HEADERS_TYPE,
            )
        )
    return pa.RecordBatch.from_arrays(columns, schema=arrow_schema(include_headers))


def _in_ranges(
    batch: pa.RecordBatch,
    todo: dict[TP, tuple[int, int]],
    positions: dict[TP, int],
    consumer: Consumer,
) -> pa.RecordBatch:
    """The rows of `batch` inside their partition's range from its position on (a fetch can
    begin before the seek offset, or run past the end); positions advance, and a partition read
    through is `_done`."""
    keep = pa.array([False] * batch.num_rows)
    offsets = batch.column("offset")
    seen = (
        pa.Table.from_batches([batch])
        .group_by(["topic", "partition"], use_threads=False)
        .aggregate([("offset", "max")])
    )
    for topic, partition, last in zip(*(seen.column(i).to_pylist() for i in range(3)), strict=True):
        tp = (topic, partition)
        if tp not in todo:
            continue  # read through already
        end = todo[tp][1]
        rows = pc.and_(
            pc.and_(
                pc.equal(batch.column("topic"), topic),
                pc.equal(batch.column("partition"), partition),
            ),
            pc.and_(pc.greater_equal(offsets, positions[tp]), pc.less(offsets, end)),
        )
        keep = pc.or_(keep, rows)
        positions[tp] = max(positions[tp], min(last + 1, end))
        if last + 1 >= end:
            _done(consumer, todo, tp)
    return batch.filter(keep)


def _raise_errors(messages: Sequence[Message]) -> None:
    """The first error among `messages` that is not the end of a partition, raised."""
    for message in messages:
        error = message.error()
        if error is not None and error.code() != KafkaError._PARTITION_EOF:
            raise KafkaSourceError(f"{message.topic()}[{message.partition()}]: {error}")
