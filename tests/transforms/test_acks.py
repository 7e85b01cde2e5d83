"""Processing acknowledgements: one monitoring event per processed event."""

from __future__ import annotations

from datetime import timedelta

from pulse.events import SCHEMAS, example, validate
from pulse.events.schema import format_timestamp, parse_timestamp
from pulse.transforms.acks import processing_acks

PRODUCT = SCHEMAS["product"]
CHANGE = {
    **example(PRODUCT),
    "kafka_topic": "product.changes",
    "kafka_partition": 2,
    "kafka_offset": 41,
}
TS = parse_timestamp(CHANGE["ts"])


def test_each_event_gets_an_ack_with_its_id_and_kafka_origin():
    now = TS + timedelta(milliseconds=1500)
    (ack,) = processing_acks([CHANGE], PRODUCT, "enrich", now).to_pylist()
    assert ack == {
        "id": f"ack-enrich-{CHANGE['change_id']}",
        "ts": now,
        "component": "enrich",
        "kind": "processing_ack",
        "topic": "product.changes",
        "event_id": CHANGE["change_id"],
        "partition": 2,
        "offset": 41,
        "count": 1,
        "latency_ms": 1500.0,
    }


def test_an_event_time_ahead_of_now_gives_a_zero_latency_not_a_negative_one():
    ahead = {**CHANGE, "ts": format_timestamp(TS + timedelta(seconds=3))}
    (ack,) = processing_acks([ahead], PRODUCT, "enrich", TS).to_pylist()
    assert ack["latency_ms"] == 0.0


def test_the_acks_are_valid_monitoring_events_once_on_the_wire():
    (ack,) = processing_acks([CHANGE], PRODUCT, "enrich", TS).to_pylist()
    wire = {**ack, "ts": format_timestamp(ack["ts"])}
    assert validate(SCHEMAS["monitoring"], wire)["kind"] == "processing_ack"
