"""Per-topic monitoring rollups of raw records: counts, bytes and end-to-end latency."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pulse.events.domains import MONITORING
from pulse.kafka.source import kafka_schema
from pulse.progress import batch_report
from pulse.transforms.monitoring import batch_reports, topic_rollups
from pulse.transforms.parse import parse_events, valid_events
from tests.test_progress import PROGRESS

pytestmark = pytest.mark.spark

PROCESSED = datetime(2026, 11, 22, 20, 15, 3, 200000, tzinfo=UTC)
WINDOW = datetime(2026, 11, 22, 20, 15, 2, tzinfo=UTC)
KAFKA_TS = datetime(2026, 11, 22, 20, 15, 3, 100000, tzinfo=UTC)

ROLLUPS = (
    "topic string, window_start timestamp, records long, bytes long, latency_p50_ms double,"
    " latency_p95_ms double, latency_max_ms double"
)


def records(spark: SparkSession, *rows: tuple) -> DataFrame:
    """Kafka records: (key, value, topic, timestamp); partition 0, offsets in order."""
    return spark.createDataFrame(
        [
            (key, value, topic, 0, offset, ts, 0)
            for offset, (key, value, topic, ts) in enumerate(rows)
        ],
        kafka_schema(include_headers=False),
    )


def test_rollups_count_records_bytes_and_latency_per_topic(spark):
    frame = records(
        spark,
        (b"m1", b'{"ts":"2026-11-22T20:15:03.000Z"}', "emoji.reactions", KAFKA_TS),  # 33 bytes
        (b"m1", b'{"ts":"2026-11-22T20:15:02.700Z"}', "emoji.reactions", KAFKA_TS),
        (b"m2", b'{"ts":"2026-11-22T20:15:01.200Z"}', "emoji.reactions", KAFKA_TS),
        (
            b"me-1",
            b'{"id":"me-1","timestamp":"2026-11-22T20:15:02.200Z"}',
            "media.events",
            KAFKA_TS,
        ),
    )
    actual = topic_rollups(frame, window_seconds=2, processed_at=F.lit(PROCESSED))
    expected = spark.createDataFrame(
        [
            ("emoji.reactions", WINDOW, 3, 3 * (2 + 33), 500.0, 2000.0, 2000.0),
            ("media.events", WINDOW, 1, 4 + 52, 1000.0, 1000.0, 1000.0),
        ],
        ROLLUPS,
    )
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_records_without_a_json_event_time_use_the_kafka_timestamp(spark):
    frame = records(
        spark,
        (None, b"not json", "raw.topic", KAFKA_TS),
        (None, b'{"ts":"yesterday"}', "raw.topic", KAFKA_TS),
        (None, None, "raw.topic", KAFKA_TS),
    )
    actual = topic_rollups(frame, window_seconds=2, processed_at=F.lit(PROCESSED))
    expected = spark.createDataFrame(
        [("raw.topic", WINDOW, 3, 8 + 18, 100.0, 100.0, 100.0)], ROLLUPS
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_windows_are_of_processing_time_not_of_the_record_timestamps(spark):
    early = datetime(2026, 11, 22, 20, 14, 0, tzinfo=UTC)
    frame = records(
        spark,
        (None, b'{"ts":"2026-11-22T20:14:00.000Z"}', "t", early),
        (None, b'{"ts":"2026-11-22T20:15:03.000Z"}', "t", KAFKA_TS),
    ).withColumn(
        "processed_at",
        F.when(F.col("offset") == 0, F.lit(PROCESSED)).otherwise(
            F.lit(datetime(2026, 11, 22, 20, 15, 4, 200000, tzinfo=UTC))
        ),
    )
    actual = topic_rollups(frame, window_seconds=2, processed_at=F.col("processed_at"))
    expected = spark.createDataFrame(
        [
            ("t", WINDOW, 1, 33, 63200.0, 63200.0, 63200.0),
            ("t", datetime(2026, 11, 22, 20, 15, 4, tzinfo=UTC), 1, 33, 1200.0, 1200.0, 1200.0),
        ],
        ROLLUPS,
    )
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_a_window_that_is_not_positive_is_refused(spark):
    frame = records(spark, (None, b"{}", "t", KAFKA_TS))
    with pytest.raises(ValueError, match="window_seconds must be positive"):
        topic_rollups(frame, window_seconds=0)


def test_batch_reports_bring_late_rows_and_lag_to_the_dashboard_tables(spark):
    value = json.dumps(batch_report("live", PROGRESS)).encode()
    records = spark.createDataFrame(
        [(None, value, "platform.monitoring", 0, 0, datetime.now(UTC), 0)],  # as produced
        kafka_schema(include_headers=False),
    )
    rows = batch_reports(valid_events(parse_events(records, MONITORING))).collect()
    assert [(r.query, r.batch_id, r.rows, r.late_rows, r.lag) for r in rows] == [
        ("emoji_windows", 7, 1200, 3, 30)
    ]
