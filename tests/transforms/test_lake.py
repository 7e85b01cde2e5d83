"""The lake's layers from a batch of raw records: bronze records, silver events, dead letters."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa

from pulse.config import load_config
from pulse.events.domains import EMOJI, MEDIA, PRODUCT
from pulse.transforms.lake import (
    DEAD_LETTER_VALUE_BYTES,
    dead_letter_messages,
    lake_layers,
    topic_schemas,
)

BEFORE_MIDNIGHT = datetime(2026, 11, 22, 23, 59, 59, 500000, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 23, 0, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 0, 0, 5, tzinfo=UTC)
UTC_MICROS = pa.timestamp("us", tz="UTC")

GOOD = {
    "event_id": "e1",
    "user_id": "u1",
    "match_id": "m1",
    "emoji": "🔥",
    "ts": "2026-11-22T23:59:59.500Z",
}
GOOD_VALUE = json.dumps(GOOD, ensure_ascii=False).encode()
PIZZA_VALUE = json.dumps({**GOOD, "emoji": "pizza"}).encode()
SCHEMAS = {"emoji.reactions": EMOJI, "product.changes": PRODUCT, "media.events": MEDIA}

# The types Spark's Delta writer gives the same tables (the Kafka source's schema).
BRONZE = pa.schema(
    [
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", UTC_MICROS),
        ("timestampType", pa.int32()),
        ("date", pa.date32()),
        ("ingested_at", UTC_MICROS),
    ]
)


def records(*rows: tuple) -> pa.Table:
    """Kafka records as the lake query collects them: (key, value, topic, partition, offset,
    timestamp), timestampType 0."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * 6
    return pa.table(
        {
            "key": pa.array(columns[0], pa.binary()),
            "value": pa.array(columns[1], pa.binary()),
            "topic": pa.array(columns[2], pa.string()),
            "partition": pa.array(columns[3], pa.int32()),
            "offset": pa.array(columns[4], pa.int64()),
            "timestamp": pa.array(columns[5], UTC_MICROS),
            "timestampType": pa.array([0] * len(rows), pa.int32()),
        }
    )


def test_bronze_keeps_records_as_they_came_with_utc_date_and_ingested_at():
    batch = records(
        (b"m1", GOOD_VALUE, "emoji.reactions", 1, 7, BEFORE_MIDNIGHT),
        (None, b"\xff not json", "emoji.reactions", 0, 3, MIDNIGHT),
    )
    bronze = lake_layers(batch, SCHEMAS, now=NOW).bronze
    assert bronze.schema == BRONZE
    assert bronze.to_pylist() == [
        {**row, "timestampType": 0, "date": day, "ingested_at": NOW}
        for row, day in zip(
            batch.drop_columns("timestampType").to_pylist(),
            (date(2026, 11, 22), date(2026, 11, 23)),
            strict=True,
        )
    ]


def test_silver_has_the_typed_valid_events_with_origin_and_event_date():
    batch = records(
        (b"m1", GOOD_VALUE, "emoji.reactions", 2, 40, MIDNIGHT),
        (b"m1", PIZZA_VALUE, "emoji.reactions", 2, 41, MIDNIGHT),
    )
    silver = lake_layers(batch, SCHEMAS, now=NOW).silver
    assert silver["emoji.reactions"].to_pylist() == [
        {
            **GOOD,
            "ts": BEFORE_MIDNIGHT,
            "kafka_topic": "emoji.reactions",
            "kafka_partition": 2,
            "kafka_offset": 40,
            "kafka_timestamp": MIDNIGHT,
            "date": date(2026, 11, 22),
        }
    ]
    assert silver["emoji.reactions"].schema.field("kafka_partition").type == pa.int32()
    assert silver["product.changes"].num_rows == silver["media.events"].num_rows == 0


def test_silver_dates_media_events_by_their_timestamp_field():
    value = json.dumps(
        {
            "id": "me-1",
            "timestamp": "2026-11-23T00:00:00Z",
            "type": "play",
            "user": "u-1",
            "metadata": {"quality": "720p", "device": "tv", "duration_ms": 1, "content_id": "c"},
        }
    ).encode()
    batch = records((b"me-1", value, "media.events", 0, 0, BEFORE_MIDNIGHT))
    (row,) = lake_layers(batch, SCHEMAS, now=NOW).silver["media.events"].to_pylist()
    assert (row["id"], row["timestamp"], row["date"]) == ("me-1", MIDNIGHT, date(2026, 11, 23))
    assert row["metadata"]["quality"] == "720p"


def test_dead_letters_carry_topic_origin_key_raw_value_and_reason():
    product_bad = b'{"change_id": "c1"'
    batch = records(
        (b"m1", GOOD_VALUE, "emoji.reactions", 0, 10, MIDNIGHT),
        (b"m1", PIZZA_VALUE, "emoji.reactions", 0, 11, MIDNIGHT),
        (b"sku-1", product_bad, "product.changes", 3, 5, MIDNIGHT),
        (None, None, "product.changes", 3, 6, MIDNIGHT),
        (b"k", b"hello", "mystery.topic", 1, 9, MIDNIGHT),
    )
    letters = lake_layers(batch, SCHEMAS, now=NOW).letters
    emoji_reason = (
        "field 'emoji' must be one of 🔥, 👏, 😂, 😮, 😢, ❤️, 🎉, 🏏, ⚽, 💯 (got 'pizza')"
    )
    unknown = "unknown topic 'mystery.topic': no event schema is registered"
    assert [tuple(row.values()) for row in letters.to_pylist()] == [
        ("emoji.reactions", 0, 11, b"m1", PIZZA_VALUE, emoji_reason, NOW),
        (
            "product.changes",
            3,
            5,
            b"sku-1",
            product_bad,
            f"malformed JSON: {product_bad.decode()}",
            NOW,
        ),
        ("product.changes", 3, 6, None, None, "empty record: the value is null", NOW),
        ("mystery.topic", 1, 9, b"k", b"hello", unknown, NOW),
    ]


def test_a_dead_letter_message_carries_at_most_64_kib_of_the_value_and_says_so():
    limit = DEAD_LETTER_VALUE_BYTES
    letters = pa.table(
        {
            "topic": ["t", "t", "t"],
            "partition": pa.array([0, 0, 0], pa.int32()),
            "offset": [1, 2, 3],
            "key": pa.array([b"k", b"k", None], pa.binary()),
            "value": pa.array([b"x" * (limit + 1), b"y" * limit, None], pa.binary()),
            "reason": ["too long", "just fits", "empty"],
            "failed_at": pa.array([NOW] * 3, UTC_MICROS),
        }
    )
    messages = dead_letter_messages(letters).to_pylist()
    assert [(m["key"], m["value"], m["value_bytes"], m["value_truncated"]) for m in messages] == [
        ("k", b"x" * limit, limit + 1, True),
        ("k", b"y" * limit, limit, False),
        (None, None, None, False),
    ]
    assert [m["reason"] for m in messages] == ["too long", "just fits", "empty"]


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
