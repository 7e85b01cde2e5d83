"""The Spark side of an event schema: the `StructType` that `from_json` parses with.

Kept apart from `schema.py` so that services and producers validate events without importing
Spark.
"""

from __future__ import annotations

from pyspark.sql import types as T

from pulse.events.schema import EventSchema, Field, Kind

_ATOMIC: dict[str, T.DataType] = {
    "string": T.StringType(),
    "long": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "timestamp": T.TimestampType(),
}


def struct_type(schema: EventSchema) -> T.StructType:
    """The Spark schema of a domain's event, every field nullable (validation decides)."""
    return _struct(schema.fields)


def _struct(fields: tuple[Field, ...]) -> T.StructType:
    return T.StructType(
        [T.StructField(field.name, _data_type(field, field.kind)) for field in fields]
    )


def _data_type(field: Field, kind: Kind) -> T.DataType:
    if kind == "object":
        return _struct(field.fields)
    if kind == "list":
        assert field.item is not None, f"list field {field.name} declares no item kind"
        return T.ArrayType(_data_type(field, field.item))
    return _ATOMIC[kind]
