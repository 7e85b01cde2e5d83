"""Emoji window counts, units and the top-N, compared as DataFrames with chispa."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pulse.events.domains import EMOJI
from pulse.events.spark import struct_type
from pulse.transforms.emoji import emoji_windows, rows_dropped_as_late, top_emojis, units
from pulse.transforms.eventtime import InvalidParameter
from tests.transforms.streams import run_stream

pytestmark = pytest.mark.spark

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)

WINDOWS = T.StructType(
    [
        T.StructField("match_id", T.StringType()),
        T.StructField("emoji", T.StringType()),
        T.StructField("window_start", T.TimestampType()),
        T.StructField("window_end", T.TimestampType()),
        T.StructField("count", T.LongType()),
        T.StructField("units", T.LongType()),
    ]
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def events(spark: SparkSession, *rows: tuple[str, str, str, float]) -> DataFrame:
    """Valid emoji events from (event_id, match_id, emoji, seconds after T0)."""
    data = [(event_id, "u1", match, emoji, at(s)) for event_id, match, emoji, s in rows]
    return spark.createDataFrame(data, struct_type(EMOJI))


def windows(spark: SparkSession, *rows: tuple[str, str, float, int, int]) -> DataFrame:
    """Window rows from (match_id, emoji, start second, count, units), 2 s wide."""
    data = [(m, e, at(s), at(s + 2), count, u) for m, e, s, count, u in rows]
    return spark.createDataFrame(data, WINDOWS)


def json_event(event_id: str, seconds: float, emoji: str = "🔥") -> dict[str, str]:
    ts = at(seconds).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"event_id": event_id, "user_id": "u1", "match_id": "m1", "emoji": emoji, "ts": ts}


def test_counts_each_match_and_emoji_per_two_second_window(spark):
    actual = emoji_windows(
        events(
            spark,
            ("e1", "m1", "🔥", 0.0),
            ("e2", "m1", "🔥", 1.999),
            ("e3", "m1", "🔥", 2.0),
            ("e4", "m1", "👏", 0.5),
            ("e5", "m2", "🔥", 0.5),
        ),
        window_seconds=2,
        watermark_seconds=10,
        ratio=1000,
    )
    expected = windows(
        spark,
        ("m1", "🔥", 0, 2, 1),
        ("m1", "🔥", 2, 1, 1),
        ("m1", "👏", 0, 1, 1),
        ("m2", "🔥", 0, 1, 1),
    )
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_a_repeated_event_id_is_counted_once(spark):
    actual = emoji_windows(
        events(spark, ("e1", "m1", "🔥", 0.0), ("e1", "m1", "🔥", 0.0), ("e2", "m1", "🔥", 1.0)),
        window_seconds=2,
        watermark_seconds=10,
        ratio=1,
    )
    assert_df_equality(actual, windows(spark, ("m1", "🔥", 0, 2, 2)), ignore_nullable=True)


def test_units_count_every_started_block_exactly_at_any_size(spark):
    counts = [0, 1, 999, 1000, 1001, 2**62 + 1, 2**63 - 1]
    frame = spark.createDataFrame([(c,) for c in counts], "count long")
    actual = frame.select("count", units(F.col("count"), 1000).alias("units"))
    expected = spark.createDataFrame([(c, -(-c // 1000)) for c in counts], "count long, units long")
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


@pytest.mark.parametrize("ratio", [0, -5, 2.5, True])
def test_a_ratio_below_one_or_not_whole_is_refused(spark, ratio):
    with pytest.raises(InvalidParameter, match="ratio"):
        units(F.col("count"), ratio)


def test_a_window_of_no_length_is_refused(spark):
    with pytest.raises(InvalidParameter, match="window_seconds"):
        emoji_windows(events(spark), window_seconds=0, watermark_seconds=10, ratio=1)


def test_top_emojis_ranks_the_latest_window_of_each_match_ties_by_emoji(spark):
    batch = windows(
        spark,
        ("m1", "🔥", 0, 90, 1),  # an older window of m1: ignored
        ("m1", "🔥", 2, 5, 1),
        ("m1", "👏", 2, 7, 1),
        ("m1", "😂", 2, 5, 1),
        ("m1", "😮", 2, 1, 1),
        ("m2", "⚽", 4, 3, 1),
    )
    actual = top_emojis(batch, 3)
    expected = spark.createDataFrame(
        [
            ("m1", at(2), 1, "👏", 7, 1),
            ("m1", at(2), 2, "🔥", 5, 1),  # "🔥" (U+1F525) sorts before "😂" (U+1F602)
            ("m1", at(2), 3, "😂", 5, 1),
            ("m2", at(4), 1, "⚽", 3, 1),
        ],
        "match_id string, window_start timestamp, rank int, emoji string, count long, units long",
    )
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_stream_counts_exactly_counts_late_events_and_drops_too_old_ones(spark, tmp_path: Path):
    # Watermark 5 s. Batch 0 sees ts up to 20 s, so the watermark becomes 15 s. Spark drops
    # events older than the watermark of the previous batch: nothing in batch 1, < 15 s in 2.
    batches = [
        [("e1", 14.0), ("e2", 14.5), ("e3", 15.0), ("e4", 20.0), ("e5", 14.2, "👏")],
        [("e6", 15.5), ("e3", 15.0)],  # late but within the watermark; a producer retry
        [("e7", 15.9), ("e8", 12.0), ("e9", 13.9)],  # e8 and e9: older than the watermark
    ]
    run = run_stream(
        spark,
        struct_type(EMOJI),
        [[json_event(*spec) for spec in batch] for batch in batches],
        lambda frame: emoji_windows(frame, window_seconds=2, watermark_seconds=5, ratio=2),
        tmp_path,
    )

    emitted = {
        batch_id: {(r.emoji, r.window_start.second, r["count"], r.units) for r in rows}
        for batch_id, rows in run.batches.items()
    }
    assert emitted == {
        0: {("🔥", 14, 3, 2), ("👏", 14, 1, 1), ("🔥", 20, 1, 1)},
        1: {("🔥", 14, 4, 2)},
        2: {("🔥", 14, 5, 3)},
    }
    late = {p["batchId"]: rows_dropped_as_late(p) for p in run.progress}
    assert late == {0: 0, 1: 0, 2: 2}
    # The deduplication drops them, and Spark lists it second: stateOperators[0] says 0.
    dropped = {
        op["operatorName"]: op["numRowsDroppedByWatermark"]
        for op in run.progress[2]["stateOperators"]
    }
    assert dropped == {"stateStoreSave": 0, "dedupeWithinWatermark": 2}
