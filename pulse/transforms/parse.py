"""Kafka records to typed domain events, with the reason each bad record is bad.

The checks are the producers' validation (`pulse.events.validate`) derived from the same
schema, expressed as Spark columns: invalid UTF-8, malformed JSON or wrong types, missing
required fields, values outside their choices or below their minimum. A record that fails gets
an `error` naming the field and the value; nothing is dropped here. Jobs route rows with an
error to the dead letters.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pulse.events.schema import (
    AHEAD_REASON,
    EARLIEST_EVENT_TIME,
    EARLY_REASON,
    MAX_AHEAD,
    NUL,
    NUL_REASON,
    EventSchema,
    Field,
)
from pulse.events.spark import struct_type

CORRUPT = "_corrupt_record"
_ZONE = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
KAFKA_COLUMNS = ("key", "topic", "partition", "offset", "timestamp")
# How Spark renders a timestamp in `to_json`: the wire form of `format_timestamp`.
_WIRE_TIMESTAMP = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"


def parse_events(records: DataFrame, schema: EventSchema) -> DataFrame:
    """One typed column per event field, the Kafka origin, and `error` (null when valid).

    Output columns: the event's fields, then `kafka_key`, `kafka_topic`, `kafka_partition`,
    `kafka_offset`, `kafka_timestamp`, `raw` (the original value, kept for dead letters) and
    `error`.
    """
    spark_schema = struct_type(schema).add(T.StructField(CORRUPT, T.StringType()))
    text = F.col("value").cast("string")
    parsed = F.from_json(
        text, spark_schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
    )
    frame = records.select(
        parsed.alias("event"),
        *[F.col(name).alias(f"kafka_{name}") for name in KAFKA_COLUMNS],
        F.col("value").alias("raw"),
    )
    text = F.col("raw").cast("string")
    structural = _first_error(
        [
            (F.col("raw").isNull(), F.lit("empty record: the value is null")),
            (~F.is_valid_utf8(text), F.lit("invalid UTF-8 in the value")),
            (
                F.col("event").isNull() | F.col(f"event.{CORRUPT}").isNotNull(),
                F.concat(F.lit("malformed JSON or a field of the wrong type: "), _excerpt()),
            ),
            *_field_checks(schema.fields, F.col("event")),
            *_event_time_checks(schema),
        ]
    )
    textual = _first_error(
        [
            _unknown_fields(text, schema),
            *_naive_timestamps(text, schema),
            *_non_strings(text, schema),
        ]
    )
    # The checks of the raw text parse it again and cost three times the parse itself; a
    # record in the producers' exact form cannot fail them (see `in_wire_form`), so they run
    # only for other forms. `coalesce` evaluates its second argument only when the first is null.
    canonical = in_wire_form(schema, F.col("event"), text)
    error = F.coalesce(structural, F.when(~canonical, textual))
    fields = [F.col(f"event.{field.name}").alias(field.name) for field in schema.fields]
    return frame.select(
        *fields,
        *[F.col(f"kafka_{name}") for name in KAFKA_COLUMNS],
        "raw",
        error.alias("error"),
    )


def valid_events(parsed: DataFrame) -> DataFrame:
    """The rows of `parse_events` without an error, without the bookkeeping columns."""
    return parsed.where(F.col("error").isNull()).drop("kafka_key", "raw", "error")


def invalid_events(parsed: DataFrame) -> DataFrame:
    """The rows of `parse_events` that failed, with their reason and Kafka origin."""
    return parsed.where(F.col("error").isNotNull()).select(
        F.col("kafka_topic").alias("topic"),
        F.col("kafka_partition").alias("partition"),
        F.col("kafka_offset").alias("offset"),
        F.col("kafka_key").alias("key"),
        F.col("raw").alias("value"),
        F.col("error").alias("reason"),
    )


def in_wire_form(schema: EventSchema, event: Column, text: Column) -> Column:
    """Whether `text` is exactly `wire_bytes` of `event` (the struct `from_json` parsed).

    Nearly every record is written by Pulse's producers, whose compact form (schema order,
    `,`/`:` separators, `format_timestamp`, no nulls: `pulse.events.schema.wire_bytes`) is
    exactly what `to_json` gives back for the parsed event. Such a record has no unknown field
    (`to_json` writes only known ones), every string quoted and every timestamp with its zone,
    so the checks of the raw text cannot fail for it; any other form (another key order,
    spaces, other spellings of numbers or times) is checked in full. The shortcut never changes
    a verdict, only what it costs. A null `event` (malformed JSON) is not in wire form.
    """
    fields = [event.getField(field.name).alias(field.name) for field in schema.fields]
    rendered = F.to_json(F.struct(*fields), {"timestampFormat": _WIRE_TIMESTAMP})
    return F.coalesce(rendered == text, F.lit(False))


def _field_checks(
    fields: tuple[Field, ...], parent: Column, prefix: str = ""
) -> list[tuple[Column, Column]]:
    """(failed?, reason) for each field; nested objects are checked only when present."""
    checks: list[tuple[Column, Column]] = []
    for field in fields:
        shown = prefix + field.name
        column = parent.getField(field.name)
        if field.required:
            checks.append((column.isNull(), F.lit(f"field '{shown}' is required (got null)")))
        if field.choices:
            reason = F.concat(
                F.lit(f"field '{shown}' must be one of {', '.join(field.choices)} (got '"),
                column,
                F.lit("')"),
            )
            checks.append((column.isNotNull() & ~column.isin(*field.choices), reason))
        if field.minimum is not None:
            reason = F.concat(
                F.lit(f"field '{shown}' must be at least {field.minimum:g} (got "),
                column.cast("string"),
                F.lit(")"),
            )
            checks.append((column.isNotNull() & (column < F.lit(field.minimum)), reason))
        if field.max_length is not None:
            reason = F.lit(f"field '{shown}' is longer than {field.max_length} characters")
            checks.append((column.isNotNull() & (F.length(column) > field.max_length), reason))
        if field.kind == "string":
            reason = F.lit(f"field '{shown}' {NUL_REASON}")
            checks.append((column.isNotNull() & column.contains(NUL), reason))
        if field.kind == "object":
            nested = _field_checks(field.fields, column, shown + ".")
            checks.extend((column.isNotNull() & failed, reason) for failed, reason in nested)
        if field.kind == "list" and field.item == "object":
            reason = F.lit(f"field '{shown}' has an invalid element")
            checks.append((column.isNotNull() & F.exists(column, _element_check(field)), reason))
    return checks


def _event_time_checks(schema: EventSchema) -> list[tuple[Column, Column]]:
    """The bounds of `validate` on the event time, the record's Kafka timestamp as its
    reception: before `EARLIEST_EVENT_TIME`, or ahead of the record by more than `MAX_AHEAD`."""
    moment = F.col(f"event.{schema.time_field}")
    shown = F.date_format(moment, _WIRE_TIMESTAMP)

    def reason(text: str) -> Column:
        return F.concat(F.lit(f"field '{schema.time_field}' {text} (got '"), shown, F.lit("')"))

    latest = F.col("kafka_timestamp") + F.expr(f"INTERVAL {MAX_AHEAD.seconds} SECONDS")
    return [
        (moment < F.lit(EARLIEST_EVENT_TIME), reason(EARLY_REASON)),
        (moment > latest, reason(AHEAD_REASON)),
    ]


def _element_check(field: Field) -> Callable[[Column], Column]:
    """A predicate over one list element: null, or failing any of its fields' checks."""

    def fails(item: Column) -> Column:
        nested = _field_checks(field.fields, item)
        return reduce(lambda a, b: a | b, (failed for failed, _ in nested), item.isNull())

    return fails


