"""Raw Kafka records of one batch decoded into the valid events of each domain, and the reason
each other record is bad."""

from __future__ import annotations

import itertools
import json
import random
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest

from pulse.events import SCHEMAS, example, source_domains
from pulse.events.schema import MAX_AHEAD, format_timestamp, parse_timestamp, wire_bytes
from pulse.simulate.bad import BAD_KINDS, malformed
from pulse.transforms.decode import decode, sort_records

DOMAINS = {f"{domain}.topic": domain for domain in SCHEMAS}
RECEIVED = parse_timestamp(example(SCHEMAS["emoji"])["ts"])
EMOJI = example(SCHEMAS["emoji"])


def records(*values: bytes | None, topic: str = "emoji.topic", origin: bool = False) -> pa.Table:
    """Records as the live query collects them from Kafka, all received at `RECEIVED`."""
    columns: dict[str, Any] = {
        "topic": [topic] * len(values),
        "value": pa.array(values, pa.binary()),
        "timestamp": pa.array([RECEIVED] * len(values), pa.timestamp("us", tz="UTC")),
    }
    if origin:
        columns["partition"] = pa.array(range(len(values)), pa.int32())
        columns["offset"] = pa.array([100 + i for i in range(len(values))], pa.int64())
    return pa.table(columns)


def emoji(**changes: Any) -> bytes:
    return json.dumps({**EMOJI, **changes}).encode()


@pytest.mark.parametrize("domain", sorted(SCHEMAS))
def test_a_valid_record_of_each_domain_decodes_to_its_event(domain):
    event = example(SCHEMAS[domain])
    decoded = decode(records(wire_bytes(event), topic=f"{domain}.topic"), DOMAINS)
    expected = {name: value for name, value in event.items() if value is not None}
    assert decoded[domain] == [expected]
    assert all(decoded[other] == [] for other in SCHEMAS if other != domain)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(emoji()[:-1], id="broken-json"),
        pytest.param(emoji(user_id="u-?").replace(b"?", b"\xff"), id="invalid-utf8"),
        pytest.param(emoji(match_id=7), id="wrong-type"),
        pytest.param(
            json.dumps({k: v for k, v in EMOJI.items() if k != "user_id"}).encode(),
            id="missing-field",
        ),
        pytest.param(
            emoji(ts=format_timestamp(RECEIVED + MAX_AHEAD + timedelta(milliseconds=1))),
            id="too-far-ahead",
        ),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="too-deep"),
        pytest.param(None, id="null-value"),
    ],
)
def test_an_invalid_record_is_skipped_and_the_valid_ones_around_it_kept(value):
    decoded = decode(records(emoji(event_id="a"), value, emoji(event_id="b")), DOMAINS)
    assert [event["event_id"] for event in decoded["emoji"]] == ["a", "b"]


def test_an_event_exactly_max_ahead_of_its_reception_is_kept():
    ahead = format_timestamp(RECEIVED + MAX_AHEAD)
    assert decode(records(emoji(ts=ahead)), DOMAINS)["emoji"][0]["ts"] == ahead


def test_a_record_of_a_topic_not_in_the_domains_is_skipped():
    assert decode(records(emoji(), topic="other.topic"), DOMAINS) == {d: [] for d in SCHEMAS}


def test_the_kafka_origin_is_attached_when_the_records_carry_it():
    decoded = decode(records(emoji(event_id="a"), emoji(event_id="b"), origin=True), DOMAINS)
    origins = [
        (e["event_id"], e["kafka_topic"], e["kafka_partition"], e["kafka_offset"])
        for e in decoded["emoji"]
    ]
    assert origins == [("a", "emoji.topic", 0, 100), ("b", "emoji.topic", 1, 101)]


def test_records_of_other_topics_leave_each_event_its_own_origin():
    mixed = pa.concat_tables(
        [
            records(emoji(event_id="x"), topic="other.topic", origin=True),
            records(emoji(event_id="a"), emoji(event_id="b"), origin=True),
        ]
    )
    decoded = decode(mixed, {"emoji.topic": "emoji"})
    assert [(e["event_id"], e["kafka_offset"]) for e in decoded["emoji"]] == [
        ("a", 100),
        ("b", 101),
    ]


