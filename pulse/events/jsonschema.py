"""The JSON Schema side of an event schema: what the ingest API's OpenAPI document publishes,
so that clients (and API fuzzers) see the same rules `validate` applies.

Derived from the one declaration in `domains.py`, like the Spark `StructType`. What JSON Schema
cannot say (an event time's bounds, no NUL character) is in each description.
"""

from __future__ import annotations

from typing import Any

from pulse.events.schema import (
    AHEAD_REASON,
    EARLY_REASON,
    NUL_REASON,
    EventSchema,
    Field,
    Kind,
)

_ATOMIC: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "long": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
    "double": {"type": "number"},
    "boolean": {"type": "boolean"},
    "timestamp": {"type": "string", "format": "date-time"},
}


def event_json_schema(schema: EventSchema, *, without: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON Schema of a domain's event; `without` leaves fields out (ids the API assigns)."""
    fields = tuple(field for field in schema.fields if field.name not in without)
    document = _object(fields)
    document["description"] = (
        f"A {schema.domain} event. Its '{schema.time_field}' must not be before 2000 "
        f"('{EARLY_REASON}') nor {AHEAD_REASON}; no text may hold U+0000 ('{NUL_REASON}')."
    )
    return document


def _object(fields: tuple[Field, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {field.name: _value(field, field.kind) for field in fields},
        "required": [field.name for field in fields if field.required],
        "additionalProperties": False,
    }


def _value(field: Field, kind: Kind) -> dict[str, Any]:
    if kind == "object":
        return _object(field.fields)
    if kind == "list":
        assert field.item is not None, f"list field {field.name} declares no item kind"
        return {"type": "array", "items": _value(field, field.item)}
    value = dict(_ATOMIC[kind])
    if field.choices:
        value["enum"] = list(field.choices)
    if field.max_length is not None:
        value["maxLength"] = field.max_length
    if field.minimum is not None:
        value["minimum"] = field.minimum
    return value
