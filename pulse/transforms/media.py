"""Multimedia events enriched for the PostgreSQL `events` table (and Redis `event:<id>`).

The rules that turn a quality, a device and a duration into a tier, a class and a bucket are the
three tables below, the one place to change them; the column expressions are derived from them.
Tests check that every choice the MEDIA schema allows has a tier and a class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pulse.transforms.latest import latest_per_key

QUALITY_TIERS: Mapping[str, str] = MappingProxyType(
    {"240p": "sd", "360p": "sd", "480p": "sd", "720p": "hd", "1080p": "hd", "2160p": "uhd"}
)

DEVICE_CLASSES: Mapping[str, str] = MappingProxyType(
    {"mobile": "handheld", "tablet": "handheld", "desktop": "desktop", "tv": "living-room"}
)

# (exclusive upper bound in ms, bucket), checked in order; None: no upper bound.
DURATION_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (30_000, "short"),
    (300_000, "medium"),
    (None, "long"),
)

UNKNOWN_SEGMENT = "unknown"

# The PostgreSQL `events` table, in order; `processed_at` is the table's default.
EVENTS_COLUMNS: tuple[str, ...] = (
    "id",
    "ts",
    "type",
    "user_id",
    "quality",
    "quality_tier",
    "device",
    "device_class",
    "duration_ms",
    "duration_bucket",
    "content_id",
    "user_segment",
)


def enrich_media(events: DataFrame, segments: DataFrame) -> DataFrame:
    """Valid media events as `events` rows: one per id (the latest by ts), enriched.

    `events` has the MEDIA fields (extra columns such as the Kafka origin are ignored);
    `segments` is the dimension `(user_id, segment)`, joined by broadcast: it is small (one row
    per user) and a broadcast join needs no shuffle of the events. A user missing from it gets
    "unknown". The dimension is reduced to one segment per user (the first by name) before the
    join, so that a duplicated user there can never duplicate an event id, which would make the
    sink's upsert by id fail the batch.
    """
    flat = events.select(
        "id",
        F.col("timestamp").alias("ts"),
        "type",
        F.col("user").alias("user_id"),
        F.col("metadata.quality").alias("quality"),
        F.col("metadata.device").alias("device"),
        F.col("metadata.duration_ms").alias("duration_ms"),
        F.col("metadata.content_id").alias("content_id"),
    )
    latest = latest_per_key(flat, ["id"], [F.col("ts").desc()])
    dimension = segments.groupBy("user_id").agg(F.min("segment").alias("segment"))
    enriched = latest.join(F.broadcast(dimension), on="user_id", how="left").select(
        "*",
        _lookup(QUALITY_TIERS, F.col("quality")).alias("quality_tier"),
        _lookup(DEVICE_CLASSES, F.col("device")).alias("device_class"),
        _bucket(F.col("duration_ms"), DURATION_BUCKETS).alias("duration_bucket"),
        F.coalesce(F.col("segment"), F.lit(UNKNOWN_SEGMENT)).alias("user_segment"),
    )
    return enriched.select(*EVENTS_COLUMNS)


def _lookup(table: Mapping[str, str], value: Column) -> Column:
    """`table[value]` as a map literal; null for a value the table does not know (or null)."""
    pairs = [F.lit(item) for entry in table.items() for item in entry]
    return F.create_map(*pairs)[value]


def _bucket(value: Column, bounds: Sequence[tuple[int | None, str]]) -> Column:
    """The name of the first bound that `value` is below; null stays null."""
    chained: Column | None = None
    for upper, name in bounds:
        below = value.isNotNull() if upper is None else value < F.lit(upper)
        chained = F.when(below, name) if chained is None else chained.when(below, name)
    assert chained is not None, "no duration buckets declared"
    return chained
