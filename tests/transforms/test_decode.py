"""Raw Kafka records of one batch decoded into the valid events of each domain."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest

from pulse.events import SCHEMAS, example
from pulse.events.schema import MAX_AHEAD, format_timestamp, parse_timestamp, wire_bytes
from pulse.transforms.decode import decode

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


def test_no_kafka_origin_is_attached_when_the_records_lack_it():
    (event,) = decode(records(emoji()), DOMAINS)["emoji"]
    assert event == EMOJI
