"""The Arrow side of an event schema: validated events (dicts) as a typed Arrow table, with the
types Spark gives the same fields (longs as int64, timestamps in UTC microseconds), so that a
table built here and a batch collected from Spark look alike to the sinks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from pulse.events.schema import EventSchema, Field, Kind, parse_timestamp

UTC_MICROS = pa.timestamp("us", tz="UTC")
ATOMIC_TYPES: dict[str, pa.DataType] = {  # by Kind, of the atomic kinds
    "string": pa.string(),
    "long": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": UTC_MICROS,
}


def arrow_schema(schema: EventSchema, timestamp: pa.DataType = UTC_MICROS) -> pa.Schema:
    """The Arrow schema of a domain's event, every field nullable (validation decides), its
    timestamps of type `timestamp` (`pa.string()`: as JSON carries them)."""
    types = {**ATOMIC_TYPES, "timestamp": timestamp}
    return pa.schema(
        [pa.field(field.name, _data_type(field, field.kind, types)) for field in schema.fields]
    )


def events_table(events: Sequence[dict[str, Any]], schema: EventSchema) -> pa.Table:
    """Validated events of `schema` as a typed table (timestamps parsed from their wire form).

    >>> from pulse.events import SCHEMAS, example
    >>> table = events_table([example(SCHEMAS["emoji"])], SCHEMAS["emoji"])
    >>> table.schema.field("ts").type
    TimestampType(timestamp[us, tz=UTC])
    """
    times = [field.name for field in schema.fields if field.kind == "timestamp"]
    rows = [
        {**event, **{name: parse_timestamp(event[name]) for name in times if event.get(name)}}
        for event in events
    ]
    return pa.Table.from_pylist(rows, schema=arrow_schema(schema))


def _data_type(field: Field, kind: Kind, types: dict[str, pa.DataType]) -> pa.DataType:
    if kind == "object":
        return pa.struct([pa.field(f.name, _data_type(f, f.kind, types)) for f in field.fields])
    if kind == "list":
        assert field.item is not None, f"list field {field.name} declares no item kind"
        return pa.list_(_data_type(field, field.item, types))
    return types[kind]