def _unknown_fields(text: Column, schema: EventSchema) -> tuple[Column, Column]:
    """Top-level names the schema does not know; producers refuse them, so must the jobs."""
    known = [field.name for field in schema.fields]
    unknown = F.filter(F.json_object_keys(text), lambda key: ~key.isin(*known))
    reason = F.concat(
        F.lit("field '"), F.element_at(unknown, 1), F.lit("' is not a field of this event")
    )
    return F.size(unknown) > 0, reason


def _naive_timestamps(text: Column, schema: EventSchema) -> list[tuple[Column, Column]]:
    """Timestamps without a zone: Spark would read them in the session's zone, producers refuse."""
    checks = []
    for field in schema.fields:
        if field.kind == "timestamp":
            value = F.get_json_object(text, f"$.{field.name}")
            reason = F.concat(
                F.lit(f"field '{field.name}' must be an ISO-8601 timestamp with a zone (got '"),
                value,
                F.lit("')"),
            )
            checks.append((value.isNotNull() & ~value.rlike(_ZONE), reason))
    return checks


def _non_strings(text: Column, schema: EventSchema) -> list[tuple[Column, Column]]:
    """Numbers, booleans, lists or objects where a string belongs.

    Spark's JSON reader turns `12345` into the string "12345"; producers refuse it, so the jobs
    must too. The check reads the raw text, so it covers only names that are strings wherever
    they occur in the schema (no false alarm from a same-named field of another kind).
    """
    kinds: dict[str, set[str]] = {}

    def collect(fields: tuple[Field, ...]) -> None:
        for field in fields:
            kinds.setdefault(field.name, set()).add(field.kind)
            collect(field.fields)

    collect(schema.fields)
    checks = []
    for name in sorted(name for name, seen in kinds.items() if seen <= {"string", "timestamp"}):
        pattern = rf'"{name}"\s*:\s*[-0-9tf\[{{]'
        reason = F.lit(f"field '{name}' must be a string")
        checks.append((text.rlike(pattern), reason))
    return checks


def _first_error(checks: list[tuple[Column, Column]]) -> Column:
    """The reason of the first failed check, or null: a CASE WHEN in check order."""
    first_failed, first_reason = checks[0]
    chained = reduce(
        lambda acc, check: acc.when(check[0], check[1]),
        checks[1:],
        F.when(first_failed, first_reason),
    )
    return chained.otherwise(F.lit(None).cast("string"))


def _excerpt() -> Column:
    value = F.col("raw").cast("string")
    return F.when(
        F.length(value) > 120, F.concat(F.substring(value, 1, 117), F.lit("..."))
    ).otherwise(value)
