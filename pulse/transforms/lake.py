"""The lake's layers: bronze (every Kafka record as it came), silver (typed valid events of one
domain) and the dead letters (records that failed, with the reason).

Dates are UTC calendar dates whatever the session time zone is, so a partition holds the same
records on a laptop and on a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pulse.config import TopicsConfig
from pulse.events.domains import SCHEMAS
from pulse.events.schema import EventSchema
from pulse.transforms.parse import invalid_events, parse_events, valid_events

# The Kafka origin that silver rows keep; prefixed, because monitoring events have fields of
# their own called topic, partition and offset.
ORIGIN_COLUMNS: tuple[str, ...] = (
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
)

DEAD_LETTER_COLUMNS: tuple[str, ...] = (
    "topic",
    "partition",
    "offset",
    "key",
    "value",
    "reason",
    "failed_at",
)


def utc_date(ts: Column) -> Column:
    """The UTC calendar date of a timestamp, independent of `spark.sql.session.timeZone`."""
    return F.to_date(F.convert_timezone(None, F.lit("UTC"), ts))


def bronze(records: DataFrame, *, ingested_at: Column | None = None) -> DataFrame:
    """The records untouched (key and value binary), plus `date` and `ingested_at`.

    `date` is the UTC date of the Kafka timestamp, so the table partitions by (topic, date) with
    no parsing: bronze keeps even records no schema accepts. `ingested_at` defaults to the
    batch's current_timestamp(); tests pass a literal.
    """
    now = ingested_at if ingested_at is not None else F.current_timestamp()
    return records.select(
        *records.columns,
        utc_date(F.col("timestamp")).alias("date"),
        now.alias("ingested_at"),
    )


def silver(records: DataFrame, schema: EventSchema) -> DataFrame:
    """The valid events of one domain, typed, with their Kafka origin and the event's UTC date.

    `date` comes from the event time (not the Kafka timestamp): silver is queried by when things
    happened. The origin columns keep the `kafka_` prefix of `parse_events`.
    """
    events = valid_events(parse_events(records, schema))
    return events.select(
        *[field.name for field in schema.fields],
        *ORIGIN_COLUMNS,
        utc_date(F.col(schema.time_field)).alias("date"),
    )


def dead_letters(
    records: DataFrame,
    schemas_by_topic: Mapping[str, EventSchema],
    *,
    failed_at: Column | None = None,
) -> DataFrame:
    """The records of a multi-topic frame that fail their topic's schema, with the reason.

    Each known topic is filtered out and parsed with its schema, and the branches are unioned;
    a record of a topic with no schema is a dead letter too. Every branch reads `records`: a job
    persists the batch first, or the source is read once per branch. `failed_at` defaults to
    current_timestamp().
    """
    now = failed_at if failed_at is not None else F.current_timestamp()
    known = list(schemas_by_topic)
    branches = [
        invalid_events(parse_events(records.where(F.col("topic") == F.lit(topic)), schema))
        for topic, schema in schemas_by_topic.items()
    ]
    unknown = records.where(~F.coalesce(F.col("topic").isin(*known), F.lit(False))).select(
        "topic",
        "partition",
        "offset",
        "key",
        "value",
        F.concat(
            F.lit("unknown topic '"), F.col("topic"), F.lit("': no event schema is registered")
        ).alias("reason"),
    )
    failed = reduce(DataFrame.unionByName, branches, unknown)
    return failed.withColumn("failed_at", now).select(*DEAD_LETTER_COLUMNS)


# The most of a bad record's value a dead-letter message carries. The record itself may be as
# large as the broker allows (about 1 MB); wrapped in a message, base64-encoded, it would pass
# the limit, the dead-letter sink would fail its batch on every retry, and one bad record would
# stop the lake job. The whole value stays in the quarantine table, in bronze and at its origin.
DEAD_LETTER_VALUE_BYTES = 64 * 1024


def dead_letter_messages(letters: DataFrame) -> DataFrame:
    """`dead_letters` rows as the dead-letter topic carries them: keyed by the original key
    (as text), the value cut to `DEAD_LETTER_VALUE_BYTES`, with `value_bytes` (the original
    length) and `value_truncated` saying so."""
    size = F.octet_length(F.col("value"))
    truncated = F.coalesce(size > DEAD_LETTER_VALUE_BYTES, F.lit(False))
    return letters.select(
        "topic",
        "partition",
        "offset",
        F.col("key").cast("string").alias("key"),
        F.when(truncated, F.substring(F.col("value"), 1, DEAD_LETTER_VALUE_BYTES))
        .otherwise(F.col("value"))
        .alias("value"),
        size.alias("value_bytes"),
        truncated.alias("value_truncated"),
        "reason",
        "failed_at",
    )


def topic_schemas(topics: TopicsConfig) -> dict[str, EventSchema]:
    """The event schema of each configured topic that carries one of Pulse's domains."""
    return {
        topic.name: SCHEMAS[domain] for domain, topic in topics.all().items() if domain in SCHEMAS
    }