def test_no_kafka_origin_is_attached_when_the_records_lack_it():
    (event,) = decode(records(emoji()), DOMAINS)["emoji"]
    assert event == EMOJI


def test_a_bad_record_gets_a_reason_naming_the_field_and_value():
    good = {**EMOJI, "ts": format_timestamp(RECEIVED)}
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
        json.dumps({**good, "match_id": 7}).encode(),
        b"[" * 100_000 + b"]" * 100_000,
        b'{"event_id": ' + b"9" * 5000 + b"}",
    ]
    values = (json.dumps(good).encode(), *bad)
    result = sort_records(records(*values, origin=True), DOMAINS)

    assert [e["kafka_offset"] for e in result.events["emoji"]] == [100]
    reasons = dict(zip(result.failed, result.reasons, strict=True))
    assert reasons == {
        1: "empty record: the value is null",
        2: "invalid UTF-8 in the value",
        3: 'malformed JSON: {"event_id": "e2", "user_id": ',
        4: "field 'emoji' must be one of 🔥, 👏, 😂, 😮, 😢, ❤️, 🎉, 🏏, ⚽, 💯 (got 'pizza')",
        5: "field 'match_id' is required (got None)",
        6: "field 'ts' must be an ISO-8601 timestamp with a zone (got 'yesterday')",
        7: "field 'colour' is not a field of this event (got 'red')",
        8: "field 'ts' must be an ISO-8601 timestamp with a zone (got '2026-11-22T20:15:00')",
        9: "field 'user_id' contains a NUL character (U+0000), which PostgreSQL cannot store "
        "(got 'u\\x001')",
        10: "field 'ts' is before 2000-01-01 (a clock that was never set) "
        "(got '1970-01-01T00:00:00Z')",
        11: "field 'match_id' must be a string (got 7)",
        12: "malformed JSON (maximum recursion depth exceeded while decoding a JSON array from "
        "a unicode string): " + "[" * 117 + "...",
        13: "malformed JSON (Exceeds the limit (4300 digits) for integer string conversion: "
        "value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit): "
        '{"event_id": ' + "9" * 104 + "...",
    }


def test_a_record_of_a_topic_with_no_schema_is_bad_for_that_reason():
    result = sort_records(records(emoji(), topic="mystery.topic"), DOMAINS)
    assert result.reasons == ["unknown topic 'mystery.topic': no event schema is registered"]


def test_every_kind_of_simulated_bad_record_gets_a_reason():
    rng = random.Random(3)
    for domain in source_domains():
        schema = SCHEMAS[domain]
        values = [malformed(schema, example(schema), kind, rng) for kind in BAD_KINDS]
        result = sort_records(records(*values, topic=f"{domain}.topic"), DOMAINS)
        missed = [BAD_KINDS[i] for i in range(len(BAD_KINDS)) if i not in result.failed]
        assert missed == [], f"{domain}: bad records decoded as valid: {missed}"
        assert all(result.reasons), domain


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (emoji(user_id="u-\ud800"), "user_id"),  # json.dumps escapes the lone surrogate
        (emoji(**{"\udc00": 1}), "\\udc00"),
    ],
)
def test_a_lone_surrogate_is_a_dead_letter_whose_reason_can_be_written(value, field) -> None:
    result = sort_records(records(value), DOMAINS)

    assert result.events["emoji"] == []
    assert f"field '{field}'" in result.reasons[0]
    result.reasons[0].encode("utf-8")  # the dead letter's sink writes it as UTF-8


def _origin_table(events: list[dict[str, Any]], domain: str) -> list[dict[str, Any]]:
    """What `sort_tables` must give for the events `sort_records` found: typed, with origin."""
    from pulse.events.arrow import events_table

    typed = events_table(events, SCHEMAS[domain]).to_pylist()
    origin = ("kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp")
    return [
        {**row, **{name: event[name] for name in origin}}
        for row, event in zip(typed, events, strict=True)
    ]


