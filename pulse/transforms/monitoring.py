"""Per-topic monitoring rollups of raw Kafka records, for PostgreSQL `monitoring_rollups`.

The monitor job reads the raw records of every topic, so the event time of a record is read
from its JSON without a schema: `$.ts`, else `$.timestamp` (media events), else the Kafka
timestamp when the value has neither (or is not JSON).

Windows are of processing time (`processed_at`), not of the Kafka or the event timestamp. Spark
starts each micro-batch at or after the next multiple of the trigger interval and gives it one
batch timestamp, so with windows as long as the trigger each batch fills exactly one window per
topic, and:
- a rollup row is complete when its batch ends: no window straddles two batches, so the sink's
  upsert by (topic, window_start) never overwrites half a window with the other half, and no
  streaming state is needed;
- the row lines up with what is measured per batch, the consumer lag and the batch duration
  that the job adds to the same row;
- records and bytes are what Pulse processed in the window; after a backlog that is the
  catch-up, which is what monitoring should show. Arrival rates are in the Kafka timestamps,
  should a notebook want them.
Replays are harmless: the sink's ledger skips a batch it already committed.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pulse.kafka.lag import consumer_lag

__all__ = ["ROLLUP_COLUMNS", "consumer_lag", "event_time", "topic_rollups"]

# The columns of `monitoring_rollups` that records give; lag and batch_duration_ms come from the
# query's progress.
ROLLUP_COLUMNS: tuple[str, ...] = (
    "topic",
    "window_start",
    "records",
    "bytes",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_max_ms",
)


def event_time(value: Column, fallback: Column) -> Column:
    """The event time in a JSON value (`$.ts`, then `$.timestamp`), else `fallback`.

    try_cast: a value that is not a timestamp falls through instead of failing the batch (the
    session runs with ANSI casts). Coalesce stops at the first hit, so most records are parsed
    for one path only.
    """
    text = value.cast("string")
    return F.coalesce(
        F.get_json_object(text, "$.ts").try_cast("timestamp"),
        F.get_json_object(text, "$.timestamp").try_cast("timestamp"),
        fallback,
    )


def topic_rollups(
    records: DataFrame, *, window_seconds: float, processed_at: Column | None = None
) -> DataFrame:
    """Per topic and processing-time window: records, bytes, end-to-end latency p50/p95/max.

    bytes: the sum of key and value lengths. Latency: `processed_at - event time` in ms, kept
    as measured (a negative value is a producer's clock ahead of ours; clamping would hide it);
    p50/p95 by `percentile_approx`, which returns a latency that was observed.

    `processed_at` defaults to current_timestamp(). Inside foreachBatch that is the time the
    rollup is planned; a job gets the micro-batch's own trigger time instead by adding
    `current_timestamp()` as a column of the streaming frame (Spark fills in the batch
    timestamp there) and passing that column, so every sink sees the same window.
    """
    if window_seconds <= 0:
        raise ValueError(f"window_seconds must be positive (got {window_seconds})")
    now = processed_at if processed_at is not None else F.current_timestamp()
    window = F.window(now, f"{round(window_seconds * 1_000_000)} microseconds")
    size = F.coalesce(F.octet_length("key"), F.lit(0)) + F.coalesce(
        F.octet_length("value"), F.lit(0)
    )
    latency = (
        F.unix_micros(now) - F.unix_micros(event_time(F.col("value"), F.col("timestamp")))
    ) / 1000.0
    measured = records.select(
        "topic",
        window.start.alias("window_start"),
        size.cast("long").alias("size"),
        latency.alias("latency_ms"),
    )
    return measured.groupBy("topic", "window_start").agg(
        F.count(F.lit(1)).alias("records"),
        F.sum("size").alias("bytes"),
        F.percentile_approx("latency_ms", 0.5).alias("latency_p50_ms"),
        F.percentile_approx("latency_ms", 0.95).alias("latency_p95_ms"),
        F.max("latency_ms").alias("latency_max_ms"),
    )


BATCH_COLUMNS: tuple[str, ...] = (
    "query",
    "batch_id",
    "component",
    "reported_at",
    "rows",
    "duration_ms",
    "rows_per_second",
    "late_rows",
    "lag",
)
ACK_COLUMNS: tuple[str, ...] = ("event_id", "kind", "component", "topic", "acked_at", "latency_ms")


def batch_reports(events: DataFrame) -> DataFrame:
    """The jobs' per-batch progress reports (monitoring events of kind `batch`): `BATCH_COLUMNS`."""
    detail = F.col("detail")

    def field(name: str, kind: str) -> Column:
        return F.get_json_object(detail, f"$.{name}").try_cast(kind)

    return events.where(F.col("kind") == "batch").select(
        F.coalesce(F.get_json_object(detail, "$.query"), F.col("component")).alias("query"),
        F.coalesce(field("batch_id", "long"), F.lit(-1)).alias("batch_id"),
        "component",
        F.col("ts").alias("reported_at"),
        F.coalesce(F.col("count"), F.lit(0)).alias("rows"),
        F.coalesce(F.col("latency_ms"), F.lit(0.0)).alias("duration_ms"),
        field("processed_rows_per_second", "double").alias("rows_per_second"),
        F.coalesce(field("late_rows", "long"), F.lit(0)).alias("late_rows"),
        field("lag", "long").alias("lag"),
    )


def ack_rows(events: DataFrame) -> DataFrame:
    """Producer and processing acknowledgements, one row per (event id, kind, component)."""
    acks = events.where(
        F.col("kind").isin("producer_ack", "processing_ack") & F.col("event_id").isNotNull()
    )
    latest = acks.groupBy("event_id", "kind", "component").agg(
        F.max_by(F.struct("topic", "ts", "latency_ms"), "ts").alias("last")
    )
    return latest.select(
        "event_id",
        "kind",
        "component",
        F.col("last.topic").alias("topic"),
        F.col("last.ts").alias("acked_at"),
        F.col("last.latency_ms").alias("latency_ms"),
    )
