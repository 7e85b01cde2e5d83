"""What the ingest API writes to Kafka: the ids it assigns, routed records and producer acks.

Pure: no clients here, so the exact bytes and the ack events are unit-tested without a broker.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pulse.events.schema import EventSchema, Field, format_timestamp, wire_bytes

COMPONENT = "ingest"
_ID_LIMIT = 64  # the id fields' max_length in every schema, monitoring's included


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record on its way to Kafka, and whether its delivery is acknowledged on monitoring."""

    topic: str
    key: bytes | None
    value: bytes
    event_id: str
    ack: bool = True


def new_event_id(prefix: str) -> str:
    """A fresh, unguessable, collision-free event id, e.g. `er-<32 hex>` (fits 64 characters)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def outgoing(schema: EventSchema, event: Mapping[str, Any], topic: str, ack: bool) -> Outgoing:
    """The Kafka record of a valid event: keyed by its schema's key, in the producers' wire form.

    Keys are put in schema order (nested objects too): one event has one byte form, whichever
    client sent it and in whatever key order.
    """
    ordered = _in_schema_order(schema.fields, event)
    key = ordered.get(schema.key_field)
    return Outgoing(
        topic=topic,
        key=None if key is None else str(key).encode(),
        value=wire_bytes(ordered),
        event_id=str(ordered[schema.id_field]),
        ack=ack,
    )


def producer_ack(
    *,
    topic: str,
    event_id: str,
    partition: int | None,
    offset: int | None,
    latency_ms: float,
    now: datetime,
) -> dict[str, Any]:
    """The monitoring event (kind `producer_ack`) for one delivered record.

    Its id follows the jobs' processing acks (`ack-<component>-<event id>`), hashed when that
    would pass the 64-character limit; joins go by `event_id` either way.
    """
    ack_id = f"ack-{COMPONENT}-{event_id}"
    if len(ack_id) > _ID_LIMIT:
        ack_id = f"ack-{COMPONENT}-{hashlib.sha1(event_id.encode()).hexdigest()}"
    return {
        "id": ack_id,
        "ts": format_timestamp(now),
        "component": COMPONENT,
        "kind": "producer_ack",
        "topic": topic,
        "event_id": event_id,
        "partition": partition,
        "offset": offset,
        "latency_ms": max(latency_ms, 0.0),
    }


def _in_schema_order(fields: tuple[Field, ...], obj: Mapping[str, Any]) -> dict[str, Any]:
    ordered: dict[str, Any] = {}
    for field in fields:
        if field.name not in obj:
            continue
        value = obj[field.name]
        if field.kind == "object" and isinstance(value, Mapping):
            value = _in_schema_order(field.fields, value)
        elif field.kind == "list" and field.item == "object" and isinstance(value, list):
            value = [_in_schema_order(field.fields, item) for item in value]
        ordered[field.name] = value
    return ordered
