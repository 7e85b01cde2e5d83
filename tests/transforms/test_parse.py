"""Parsing Kafka records into typed events, compared as DataFrames with chispa."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from itertools import islice

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pulse.events import SCHEMAS, example
from pulse.events.domains import EMOJI, GAME, MEDIA, MONITORING, PRODUCT, SPORTS
from pulse.events.schema import EventSchema, wire_bytes
from pulse.events.spark import struct_type
from pulse.kafka.source import kafka_schema
from pulse.simulate import GENERATORS
from pulse.simulate.bad import BAD_KINDS, malformed
from pulse.transforms.parse import in_wire_form, invalid_events, parse_events, valid_events

pytestmark = pytest.mark.spark

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 20, 15, 1, 500000, tzinfo=UTC)


def records(spark: SparkSession, *values: bytes | None, topic: str = "t") -> DataFrame:
    """A DataFrame shaped like `read_kafka`'s output, one record per value."""
    rows = [(None, value, topic, 0, offset, T0, 0) for offset, value in enumerate(values)]
    return spark.createDataFrame(rows, kafka_schema(include_headers=False))


def events(spark: SparkSession, schema: EventSchema, *rows: tuple) -> DataFrame:
    return spark.createDataFrame(list(rows), struct_type(schema))


def parsed(spark: SparkSession, schema: EventSchema, *payloads: dict) -> DataFrame:
    values = [json.dumps(payload, ensure_ascii=False).encode() for payload in payloads]
    return valid_events(parse_events(records(spark, *values), schema)).select(
        *[field.name for field in schema.fields]
    )


