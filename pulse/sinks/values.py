"""A micro-batch on the driver: collecting it (`toArrow()`, UTC), and its values as SQL
parameters, JSON and text, one rendering for every sink (why: "Collecting a batch" in
docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame

from pulse.sinks.errors import DuplicateKeyError, SinkDefinitionError

_ISO = "%Y-%m-%dT%H:%M:%S.%f"

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def collect_batch(frame: DataFrame | pa.Table) -> pa.Table:
    """The whole batch as one Arrow table on the driver, with UTC timestamps and plain strings
    (a batch already on the driver as Arrow is only normalised)."""
    table = frame if isinstance(frame, pa.Table) else frame.toArrow()
    schema = pa.schema([field.with_type(plain_type(field.type)) for field in table.schema])
    return table if schema == table.schema else table.cast(schema)


def plain_type(arrow_type: pa.DataType) -> pa.DataType:
    """The Arrow type every Pulse sink expects: zoned timestamps in UTC and microseconds,
    `string`/`binary` instead of their large and view variants, nested types alike."""
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz="UTC" if arrow_type.tz else None)
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return pa.string()
    if pa.types.is_large_binary(arrow_type) or pa.types.is_binary_view(arrow_type):
        return pa.binary()
    if pa.types.is_map(arrow_type):
        return pa.map_(
            arrow_type.key_field.with_type(plain_type(arrow_type.key_type)),
            arrow_type.item_field.with_type(plain_type(arrow_type.item_type)),
        )
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return pa.list_(arrow_type.value_field.with_type(plain_type(arrow_type.value_type)))
    if pa.types.is_struct(arrow_type):
        return pa.struct([field.with_type(plain_type(field.type)) for field in arrow_type])
    return arrow_type


def require_columns(table: pa.Table, columns: Iterable[str], sink: str) -> None:
    """Raise `SinkDefinitionError` naming the sink and every column its batch lacks."""
    missing = [column for column in columns if column not in table.column_names]
    if missing:
        raise SinkDefinitionError(
            f"sink {sink}: the batch has no column {', '.join(missing)} "
            f"(it has {', '.join(table.column_names)})"
        )


def row_tuples(table: pa.Table, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of `table` as tuples of Python values, in the order of `columns`."""
    return list(zip(*(table.column(name).to_pylist() for name in columns), strict=True))


def reject_duplicate_keys(
    rows: Sequence[tuple[Any, ...]], key_positions: Sequence[int], table: str, key: Sequence[str]
) -> None:
    """Raise `DuplicateKeyError` if two rows share a key: an upsert of one batch cannot say
    which of them is the truth, and PostgreSQL refuses the statement outright."""
    keys = Counter(tuple(row[i] for i in key_positions) for row in rows)
    if len(keys) == len(rows):
        return
    repeated = [(value, count) for value, count in keys.items() if count > 1]
    value, count = repeated[0]
    shown = ", ".join(f"{name}={part!r}" for name, part in zip(key, value, strict=True))
    raise DuplicateKeyError(
        f"table {table}: {len(repeated)} keys ({', '.join(key)}) occur more than once in one "
        f"batch, e.g. {shown} ({count} rows); dedupe the batch before this sink"
    )


def json_columns(table: pa.Table, columns: Iterable[str]) -> dict[str, list[JsonValue]]:
    """The named columns as lists of JSON-ready values, converted column by column."""
    return {name: json_column(table.column(name)) for name in columns}


def json_column(column: pa.ChunkedArray | pa.Array) -> list[JsonValue]:
    """One column as JSON-ready values: timestamps and decimals rendered by Arrow in one pass
    (about twice as fast as even turning them into Python datetimes), the rest as Python."""
    arrow_type = column.type
    if pa.types.is_timestamp(arrow_type):
        zone = "Z" if arrow_type.tz else ""
        column = column.cast(plain_type(arrow_type))  # UTC, microseconds: a fixed width
        return pc.strftime(column, format=f"%Y-%m-%dT%H:%M:%S{zone}").to_pylist()
    if pa.types.is_decimal(arrow_type):
        return column.cast(pa.string()).to_pylist()
    if (
        pa.types.is_string(arrow_type)
        or pa.types.is_integer(arrow_type)
        or pa.types.is_boolean(arrow_type)
    ):
        return column.to_pylist()
    return [json_value(value) for value in column.to_pylist()]


def json_value(value: Any) -> JsonValue:
    """A value that `json.dumps` writes as portable JSON (see the module docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Arrow hands a map column over as a list of (key, value) tuples: keep it a list.
        return [json_value(item) for item in value]
    return str(value)


def text_value(value: JsonValue) -> str:
    """A JSON-ready value as Redis stores it: strings as they are, the rest as JSON text
    (`true`, `3`, `[1,2]`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json_text(value)


def json_text(value: JsonValue) -> str:
    """Compact UTF-8 JSON text; `allow_nan=False` because other parsers reject NaN."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def iso_datetime(value: datetime) -> str:
    """ISO-8601 with microseconds (fixed width, so that texts sort as times); a zoned datetime
    in UTC with `Z`, a naive one (TimestampNTZ) without a zone. Same text as `json_column`."""
    if value.tzinfo is None:
        return value.strftime(_ISO)
    return value.astimezone(UTC).strftime(_ISO + "Z")


def written_columns(key: Sequence[str], columns: Sequence[str]) -> tuple[str, ...]:
    """The columns an upsert writes: the key first, then the other columns."""
    return tuple(key) + tuple(c for c in columns if c not in key)


def upsert_rows(
    frame: DataFrame | pa.Table, key: Sequence[str], columns: Sequence[str], sink: str, table: str
) -> list[tuple[Any, ...]]:
    """The batch as row tuples in `written_columns` order, checked for columns and unique keys.

    Empty when the batch is: a sink then writes nothing, not even its ledger.
    """
    batch = collect_batch(frame)
    if batch.num_rows == 0:
        return []
    written = written_columns(key, columns)
    require_columns(batch, written, sink)
    rows = row_tuples(batch, written)
    reject_duplicate_keys(rows, range(len(key)), table, key)
    return rows
