"""A micro-batch's records read by the driver itself, from the offsets Spark logged for it: the
records a batch holds, with one Kafka client and no Spark job per batch (docs/ARCHITECTURE.md,
"Where a batch is computed")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from pulse.kafka.clients import KafkaClient, open_client
from pulse.kafka.errors import KafkaSourceError
from pulse.kafka.options import Offsets, SourceOptions
from pulse.kafka.planning import resolve_start
from pulse.kafka.recent import shared
from pulse.kafka.records import arrow_schema

TP = tuple[str, int]


class BatchRecords:
    """Reads batch `id` of the query whose checkpoint is `checkpoint`, with one Kafka client
    kept across batches; records another query of this driver fetched are taken from it
    (`pulse.kafka.recent`)."""

    def __init__(self, options: SourceOptions, checkpoint: Path) -> None:
        self._options = options
        self._reader = str(checkpoint)
        self._offsets = checkpoint / "offsets"
        self._client: KafkaClient | None = None

    def read(self, batch_id: int) -> Batch:
        """Every record of the batch, in Spark's Kafka schema, partition after partition."""
        started_at, end = self.entry(batch_id)
        previous = self._offsets / str(batch_id - 1)
        start = offset_log_entry(previous.read_text().splitlines())[1] if batch_id else {}
        client = self._connect()
        if any(tp not in start for tp in end):
            # The first batch of a checkpoint, or a partition new since the last: it starts
            # where the source started it, at the earliest offset (`resolve_start`).
            marks = client.watermarks(sorted(end))
            start, _ = resolve_start(start, marks, self._options.fail_on_data_loss)
        ranges = [
            (topic, partition, start[(topic, partition)], offset)
            for (topic, partition), offset in sorted(end.items())
            if offset > start.get((topic, partition), offset)
        ]
        schema = arrow_schema(self._options.include_headers)
        recent = shared(self._options.bootstrap, schema)
        try:
            records = recent.read(
                self._reader,
                ranges,
                lambda missing: client.read_many(missing, self._options.include_headers),
            )
        except BaseException:
            self.close()  # a client that failed is not kept
            raise
        return Batch(records, started_at)

    def entry(self, batch_id: int) -> tuple[datetime, Offsets]:
        """The batch's start time and end offsets, as Spark logged them."""
        path = self._offsets / str(batch_id)
        try:
            return offset_log_entry(path.read_text().splitlines())
        except OSError as error:
            raise KafkaSourceError(f"batch {batch_id} has no offset log entry: {error}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connect(self) -> KafkaClient:
        if self._client is None:
            self._client = open_client(self._options)
        return self._client


class Batch:
    """The records of one batch, and when Spark started it (its `current_timestamp()`)."""

    def __init__(self, records: pa.Table, started_at: datetime) -> None:
        self.records, self.started_at = records, started_at


def processed_offsets(checkpoint: Path) -> dict[str, dict[int, int]] | None:
    """The end offsets (`{topic: {partition: offset}}`) of the newest batch the query at
    `checkpoint` completed (committed), None before its first: what it has read, whether or not
    its progress reports get through."""
    commits = checkpoint / "commits"
    done = [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.is_dir() else []
    if not done:
        return None
    _, offsets = offset_log_entry(
        (checkpoint / "offsets" / str(max(done))).read_text().splitlines()
    )
    nested: dict[str, dict[int, int]] = {}
    for (topic, partition), offset in offsets.items():
        nested.setdefault(topic, {})[partition] = offset
    return nested


def offset_log_entry(lines: Sequence[str]) -> tuple[datetime, Offsets]:
    """(batch start, end offsets) of an offset log entry: `v1`, the batch metadata, then the
    query's one source's offsets as Pulse's source writes them (`{topic: {partition: n}}`).

    >>> offset_log_entry(["v1", '{"batchTimestampMs":1000}', '{"t": {"0": 7}}'])
    (datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=datetime.timezone.utc), {('t', 0): 7})
    """
    if len(lines) != 3 or lines[0] != "v1":
        raise KafkaSourceError(
            f"an offset log entry of one Kafka source is expected (got {len(lines)} lines)"
        )
    millis = json.loads(lines[1])["batchTimestampMs"]
    offsets = {
        (topic, int(partition)): int(offset)
        for topic, partitions in json.loads(lines[2]).items()
        for partition, offset in partitions.items()
    }
    return datetime.fromtimestamp(millis / 1000, UTC), offsets
