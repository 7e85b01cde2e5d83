"""The lake's layers: bronze records, silver events, dead letters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pulse.config import load_config
from pulse.events.domains import EMOJI, MEDIA, PRODUCT
from pulse.kafka.source import kafka_schema
from pulse.transforms.lake import (
    DEAD_LETTER_VALUE_BYTES,
    bronze,
    dead_letter_messages,
    dead_letters,
    silver,
    topic_schemas,
)

BEFORE_MIDNIGHT = datetime(2026, 11, 22, 23, 59, 59, 500000, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 23, 0, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 0, 0, 5, tzinfo=UTC)

GOOD = {
    "event_id": "e1",
    "user_id": "u1",
    "match_id": "m1",
    "emoji": "🔥",
    "ts": "2026-11-22T23:59:59.500Z",
}
GOOD_VALUE = json.dumps(GOOD, ensure_ascii=False).encode()
PIZZA_VALUE = json.dumps({**GOOD, "emoji": "pizza"}).encode()

BRONZE = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp,"
    " timestampType int, date date, ingested_at timestamp"
)
DEAD_LETTERS = (
    "topic string, partition int, offset long, key binary, value binary, reason string,"
    " failed_at timestamp"
)


def records(spark: SparkSession, *rows: tuple) -> DataFrame:
    """Kafka records: (key, value, topic, partition, offset, timestamp), timestampType 0."""
    return spark.createDataFrame([(*row, 0) for row in rows], kafka_schema(include_headers=False))


@contextmanager
def session_time_zone(spark: SparkSession, zone: str) -> Iterator[None]:
    previous = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", zone)
    try:
        yield
    finally:
        spark.conf.set("spark.sql.session.timeZone", previous)


@pytest.mark.spark
def test_bronze_keeps_records_as_they_came_with_utc_date_and_ingested_at(spark):
    actual = bronze(
        records(
            spark,
            (b"m1", GOOD_VALUE, "emoji.reactions", 1, 7, BEFORE_MIDNIGHT),
            (None, b"\xff not json", "emoji.reactions", 0, 3, MIDNIGHT),
        ),
        ingested_at=F.lit(NOW),
    )
    expected = spark.createDataFrame(
        [
            (
                b"m1",
                GOOD_VALUE,
                "emoji.reactions",
                1,
                7,
                BEFORE_MIDNIGHT,
                0,
                date(2026, 11, 22),
                NOW,
            ),
            (None, b"\xff not json", "emoji.reactions", 0, 3, MIDNIGHT, 0, date(2026, 11, 23), NOW),
        ],
        BRONZE,
    )
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


@pytest.mark.spark
def test_bronze_date_is_the_utc_date_whatever_the_session_time_zone(spark):
    frame = records(spark, (None, b"{}", "t", 0, 0, MIDNIGHT))
    with session_time_zone(spark, "America/Los_Angeles"):
        dates = [row.date for row in bronze(frame).select("date").collect()]
    assert dates == [date(2026, 11, 23)]


@pytest.mark.spark
def test_silver_has_the_typed_valid_events_with_origin_and_event_date(spark):
    actual = silver(
        records(
            spark,
            (b"m1", GOOD_VALUE, "emoji.reactions", 2, 40, MIDNIGHT),
            (b"m1", PIZZA_VALUE, "emoji.reactions", 2, 41, MIDNIGHT),
        ),
        EMOJI,
    )
    expected = spark.createDataFrame(
        [
            (
                "e1",
                "u1",
                "m1",
                "🔥",
                BEFORE_MIDNIGHT,
                "emoji.reactions",
                2,
                40,
                MIDNIGHT,
                date(2026, 11, 22),
            )
        ],
        "event_id string, user_id string, match_id string, emoji string, ts timestamp,"
        " kafka_topic string, kafka_partition int, kafka_offset long, kafka_timestamp timestamp,"
        " date date",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


@pytest.mark.spark
def test_silver_dates_media_events_by_their_timestamp_field(spark):
    value = json.dumps(
        {
            "id": "me-1",
            "timestamp": "2026-11-23T00:00:00Z",
            "type": "play",
            "user": "u-1",
            "metadata": {"quality": "720p", "device": "tv", "duration_ms": 1, "content_id": "c"},
        }
    ).encode()
    actual = silver(records(spark, (b"me-1", value, "media.events", 0, 0, BEFORE_MIDNIGHT)), MEDIA)
    assert_df_equality(
        actual.select("id", "timestamp", "date"),
        spark.createDataFrame(
            [("me-1", MIDNIGHT, date(2026, 11, 23))], "id string, timestamp timestamp, date date"
        ),
        ignore_nullable=True,
    )


@pytest.mark.spark
def test_dead_letters_carry_topic_origin_key_raw_value_and_reason(spark):
    product_bad = b'{"change_id": "c1"'
    actual = dead_letters(
        records(
            spark,
            (b"m1", GOOD_VALUE, "emoji.reactions", 0, 10, MIDNIGHT),
            (b"m1", PIZZA_VALUE, "emoji.reactions", 0, 11, MIDNIGHT),
            (b"sku-1", product_bad, "product.changes", 3, 5, MIDNIGHT),
            (None, None, "product.changes", 3, 6, MIDNIGHT),
        ),
        {"emoji.reactions": EMOJI, "product.changes": PRODUCT},
        failed_at=F.lit(NOW),
    )
    emoji_reason = (
        "field 'emoji' must be one of 🔥, 👏, 😂, 😮, 😢, ❤️, 🎉, 🏏, ⚽, 💯 (got 'pizza')"
    )
    expected = spark.createDataFrame(
        [
            ("emoji.reactions", 0, 11, b"m1", PIZZA_VALUE, emoji_reason, NOW),
            (
                "product.changes",
                3,
                5,
                b"sku-1",
                product_bad,
                'malformed JSON or a field of the wrong type: {"change_id": "c1"',
                NOW,
            ),
            ("product.changes", 3, 6, None, None, "empty record: the value is null", NOW),
        ],
        DEAD_LETTERS,
    )
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


@pytest.mark.spark
def test_a_dead_letter_message_carries_at_most_64_kib_of_the_value_and_says_so(spark):
    limit = DEAD_LETTER_VALUE_BYTES
    letters = spark.createDataFrame(
        [
            ("t", 0, 1, b"k", b"x" * (limit + 1), "too long", NOW),
            ("t", 0, 2, b"k", b"y" * limit, "just fits", NOW),
            ("t", 0, 3, None, None, "empty", NOW),
        ],
        DEAD_LETTERS,
    )
    expected = spark.createDataFrame(
        [
            ("t", 0, 1, "k", b"x" * limit, limit + 1, True, "too long", NOW),
            ("t", 0, 2, "k", b"y" * limit, limit, False, "just fits", NOW),
            ("t", 0, 3, None, None, None, False, "empty", NOW),
        ],
        "topic string, partition int, offset long, key string, value binary, value_bytes int,"
        " value_truncated boolean, reason string, failed_at timestamp",
    )

    assert_df_equality(
        dead_letter_messages(letters), expected, ignore_nullable=True, ignore_row_order=True
    )


@pytest.mark.spark
def test_records_of_a_topic_with_no_schema_are_dead_letters(spark):
    actual = dead_letters(
        records(
            spark,
            (b"k", GOOD_VALUE, "emoji.reactions", 0, 0, MIDNIGHT),
            (b"k", b"hello", "mystery.topic", 1, 9, MIDNIGHT),
        ),
        {"emoji.reactions": EMOJI},
        failed_at=F.lit(NOW),
    )
    expected = spark.createDataFrame(
        [
            (
                "mystery.topic",
                1,
                9,
                b"k",
                b"hello",
                "unknown topic 'mystery.topic': no event schema is registered",
                NOW,
            )
        ],
        DEAD_LETTERS,
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_every_configured_domain_topic_maps_to_its_schema():
    topics = load_config(environ={}).topics
    by_topic = {topic: schema.domain for topic, schema in topic_schemas(topics).items()}
    assert by_topic == {
        "game.updates": "game",
        "sports.scores": "sports",
        "emoji.reactions": "emoji",
        "product.changes": "product",
        "media.events": "media",
        "platform.monitoring": "monitoring",
    }
