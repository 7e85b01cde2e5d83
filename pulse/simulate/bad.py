"""Malformed records, made from good events, for exercising parsing, validation and dead letters.

Each kind breaks one thing a real producer gets wrong, and every kind fails either UTF-8/JSON
decoding or `pulse.events.validate`, so a consumer that validates must send each one to the
dead-letter topic. A bad record keeps the good event's key, as a buggy producer would.
"""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from typing import Any

from pulse.events import SCHEMAS, source_domains
from pulse.events.schema import (
    EventSchema,
    Field,
    example,
    format_timestamp,
    parse_timestamp,
)
from pulse.simulate.draws import cumulative

BAD_KINDS: tuple[str, ...] = (
    "broken_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "unknown_enum",
    "invalid_utf8",
    "empty_value",
    "oversized",
    "bad_timestamp",
    "unknown_field",
    "ancient_time",
    "future_time",
    "nul_character",
    "wrong_domain",
)
# Oversized records are rare: at a 5% bad ratio and 20k events/s they still come about once a
# second, each one ~0.9 MB.
_WEIGHTS = {kind: 0.005 if kind == "oversized" else 1.0 for kind in BAD_KINDS}
_BOUNDS = cumulative(_WEIGHTS.values())

# Under the 1 MB default message limit of Kafka brokers and of librdkafka, with room for the
# rest of the event and the record overhead.
OVERSIZED_CHARS = 900_000

_SENTINEL = "__pulse_invalid_utf8__"
_WRONG_VALUES: dict[str, Any] = {
    "string": 12345,
    "timestamp": 1_795_378_500_000,  # epoch millis: a number where a string is expected
    "long": "12",
    "double": "89.90",
    "boolean": "yes",
    "object": "not an object",
    "list": {"not": "a list"},
}
_BAD_TIMES = ("22/11/2026 20:15:00", "yesterday", "", "2026-13-45T25:61:00Z")
# Clocks never set (the Unix epoch, year 1) and one just before the floor.
_ANCIENT_TIMES = (
    "1970-01-01T00:00:00.000Z",
    "0001-01-01T00:00:00.000Z",
    "1999-12-31T23:59:59.999Z",
)
_AHEAD = (timedelta(minutes=6), timedelta(days=1), timedelta(days=3650))


def choose_kind(rng: random.Random) -> str:
    """A bad kind, oversized ones rare."""
    return BAD_KINDS[bisect_right(_BOUNDS, rng.random())]


def malformed(schema: EventSchema, event: dict[str, Any], kind: str, rng: random.Random) -> bytes:
    """The value of a bad record of `kind`, made from a good `event` of `schema`.

    A kind the schema gives no field for (an enum, a free-text field: a new domain may have
    neither) breaks the event another way, so that every domain's bad records fail.
    """
    bad = dict(event)
    if kind in ("unknown_enum", "invalid_utf8") and not _enum_fields(schema):
        kind = "wrong_type"
    if kind in ("oversized", "nul_character") and _padding_field(schema, event) is None:
        if kind == "nul_character":
            return _dumps({**bad, schema.id_field: "before\x00after"}).encode()
        return _dumps({**bad, "padding": "x" * OVERSIZED_CHARS}).encode()
    if kind == "broken_json":
        text = _dumps(event)
        if rng.random() < 0.5:
            return text[: rng.randrange(1, len(text) - 1)].encode()
        return (text[:-1] + ",}").encode()  # a trailing comma
    if kind == "not_object":
        return _dumps(rng.choice(([event], "an event", 42, None))).encode()
    if kind == "empty_value":
        return b""
    if kind == "missing_field":
        del bad[rng.choice([field.name for field in schema.fields if field.required])]
    elif kind == "wrong_type":
        field = rng.choice([field for field in schema.fields if field.required])
        bad[field.name] = _WRONG_VALUES[field.kind]
    elif kind == "unknown_enum":
        field = rng.choice(_enum_fields(schema))
        bad[field.name] = "🦄" if field.name == "emoji" else f"not-a-{field.name}"
    elif kind == "invalid_utf8":
        # In an enum field, so that even a lenient decoder (U+FFFD for the bad bytes, as
        # Spark's CAST(value AS STRING) does) yields a value the schema refuses.
        field = rng.choice(_enum_fields(schema))
        bad[field.name] = _SENTINEL
        return _dumps(bad).encode().replace(_SENTINEL.encode(), b"\xff\xfe" + b"bad", 1)
    elif kind == "oversized":
        path = _padding_target(schema.fields, event, schema)
        _set_path(bad, path, "x" * OVERSIZED_CHARS)
    elif kind == "bad_timestamp":
        naive = str(event[schema.time_field]).removesuffix("Z")
        bad[schema.time_field] = rng.choice((naive, *_BAD_TIMES))
    elif kind == "unknown_field":
        bad["extra_field"] = rng.choice(("surprise", 1, True))
    elif kind == "ancient_time":
        bad[schema.time_field] = rng.choice(_ANCIENT_TIMES)
    elif kind == "future_time":
        # Ahead of the wall clock, which is when a consumer receives it: a replay's events
        # (`--start` in the past) are ahead of their own time, not of their reception.
        base = max(parse_timestamp(event[schema.time_field]), datetime.now(UTC))
        bad[schema.time_field] = format_timestamp(base + rng.choice(_AHEAD))
    elif kind == "nul_character":
        path = _padding_target(schema.fields, event, schema)
        _set_path(bad, path, "before\x00after")
    elif kind == "wrong_domain":
        other = rng.choice([SCHEMAS[d] for d in source_domains() if d != schema.domain])
        wrong = example(other)
        if not any(field.name == schema.id_field for field in schema.fields):
            wrong.pop(other.id_field)  # sent without ids (the API assigns them): none here either
        return _dumps(wrong).encode()
    else:
        raise ValueError(f"unknown bad kind {kind!r}; known: {', '.join(BAD_KINDS)}")
    return _dumps(bad).encode()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _enum_fields(schema: EventSchema) -> list[Field]:
    return [field for field in schema.fields if field.choices]


def _padding_field(schema: EventSchema, event: dict[str, Any]) -> tuple[str, ...] | None:
    try:
        return _padding_target(schema.fields, event, schema)
    except LookupError:
        return None


def _padding_target(
    fields: tuple[Field, ...], event: dict[str, Any], schema: EventSchema
) -> tuple[str, ...]:
    """A free-text field with a length limit, present in the event: padding it breaks the limit."""
    reserved = {schema.id_field, schema.key_field, schema.time_field}
    for field in fields:
        value = event.get(field.name)
        if value is None or field.name in reserved:
            continue
        if field.kind == "string" and field.max_length is not None and not field.choices:
            return (field.name,)
        if field.kind == "object":
            try:
                return (field.name, *_padding_target(field.fields, value, schema))
            except LookupError:
                continue
    raise LookupError(f"{schema.domain}: no free-text field to pad")


def _set_path(event: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    *parents, leaf = path
    node = event
    for name in parents:
        node[name] = dict(node[name])  # copy: nested images are shared with other events
        node = node[name]
    node[leaf] = value
