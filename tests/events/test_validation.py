"""The producers' validation, derived from the same schemas the jobs parse with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pulse.events import SCHEMAS, InvalidEvent, example, schema_for, validate
from pulse.events.domains import EMOJI, MEDIA, SPORTS


@pytest.mark.parametrize("domain", sorted(SCHEMAS))
def test_every_domain_example_is_valid(domain):
    schema = SCHEMAS[domain]
    event = example(schema)
    assert validate(schema, event) == event
    assert {schema.id_field, schema.time_field, schema.key_field} <= set(event)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"emoji": "pizza"}, "emoji", "must be one of"),
        ({"match_id": None}, "match_id", "is required"),
        ({"match_id": 42}, "match_id", "must be a string"),
        ({"ts": "yesterday"}, "ts", "ISO-8601"),
        ({"ts": "2026-11-22T20:15:00"}, "ts", "with a zone"),
        ({"user_id": "u" * 65}, "user_id", "longer than 64"),
        ({"colour": "red"}, "colour", "is not a field"),
    ],
)
def test_a_bad_emoji_names_the_field_and_the_value(change, field, message):
    event = {**example(EMOJI), **change}
    with pytest.raises(InvalidEvent) as raised:
        validate(EMOJI, event)
    assert raised.value.field == field
    assert message in str(raised.value)
    assert repr(change[field])[:40] in str(raised.value)


def test_nested_fields_are_named_by_their_path():
    event = example(MEDIA)
    event["metadata"] = {**event["metadata"], "quality": "8k"}
    with pytest.raises(
        InvalidEvent, match=r"field 'metadata\.quality' must be one of .* \(got '8k'\)"
    ):
        validate(MEDIA, event)


def test_list_elements_are_named_by_their_index():
    event = example(SPORTS)
    event["player_stats"] = [event["player_stats"][0], {**event["player_stats"][0], "delta": "one"}]
    with pytest.raises(InvalidEvent, match=r"field 'player_stats\[1\]\.delta' must be a number"):
        validate(SPORTS, event)


def test_numbers_respect_kind_and_minimum():
    with pytest.raises(InvalidEvent, match=r"'sequence' must be at least 0 \(got -1\)"):
        validate(SPORTS, {**example(SPORTS), "sequence": -1})
    with pytest.raises(InvalidEvent, match=r"'home_score' must be a 64-bit integer \(got 1.5\)"):
        validate(SPORTS, {**example(SPORTS), "home_score": 1.5})
    with pytest.raises(InvalidEvent, match=r"'home_score' must be a number"):
        validate(SPORTS, {**example(SPORTS), "home_score": True})


def test_an_event_must_be_an_object():
    with pytest.raises(InvalidEvent, match="must be a JSON object"):
        validate(EMOJI, ["not", "an", "object"])


def test_unknown_domains_are_named():
    with pytest.raises(KeyError, match="unknown domain 'weather'"):
        schema_for("weather")


def test_an_event_time_before_2000_is_a_clock_never_set():
    with pytest.raises(InvalidEvent, match=r"field 'ts' is before 2000-01-01") as early:
        validate(EMOJI, {**example(EMOJI), "ts": "1970-01-01T00:00:00Z"})

    assert early.value.field == "ts" and early.value.value == "1970-01-01T00:00:00Z"


def test_an_event_time_more_than_five_minutes_after_its_reception_is_refused():
    received = datetime(2026, 11, 22, 20, 15, tzinfo=UTC)
    event = example(EMOJI)  # at 20:15:00

    validate(EMOJI, {**event, "ts": "2026-11-22T20:20:00Z"}, received_at=received)
    with pytest.raises(InvalidEvent, match="more than 300 s ahead of when it was received"):
        validate(EMOJI, {**event, "ts": "2026-11-22T20:20:00.001Z"}, received_at=received)


def test_a_nul_character_is_refused_in_any_text_field():
    with pytest.raises(InvalidEvent, match=r"field 'metadata\.content_id' contains a NUL"):
        validate(MEDIA, {**example(MEDIA), "metadata": {**example(MEDIA)["metadata"],
                                                       "content_id": "c\x00"}})  # fmt: skip
