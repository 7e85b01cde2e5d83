"""The lake's layers, from one batch of raw records in Arrow: bronze (every Kafka record as it
came), silver (typed valid events of one domain) and the dead letters (records that failed,
with the reason), in the column types Spark's Delta writer gives the same tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from pulse.config import TopicsConfig
from pulse.events import SCHEMAS
from pulse.events.schema import EventSchema
from pulse.transforms.decode import sort_tables

DEAD_LETTER_COLUMNS: tuple[str, ...] = (
    "topic",
    "partition",
    "offset",
    "key",
    "value",
    "reason",
    "failed_at",
)
UTC_MICROS = pa.timestamp("us", tz="UTC")

# The most of a bad record's value a dead-letter message carries. The record itself may be as
# large as the broker allows (about 1 MB); wrapped in a message, base64-encoded, it would pass
# the limit, the dead-letter sink would fail its batch on every retry, and one bad record would
# stop the lake job. The whole value stays in the quarantine table, in bronze and at its origin.
DEAD_LETTER_VALUE_BYTES = 64 * 1024


@dataclass(frozen=True)
class LakeLayers:
    """What one batch adds to each layer of the lake."""

    bronze: pa.Table
    silver: dict[str, pa.Table]  # by topic
    letters: pa.Table  # DEAD_LETTER_COLUMNS


def lake_layers(
    records: pa.Table, schemas_by_topic: Mapping[str, EventSchema], now: datetime
) -> LakeLayers:
    """Bronze, the silver table of every topic in `schemas_by_topic` and the dead letters of a
    batch of Kafka records (the source's columns). A record of a topic with no schema is a dead
    letter too. `now` is the batch's ingestion (bronze) and failure (dead letters) time.

    >>> import pyarrow as pa
    >>> from datetime import datetime, UTC
    >>> from pulse.events import SCHEMAS
    >>> raw = pa.table({"key": [None], "value": [b"{}"], "topic": ["t"],
    ...                 "partition": pa.array([0], pa.int32()), "offset": [7],
    ...                 "timestamp": pa.array([datetime(2026, 1, 2, tzinfo=UTC)],
    ...                                       pa.timestamp("us", tz="UTC"))})
    >>> layers = lake_layers(raw, {"t": SCHEMAS["emoji"]}, now=datetime(2026, 1, 2, tzinfo=UTC))
    >>> layers.letters.column("reason").to_pylist()
    ["field 'event_id' is required (got None)"]
    """
    sorted_ = sort_tables(records, {topic: s.domain for topic, s in schemas_by_topic.items()})
    silver = {
        topic: silver_table(of_topic(sorted_.events[s.domain], topic), s)
        for topic, s in schemas_by_topic.items()
    }
    failed = records.take(pa.array(sorted_.failed, pa.int64()))
    return LakeLayers(
        bronze=bronze(records, now),
        silver=silver,
        letters=dead_letters(failed, sorted_.reasons, now),
    )


def bronze(records: pa.Table, ingested_at: datetime) -> pa.Table:
    """The records untouched (key and value binary), plus `date` (the UTC date of the Kafka
    timestamp: bronze partitions by (topic, date) with no parsing, so it keeps even records no
    schema accepts) and `ingested_at`."""
    return records.append_column("date", utc_date(records.column("timestamp"))).append_column(
        "ingested_at", pa.repeat(pa.scalar(ingested_at, UTC_MICROS), records.num_rows)
    )


def of_topic(events: pa.Table, topic: str) -> pa.Table:
    """The events (from `sort_tables`, with their origin) that came from `topic`."""
    return events.filter(pc.equal(events.column("kafka_topic"), topic))


def silver_table(events: pa.Table, schema: EventSchema) -> pa.Table:
    """Valid events of one domain (from `sort_tables`, typed, with their Kafka origin) with the
    UTC date of the event time: silver is queried by when things happened."""
    return events.append_column("date", utc_date(events.column(schema.time_field)))


def dead_letters(failed: pa.Table, reasons: list[str], failed_at: datetime) -> pa.Table:
    """The failed records with their reason and when they failed, in `DEAD_LETTER_COLUMNS`."""
    return pa.table(
        {
            "topic": failed.column("topic"),
            "partition": failed.column("partition"),
            "offset": failed.column("offset"),
            "key": failed.column("key"),
            "value": failed.column("value"),
            "reason": pa.array(reasons, pa.string()),
            "failed_at": pa.array([failed_at] * failed.num_rows, UTC_MICROS),
        }
    )


def dead_letter_messages(letters: pa.Table) -> pa.Table:
    """`dead_letters` rows as the dead-letter topic carries them: keyed by the original key
    (as text), the value cut to `DEAD_LETTER_VALUE_BYTES`, with `value_bytes` (the original
    length) and `value_truncated` saying so."""
    values = letters.column("value").to_pylist()
    sizes = [None if value is None else len(value) for value in values]
    cut = [size is not None and size > DEAD_LETTER_VALUE_BYTES for size in sizes]
    keys = letters.column("key").to_pylist()
    return pa.table(
        {
            "topic": letters.column("topic"),
            "partition": letters.column("partition"),
            "offset": letters.column("offset"),
            "key": pa.array(
                [None if k is None else k.decode("utf-8", "replace") for k in keys], pa.string()
            ),
            "value": pa.array(
                [v[:DEAD_LETTER_VALUE_BYTES] if c else v for v, c in zip(values, cut, strict=True)],
                pa.binary(),
            ),
            "value_bytes": pa.array(sizes, pa.int32()),
            "value_truncated": pa.array(cut, pa.bool_()),
            "reason": letters.column("reason"),
            "failed_at": letters.column("failed_at"),
        }
    )


def utc_date(times: pa.ChunkedArray) -> pa.ChunkedArray:
    """The UTC calendar date of each timestamp."""
    return pc.cast(pc.cast(times, UTC_MICROS), pa.date32())


def topic_schemas(topics: TopicsConfig) -> dict[str, EventSchema]:
    """The event schema of the topic of every registered domain, by topic name."""
    return {topic.name: SCHEMAS[domain] for domain, topic in topics.of_domains().items()}
