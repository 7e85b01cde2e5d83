"""What goes to Kafka: wire form in schema order, keyed by the schema's key; valid producer acks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pulse.events import example, validate
from pulse.events.domains import MEDIA, MONITORING
from pulse.services.ingest.records import new_event_id, outgoing, producer_ack


def test_a_record_is_keyed_and_in_schema_order_whatever_order_the_client_used() -> None:
    event = example(MEDIA)
    shuffled = {name: event[name] for name in reversed(list(event))}
    shuffled["metadata"] = dict(reversed(list(event["metadata"].items())))

    record = outgoing(MEDIA, shuffled, "media.t", ack=True)

    assert record.key == event["id"].encode()
    assert record.event_id == event["id"]
    assert list(json.loads(record.value)) == [field.name for field in MEDIA.fields]
    assert json.loads(record.value) == event


def test_assigned_ids_are_unique_and_fit_the_schema() -> None:
    ids = {new_event_id("er") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("er-") and len(i) <= 64 for i in ids)


def test_a_producer_ack_is_a_valid_monitoring_event_joinable_by_event_id() -> None:
    ack = producer_ack(
        topic="emoji.t",
        event_id="e" * 64,
        partition=3,
        offset=17,
        latency_ms=12.5,
        now=datetime(2026, 11, 22, 20, 15, tzinfo=UTC),
    )

    assert validate(MONITORING, ack) == ack
    assert (ack["kind"], ack["component"], ack["event_id"]) == ("producer_ack", "ingest", "e" * 64)
    assert (ack["topic"], ack["partition"], ack["offset"]) == ("emoji.t", 3, 17)
