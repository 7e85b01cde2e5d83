"""Media enrichment: tier, device class, duration bucket and user segment, one row per id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from pulse.events.domains import MEDIA
from pulse.events.spark import struct_type
from pulse.transforms.media import DEVICE_CLASSES, QUALITY_TIERS, enrich_media

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 20, 15, 1, 500000, tzinfo=UTC)

EVENTS = T.StructType(
    [
        T.StructField("id", T.StringType()),
        T.StructField("ts", T.TimestampType()),
        T.StructField("type", T.StringType()),
        T.StructField("user_id", T.StringType()),
        T.StructField("quality", T.StringType()),
        T.StructField("quality_tier", T.StringType()),
        T.StructField("device", T.StringType()),
        T.StructField("device_class", T.StringType()),
        T.StructField("duration_ms", T.LongType()),
        T.StructField("duration_bucket", T.StringType()),
        T.StructField("content_id", T.StringType()),
        T.StructField("user_segment", T.StringType()),
    ]
)


def media(spark: SparkSession, *rows: tuple) -> DataFrame:
    """Valid media events: (id, timestamp, type, user, (quality, device, duration_ms, content))."""
    return spark.createDataFrame(list(rows), struct_type(MEDIA))


def segments(spark: SparkSession, *rows: tuple[str, str]) -> DataFrame:
    return spark.createDataFrame(list(rows), "user_id string, segment string")


def expected(spark: SparkSession, *rows: tuple) -> DataFrame:
    return spark.createDataFrame(list(rows), EVENTS)


@pytest.mark.spark
def test_media_events_are_enriched_into_events_rows(spark):
    actual = enrich_media(
        media(
            spark,
            ("me-1", T0, "play", "u-1", ("1080p", "tv", 184_000, "c-1")),
            ("me-2", T1, "view", "u-2", ("360p", "mobile", 12_000, "c-2")),
            ("me-3", T1, "like", "u-1", ("2160p", "desktop", 3_600_000, "c-3")),
            ("me-4", T0, "share", "u-2", ("480p", "tablet", 45_000, "c-4")),
        ),
        segments(spark, ("u-1", "premium"), ("u-2", "casual")),
    )
    # fmt: off
    rows = [
        ("me-1", T0, "play", "u-1", "1080p", "hd", "tv", "living-room",
         184_000, "medium", "c-1", "premium"),
        ("me-2", T1, "view", "u-2", "360p", "sd", "mobile", "handheld",
         12_000, "short", "c-2", "casual"),
        ("me-3", T1, "like", "u-1", "2160p", "uhd", "desktop", "desktop",
         3_600_000, "long", "c-3", "premium"),
        ("me-4", T0, "share", "u-2", "480p", "sd", "tablet", "handheld",
         45_000, "medium", "c-4", "casual"),
    ]
    # fmt: on
    assert_df_equality(actual, expected(spark, *rows), ignore_nullable=True, ignore_row_order=True)


@pytest.mark.spark
def test_duration_buckets_split_at_30_seconds_and_5_minutes_and_keep_null(spark):
    actual = enrich_media(
        media(
            spark,
            ("a", T0, "play", "u", ("720p", "tv", 29_999, "c")),
            ("b", T0, "play", "u", ("720p", "tv", 30_000, "c")),
            ("c", T0, "play", "u", ("720p", "tv", 299_999, "c")),
            ("d", T0, "play", "u", ("720p", "tv", 300_000, "c")),
            ("e", T0, "play", "u", ("720p", "tv", None, "c")),
        ),
        segments(spark),
    ).select("id", "duration_ms", "duration_bucket")
    assert_df_equality(
        actual,
        spark.createDataFrame(
            [
                ("a", 29_999, "short"),
                ("b", 30_000, "medium"),
                ("c", 299_999, "medium"),
                ("d", 300_000, "long"),
                ("e", None, None),
            ],
            "id string, duration_ms long, duration_bucket string",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


@pytest.mark.spark
def test_a_user_missing_from_the_segments_is_unknown(spark):
    actual = enrich_media(
        media(spark, ("me-1", T0, "view", "u-new", ("720p", "desktop", 1_000, "c-1"))),
        segments(spark, ("u-1", "premium")),
    )
    # fmt: off
    row = ("me-1", T0, "view", "u-new", "720p", "hd", "desktop", "desktop",
           1_000, "short", "c-1", "unknown")
    # fmt: on
    assert_df_equality(actual, expected(spark, row), ignore_nullable=True)


@pytest.mark.spark
def test_a_repeated_id_keeps_the_latest_event_by_ts(spark):
    actual = enrich_media(
        media(
            spark,
            ("me-1", T1, "pause", "u-1", ("720p", "tv", 60_000, "c-1")),
            ("me-1", T0, "play", "u-1", ("720p", "tv", 60_000, "c-1")),
            ("me-2", T0, "view", "u-1", ("240p", "mobile", 1_000, "c-2")),
        ),
        segments(spark, ("u-1", "premium")),
    )
    # fmt: off
    rows = [
        ("me-1", T1, "pause", "u-1", "720p", "hd", "tv", "living-room",
         60_000, "medium", "c-1", "premium"),
        ("me-2", T0, "view", "u-1", "240p", "sd", "mobile", "handheld",
         1_000, "short", "c-2", "premium"),
    ]
    # fmt: on
    assert_df_equality(actual, expected(spark, *rows), ignore_nullable=True, ignore_row_order=True)


@pytest.mark.spark
def test_a_user_twice_in_the_segments_never_duplicates_an_event(spark):
    actual = enrich_media(
        media(spark, ("me-1", T0, "view", "u-1", ("720p", "tv", 1_000, "c-1"))),
        segments(spark, ("u-1", "premium"), ("u-1", "casual")),
    ).select("id", "user_segment")
    assert_df_equality(
        actual,
        spark.createDataFrame([("me-1", "casual")], "id string, user_segment string"),
        ignore_nullable=True,
    )


def test_every_quality_and_device_of_the_schema_has_a_tier_and_a_class():
    metadata = {field.name: field for field in MEDIA.field("metadata").fields}
    assert set(QUALITY_TIERS) == set(metadata["quality"].choices)
    assert set(DEVICE_CLASSES) == set(metadata["device"].choices)