def test_emoji_reactions_parse_into_typed_rows(spark):
    actual = parsed(
        spark,
        EMOJI,
        {
            "event_id": "e1",
            "user_id": "u1",
            "match_id": "m1",
            "emoji": "🔥",
            "ts": "2026-11-22T20:15:00.000Z",
        },
        {
            "event_id": "e2",
            "user_id": "u2",
            "match_id": "m1",
            "emoji": "👏",
            "ts": "2026-11-22T20:15:01.500Z",
        },
    )
    expected = events(spark, EMOJI, ("e1", "u1", "m1", "🔥", T0), ("e2", "u2", "m1", "👏", T1))
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_sports_events_parse_with_their_player_stat_deltas(spark):
    payload = {
        "event_id": "s1",
        "match_id": "m1",
        "sequence": 7,
        "kind": "goal",
        "home_team": "Lions",
        "away_team": "Tigers",
        "home_score": 2,
        "away_score": 1,
        "period": 2,
        "status": "live",
        "ts": "2026-11-22T20:15:00Z",
        "player_stats": [{"player_id": "p9", "team": "home", "stat": "goals", "delta": 1}],
    }
    actual = parsed(spark, SPORTS, payload)
    expected = events(
        spark,
        SPORTS,
        (
            "s1",
            "m1",
            7,
            "goal",
            "Lions",
            "Tigers",
            2,
            1,
            2,
            "live",
            [("p9", "home", "goals", 1)],
            T0,
        ),
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_game_updates_parse_with_optional_fields_left_null(spark):
    payload = {
        "update_id": "g1",
        "game_id": "g-7",
        "kind": "news",
        "title": "Season 3",
        "priority": 0,
        "ts": "2026-11-22T20:15:00.000+00:00",
    }
    actual = parsed(spark, GAME, payload)
    expected = events(spark, GAME, ("g1", "g-7", "news", "Season 3", None, None, 0, T0))
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_product_changes_parse_with_before_and_after_images(spark):
    after = {"name": "Shoe", "category": "footwear", "price": 89.9, "currency": "EUR", "stock": 3}
    payload = {
        "change_id": "c1",
        "product_id": "sku-1",
        "version": 1,
        "op": "create",
        "source": "cdc",
        "after": after,
        "ts": "2026-11-22T20:15:00Z",
    }
    actual = parsed(spark, PRODUCT, payload)
    expected = events(
        spark,
        PRODUCT,
        ("c1", "sku-1", 1, "create", "cdc", None, ("Shoe", "footwear", 89.9, "EUR", 3), T0),
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_media_events_parse_in_the_seed_format(spark):
    payload = {
        "id": "me-1",
        "timestamp": "2026-11-22T20:15:01.500Z",
        "type": "play",
        "user": "u-9",
        "metadata": {"quality": "720p", "device": "tv", "duration_ms": 5000, "content_id": "c-3"},
    }
    actual = parsed(spark, MEDIA, payload)
    expected = events(spark, MEDIA, ("me-1", T1, "play", "u-9", ("720p", "tv", 5000, "c-3")))
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_monitoring_events_parse(spark):
    payload = {
        "id": "mon-1",
        "ts": "2026-11-22T20:15:00Z",
        "component": "ingest",
        "kind": "producer_ack",
        "topic": "emoji.reactions",
        "event_id": "e1",
        "partition": 2,
        "offset": 41,
        "latency_ms": 3.25,
    }
    actual = parsed(spark, MONITORING, payload)
    expected = events(
        spark,
        MONITORING,
        (
            "mon-1",
            T0,
            "ingest",
            "producer_ack",
            "emoji.reactions",
            "e1",
            2,
            41,
            None,
            3.25,
            None,
            None,
            None,
        ),
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_bad_records_carry_a_reason_naming_the_field_and_value(spark):
    good = {
        "event_id": "e1",
        "user_id": "u1",
        "match_id": "m1",
        "emoji": "🔥",
        "ts": "2026-11-22T20:15:00Z",
    }
    bad = [
        None,
        b"\xff\xfe not utf-8",
        b'{"event_id": "e2", "user_id": ',
        json.dumps({**good, "emoji": "pizza"}).encode(),
        json.dumps({k: v for k, v in good.items() if k != "match_id"}).encode(),
        json.dumps({**good, "ts": "yesterday"}).encode(),
        json.dumps({**good, "colour": "red"}).encode(),
        json.dumps({**good, "ts": "2026-11-22T20:15:00"}).encode(),
        json.dumps({**good, "user_id": "u\x001"}).encode(),
        json.dumps({**good, "ts": "1970-01-01T00:00:00Z"}).encode(),
        json.dumps({**good, "ts": "2026-11-22T20:20:00.001Z"}).encode(),  # 300.001 s ahead
    ]
    at_the_bound = json.dumps({**good, "ts": "2026-11-22T20:20:00Z"}).encode()
    values = (json.dumps(good).encode(), *bad, at_the_bound)
    frame = parse_events(records(spark, *values, topic="emoji"), EMOJI)

    reasons = {row.offset: row.reason for row in invalid_events(frame).collect()}

    assert valid_events(frame).count() == 2
    assert reasons == {
        1: "empty record: the value is null",
        2: "invalid UTF-8 in the value",
        3: 'malformed JSON or a field of the wrong type: {"event_id": "e2", "user_id": ',
        4: "field 'emoji' must be one of 🔥, 👏, 😂, 😮, 😢, ❤️, 🎉, 🏏, ⚽, 💯 (got 'pizza')",
        5: "field 'match_id' is required (got null)",
        6: "malformed JSON or a field of the wrong type: "
        + json.dumps({**good, "ts": "yesterday"}),
        7: "field 'colour' is not a field of this event",
        8: "field 'ts' must be an ISO-8601 timestamp with a zone (got '2026-11-22T20:15:00')",
        9: "field 'user_id' contains a NUL character (U+0000), which PostgreSQL cannot store",
        10: "field 'ts' is before 2000-01-01 (a clock that was never set) "
        "(got '1970-01-01T00:00:00.000Z')",
        11: "field 'ts' is more than 300 s ahead of when it was received "
        "(got '2026-11-22T20:20:00.001Z')",
    }


def test_nested_and_list_fields_are_checked(spark):
    media = {
        "id": "me-1",
        "timestamp": "2026-11-22T20:15:00Z",
        "type": "play",
        "user": "u",
        "metadata": {"quality": "8k", "device": "tv", "duration_ms": 1, "content_id": "c"},
    }
    sports = {
        "event_id": "s1",
        "match_id": "m1",
        "sequence": -1,
        "kind": "goal",
        "home_team": "A",
        "away_team": "B",
        "home_score": 0,
        "away_score": 0,
        "period": 1,
        "status": "live",
        "ts": "2026-11-22T20:15:00Z",
        "player_stats": [{"player_id": "p", "team": "visitors", "stat": "goals", "delta": 1}],
    }
    media_reason = invalid_events(parse_events(records(spark, json.dumps(media).encode()), MEDIA))
    sports_bad = {**sports, "sequence": 3}
    stats_reason = invalid_events(
        parse_events(records(spark, json.dumps(sports_bad).encode()), SPORTS)
    )
    sequence_reason = invalid_events(
        parse_events(records(spark, json.dumps(sports).encode()), SPORTS)
    )

    assert media_reason.first().reason == (
        "field 'metadata.quality' must be one of 240p, 360p, 480p, 720p, 1080p, 2160p (got '8k')"
    )
    assert stats_reason.first().reason == "field 'player_stats' has an invalid element"
    assert sequence_reason.first().reason == "field 'sequence' must be at least 0 (got -1)"


def test_parsed_frames_keep_the_kafka_origin(spark):
    frame = parse_events(records(spark, b"{}", topic="emoji.reactions"), EMOJI)
    origin = invalid_events(frame).select("topic", "partition", "offset", "value")
    expected = spark.createDataFrame(
        [("emoji.reactions", 0, 0, b"{}")],
        T.StructType(
            [
                T.StructField("topic", T.StringType()),
                T.StructField("partition", T.IntegerType()),
                T.StructField("offset", T.LongType()),
                T.StructField("value", T.BinaryType()),
            ]
        ),
    )
    assert_df_equality(origin, expected, ignore_nullable=True)


def test_every_kind_of_simulated_bad_record_is_caught(spark):
    rng = random.Random(3)
    for domain in ("game", "sports", "emoji", "product", "media"):
        schema = SCHEMAS[domain]
        values = [malformed(schema, example(schema), kind, rng) for kind in BAD_KINDS]
        frame = parse_events(records(spark, *values), schema)
        caught = {row.offset for row in invalid_events(frame).collect()}
        missed = [BAD_KINDS[i] for i in range(len(BAD_KINDS)) if i not in caught]
        assert missed == [], f"{domain}: bad records parsed as valid: {missed}"


def test_events_in_the_producers_wire_form_are_recognised_as_such(spark):
    """The parse skips its costly raw-text checks for records in the producers' exact form;
    this holds only while `wire_bytes` and Spark's `to_json` agree, field by field."""
    for domain, schema in SCHEMAS.items():
        simulated = GENERATORS[domain](5, 100.0, T1) if domain in GENERATORS else iter(())
        sample = [example(schema), *islice(simulated, 20)]
        frame = records(spark, *[wire_bytes(event) for event in sample])
        text = F.col("value").cast("string")
        event = F.from_json(text, struct_type(schema))
        flags = [row[0] for row in frame.select(in_wire_form(schema, event, text)).collect()]
        assert flags == [True] * len(sample), f"{domain}: {[wire_bytes(e) for e in sample]}"
        spaced = records(spark, json.dumps(sample[0]).encode())  # ", " and ": ": checked in full
        assert not spaced.select(in_wire_form(schema, event, text)).first()[0]
