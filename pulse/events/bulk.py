"""Events parsed and checked in bulk, in Arrow: the fast path of `pulse.transforms.decode`.

A conservative mirror of `validate`: it vouches only for values it can check exactly and leaves
every other one (or a whole chunk it cannot parse) to the per-record path, which decides
(docs/ARCHITECTURE.md, "Decoding a batch")."""

from __future__ import annotations

import io
from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from pulse.events.arrow import UTC_MICROS, arrow_schema
from pulse.events.schema import EARLIEST_EVENT_TIME, MAX_AHEAD, NUL, EventSchema, Field, Kind

# The timestamps the bulk path parses itself: the wire form and its close kin, each parsed by
# Arrow exactly as `datetime.fromisoformat` parses it. Any other form goes to the per-record path.
TIMESTAMP_FORM = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


class Unsupported(Exception):
    """A schema the bulk path does not handle (a timestamp inside an object or a list)."""


def parse(
    values: pa.Array, received: pa.Array, schema: EventSchema
) -> tuple[pa.Table, pa.BooleanArray]:
    """The values (binary JSON, one event each) as a table of `arrow_schema(schema)`, and which
    rows are valid events for certain. Raises (`pa.ArrowException`, `ValueError`) when Arrow
    cannot parse the chunk as a whole: a malformed record, a field of the wrong type, an unknown
    field; the caller then splits the chunk.

    >>> from datetime import datetime, UTC
    >>> from pulse.events import SCHEMAS, example
    >>> from pulse.events.schema import wire_bytes
    >>> values = pa.array([wire_bytes(example(SCHEMAS["emoji"])), b'{"event_id":"e2"}'])
    >>> table, vouched = parse(values, pa.array([datetime.now(UTC)] * 2), SCHEMAS["emoji"])
    >>> vouched.to_pylist()  # the second lacks required fields: the per-record path says why
    [True, False]
    """
    if values.null_count or not pc.all(pc.starts_with(values.cast(pa.binary()), "{")).as_py():
        raise ValueError("a value is null or not a JSON object")
    buffer = b"\n".join(values.to_pylist())
    # One block: a document spread over several lines is parsed whole, never cut in two.
    options = pj.ReadOptions(use_threads=False, block_size=len(buffer) + 1)
    parsed = pj.read_json(
        io.BytesIO(buffer),
        read_options=options,
        parse_options=pj.ParseOptions(
            explicit_schema=wire_schema(schema), unexpected_field_behavior="error"
        ),
    )
    if parsed.num_rows != len(values):  # one value held two documents
        raise ValueError("the values are not one JSON object each")
    vouched = pa.array([True] * len(values))
    columns = []
    for field in schema.fields:
        column = parsed.column(field.name).combine_chunks()
        vouched = pc.and_(vouched, _checked(field, field.kind, column))
        if field.kind == "timestamp":
            shaped = pc.fill_null(pc.match_substring_regex(column, TIMESTAMP_FORM), False)
            vouched = pc.and_(vouched, pc.or_(shaped, pc.is_null(column)))
            column = pc.if_else(shaped, column, pa.scalar(None, pa.string())).cast(UTC_MICROS)
            if field.name == schema.time_field:
                ahead = pc.add(received.cast(UTC_MICROS), pa.scalar(MAX_AHEAD))
                early = pc.less(column, pa.scalar(EARLIEST_EVENT_TIME, UTC_MICROS))
                timely = pc.and_(pc.invert(early), pc.less_equal(column, ahead))
                vouched = pc.and_(vouched, pc.fill_null(timely, False))
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=arrow_schema(schema)), vouched


def wire_schema(schema: EventSchema) -> pa.Schema:
    """The Arrow schema JSON is read with: as `arrow_schema`, timestamps still text; a schema
    with a timestamp inside an object or a list is `Unsupported` (none has one today)."""
    for field in schema.fields:
        if field.kind in ("object", "list") and _holds_timestamp(field):
            raise Unsupported(f"field {field.name}: a timestamp inside an object or a list")
    return arrow_schema(schema, timestamp=pa.string())


def _holds_timestamp(field: Field) -> bool:
    return field.item == "timestamp" or any(
        member.kind == "timestamp" or _holds_timestamp(member) for member in field.fields
    )


def _checked(field: Field, kind: Kind, column: pa.Array) -> pa.BooleanArray:
    """Per row: the value is absent and may be, or present and passes every check of `kind`
    that `validate` makes beyond Arrow's own parsing (types, unknown fields)."""
    present = pc.is_valid(column)
    if kind == "object":
        ok = _all([_checked(f, f.kind, pc.struct_field(column, f.name)) for f in field.fields])
        # A member of a null object reads as null: only a present object's members count.
        ok = pc.or_(pc.invert(present), ok)
    elif kind == "list":
        assert field.item is not None
        ok = _list_checked(field, field.item, column)
    else:
        ok = _atomic_checked(field, kind, column)
    ok = pc.fill_null(ok, True)
    return pc.and_(ok, present) if field.required else ok


def _list_checked(field: Field, item: Kind, column: pa.Array) -> pa.BooleanArray:
    """Every element present and valid; an element's failure fails its row."""
    elements = pc.list_flatten(column)
    good = pc.and_(pc.is_valid(elements), _checked(replace(field, required=True), item, elements))
    parents = pc.list_parent_indices(column)
    bad_parents = pc.filter(parents, pc.invert(good))
    return pc.invert(pc.is_in(pa.array(range(len(column)), pa.int64()), bad_parents))


def _atomic_checked(field: Field, kind: Kind, column: pa.Array) -> pa.BooleanArray:
    checks = []
    if kind == "string":
        if field.max_length is not None:
            checks.append(pc.less_equal(pc.utf8_length(column), field.max_length))
        if field.choices:
            checks.append(pc.is_in(column, pa.array(field.choices, pa.string())))
        checks.append(pc.invert(pc.match_substring(column, NUL)))
    elif kind in ("long", "double"):
        if kind == "double":
            checks.append(pc.is_finite(column))
        if field.minimum is not None:
            checks.append(pc.greater_equal(column, pa.scalar(field.minimum, column.type)))
    return _all(checks) if checks else pa.array([True] * len(column))


def _all(checks: list[pa.BooleanArray]) -> pa.BooleanArray:
    result = checks[0]
    for check in checks[1:]:
        result = pc.and_(result, check)
    return result