EDGE_TIMES = (
    "2026-11-22T20:15:00Z",
    "2026-11-22T20:15:00.1Z",
    "2026-11-22T20:15:00.123456+05:30",
    "2026-11-22T20:15:00.1234567Z",  # seven digits: Python reads six
    "2026-11-22T20:15:00+0200",
    "2026-11-22T20:15:00+02",
    "2026-11-22 20:15:00Z",
    "2026-11-22T20:15Z",
    "20261122T201500Z",
    "2026-02-30T00:00:00Z",
    "2026-11-22T23:59:60Z",
    "2026-11-22T24:00:00Z",
    "2026-11-22T20:15:00.000z",
    "2026-11-22T20:15:00-23:59",
)


def _edge_values() -> list[bytes | None]:
    good = {**EMOJI, "ts": format_timestamp(RECEIVED)}
    text = json.dumps(good)
    values: list[bytes | None] = [emoji(event_id=f"t{i}", ts=ts) for i, ts in enumerate(EDGE_TIMES)]
    values += [
        text.replace('"event_id": "', '"event_id": "x", "event_id": "').encode(),  # twice
        (text + " " + text).encode(),  # two documents
        text.replace(", ", ",\n  ").encode(),  # spread over lines
        (" \n" + text).encode(),
        b"null",
        b"",
        None,
        text.replace('"u-0042"', '"\\ud800"').encode(),  # a lone surrogate
        text.replace('"u-0042"', '"\\ud83d\\ude00"').encode(),  # a whole pair
        text.replace('"u-0042"', '"u\\u0000"').encode(),
        emoji(user_id="é" * 64),  # at the limit, in characters
        emoji(user_id="é" * 65),
        emoji(emoji="\N{BLACK HEART SUIT}\N{VARIATION SELECTOR-16}"),
        emoji(extra={"nested": [1] * 3}),
    ]
    return values


def _product(**changes: Any) -> bytes:
    event = example(SCHEMAS["product"])
    event.update(changes)
    return json.dumps(event).encode()


def _sports(**changes: Any) -> bytes:
    event = example(SCHEMAS["sports"])
    event.update(changes)
    return json.dumps(event).encode()


def test_the_bulk_path_sorts_exactly_as_the_per_record_path():
    """`sort_tables` (Arrow, in bulk) and `sort_records` (Python, per record) agree on every
    record: the simulators' good and bad records of every domain, and the edge cases the bulk
    path must leave to the per-record one (forms of JSON and of timestamps only Python reads)."""
    from pulse.simulate.records import records as simulated
    from pulse.transforms.decode import sort_tables

    values: list[bytes | None] = []
    topics: list[str] = []
    for domain in source_domains():
        for _, value, _ in itertools.islice(
            simulated(domain, seed=3, rate=1e9, start=RECEIVED, bad_ratio=0.3), 400
        ):
            values.append(value)
            topics.append(f"{domain}.topic")
    for value in _edge_values():
        values.append(value)
        topics.append("emoji.topic")
    for value in (
        _product(price=3),  # an integer where a double is expected
        _product(price=float("nan")),
        _product(stock=1e3),
        _product(stock=1.0),
        _product(stock=True),
        _product(version=2**63),
        _product(before=None),
        _product(after={**example(SCHEMAS["product"])["after"], "colour": "red"}),
        _sports(player_stats=[None]),
        _sports(player_stats=[]),
        _sports(player_stats=[{"player_id": "p", "team": "home", "stat": "goals"}]),
        _sports(home_score=-1),
    ):
        values.append(value)
        topics.append("product.topic" if b"change_id" in value else "sports.topic")
    values.append(emoji())
    topics.append("nobody.topic")
    received = [RECEIVED + timedelta(milliseconds=i) for i in range(len(values))]
    raw = pa.table(
        {
            "topic": topics,
            "partition": pa.array([i % 3 for i in range(len(values))], pa.int32()),
            "offset": pa.array(range(len(values)), pa.int64()),
            "value": pa.array(values, pa.binary()),
            "timestamp": pa.array(received, pa.timestamp("us", tz="UTC")),
        }
    )

    bulk, exact = sort_tables(raw, DOMAINS), sort_records(raw, DOMAINS)

    assert (bulk.failed, bulk.reasons) == (exact.failed, exact.reasons)
    for domain in SCHEMAS:
        assert bulk.events[domain].to_pylist() == _origin_table(exact.events[domain], domain)
    assert 0 < len(exact.failed) < len(values) // 2
