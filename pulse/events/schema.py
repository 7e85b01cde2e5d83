"""A small schema language for Pulse events, and the validation derived from it.

Each domain declares its event once, as `Field`s (see `domains.py`). From that one declaration
Pulse derives the validation that producers and jobs share (`validate`), the Arrow types
(`pulse.events.arrow`) and example events (`example`), so they can never drift apart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Kind = Literal["string", "long", "double", "boolean", "timestamp", "object", "list"]

# The bounds of an event time, part of every domain's contract like a field's length limit.
# Before 2000: a device whose clock was never set (1970, year 1), not an event that happened
# then; a floor rather than a maximum age, because replaying history (a backfill) is legitimate.
# After its reception by more than five minutes: a clock running ahead, whose event would
# move the emoji watermark forward and make every on-time event after it "late".
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(minutes=5)
# PostgreSQL's text cannot hold U+0000; refused at the door rather than failing a batch.
NUL = "\x00"


class InvalidEvent(ValueError):
    """An event that does not match its domain's schema; names the field and the bad value."""

    def __init__(self, domain: str, field: str, value: Any, reason: str) -> None:
        self.domain, self.field, self.value, self.reason = domain, escaped(field), value, reason
        # Without the domain: what a dead letter's reason says (its topic names the domain).
        self.detail = f"field '{self.field}' {reason} (got {_short(value)})"
        super().__init__(f"{domain} event: {self.detail}")


@dataclass(frozen=True)
class Field:
    """One field of an event: its JSON kind, whether it must be present, and its constraints."""

    name: str
    kind: Kind
    example: Any = None
    required: bool = True
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    max_length: int | None = None
    fields: tuple[Field, ...] = ()  # members, for kind "object" (and list items of objects)
    item: Kind | None = None  # element kind, for kind "list"


@dataclass(frozen=True)
class EventSchema:
    """A domain's event: its fields and which of them are the id, the event time and the key."""

    domain: str
    fields: tuple[Field, ...]
    id_field: str
    time_field: str
    key_field: str

    def field(self, name: str) -> Field:
        """The top-level field called `name`."""
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"{self.domain} has no field {name!r}")


def validate(
    schema: EventSchema, event: Any, received_at: datetime | None = None
) -> dict[str, Any]:
    """Return the event if it matches `schema`, else raise `InvalidEvent` naming field and value.

    `received_at` (when known: the moment an API took the event, a record's Kafka timestamp)
    bounds the event time from above by `MAX_AHEAD`.
    """
    if not isinstance(event, Mapping):
        raise InvalidEvent(schema.domain, "<event>", event, "must be a JSON object")
    _check_object(schema.domain, schema.fields, event, prefix="")
    _check_event_time(schema, event[schema.time_field], received_at)
    return dict(event)


def _check_event_time(schema: EventSchema, value: str, received_at: datetime | None) -> None:
    moment = parse_timestamp(value)
    if moment < EARLIEST_EVENT_TIME:
        raise InvalidEvent(schema.domain, schema.time_field, value, EARLY_REASON)
    if received_at is not None and moment > received_at + MAX_AHEAD:
        raise InvalidEvent(schema.domain, schema.time_field, value, AHEAD_REASON)


EARLY_REASON = f"is before {EARLIEST_EVENT_TIME:%Y-%m-%d} (a clock that was never set)"
AHEAD_REASON = f"is more than {MAX_AHEAD.seconds} s ahead of when it was received"


def example(schema: EventSchema) -> dict[str, Any]:
    """An example event built from the fields' examples; it always passes `validate`."""
    return _example_object(schema.fields)


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 timestamp with a zone (`Z` or an offset); naive times are refused."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("timestamp has no time zone")
    return parsed


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # made once: it is hot


def compact_json(document: Any) -> bytes:
    """`document` as compact UTF-8 JSON, the form Pulse writes everywhere."""
    return _COMPACT.encode(document).encode()


def wire_bytes(event: Mapping[str, Any]) -> bytes:
    """An event as every Pulse producer writes it: compact UTF-8 JSON, keys in schema order,
    fields without a value left out (absent and null mean the same to every reader).

    Readers accept any valid form; this one makes an event's bytes the same whoever sent it.
    """
    return compact_json({name: value for name, value in event.items() if value is not None})


def format_timestamp(moment: datetime) -> str:
    """The wire form of a timestamp: UTC, milliseconds, `Z`; what Spark's JSON parser reads."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _check_object(
    domain: str, fields: tuple[Field, ...], obj: Mapping[str, Any], prefix: str
) -> None:
    known = {field.name for field in fields}
    for name in obj:
        if name not in known:
            raise InvalidEvent(
                domain, prefix + str(name), obj[name], "is not a field of this event"
            )
    for field in fields:
        path = prefix + field.name
        value = obj.get(field.name)
        if value is None:
            if field.required:
                raise InvalidEvent(domain, path, value, "is required")
            continue
        _check_value(domain, field, field.kind, value, path)


def _check_value(domain: str, field: Field, kind: Kind, value: Any, path: str) -> None:
    if kind == "string":
        if not isinstance(value, str):
            raise InvalidEvent(domain, path, value, "must be a string")
        if field.max_length is not None and len(value) > field.max_length:
            raise InvalidEvent(domain, path, value, f"is longer than {field.max_length} characters")
        if field.choices and value not in field.choices:
            raise InvalidEvent(domain, path, value, f"must be one of {', '.join(field.choices)}")
        if NUL in value:
            raise InvalidEvent(domain, path, value, NUL_REASON)
        if not encodable(value):
            raise InvalidEvent(domain, path, value, SURROGATE_REASON)
    elif kind in ("long", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidEvent(domain, path, value, f"must be a number ({kind})")
        if kind == "long" and not (isinstance(value, int) and -(2**63) <= value < 2**63):
            raise InvalidEvent(domain, path, value, "must be a 64-bit integer")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidEvent(domain, path, value, "must be a finite number")
        if field.minimum is not None and value < field.minimum:
            raise InvalidEvent(domain, path, value, f"must be at least {field.minimum:g}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise InvalidEvent(domain, path, value, "must be true or false")
    elif kind == "timestamp":
        if not isinstance(value, str):
            raise InvalidEvent(domain, path, value, "must be an ISO-8601 timestamp string")
        try:
            parse_timestamp(value)
        except ValueError:
            raise InvalidEvent(
                domain, path, value, "must be an ISO-8601 timestamp with a zone"
            ) from None
    elif kind == "object":
        if not isinstance(value, Mapping):
            raise InvalidEvent(domain, path, value, "must be an object")
        _check_object(domain, field.fields, value, prefix=path + ".")
    elif kind == "list":
        if not isinstance(value, list):
            raise InvalidEvent(domain, path, value, "must be a list")
        assert field.item is not None, f"list field {path} declares no item kind"
        for index, element in enumerate(value):
            if element is None:
                raise InvalidEvent(domain, f"{path}[{index}]", element, "must not be null")
            _check_value(domain, field, field.item, element, f"{path}[{index}]")


NUL_REASON = "contains a NUL character (U+0000), which PostgreSQL cannot store"
# JSON may escape half of a surrogate pair (`"\\ud800"`): a `str` no sink can encode as UTF-8.
SURROGATE_REASON = "is not valid Unicode text (a lone surrogate)"


def escaped(text: str) -> str:
    """`text` with every character UTF-8 cannot encode (a lone surrogate) backslash-escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def encodable(text: str) -> bool:
    """Whether `text` can be encoded as UTF-8 (it holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _example_object(fields: tuple[Field, ...]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for field in fields:
        if field.kind == "object":
            result[field.name] = _example_object(field.fields)
        elif field.kind == "list" and field.item == "object":
            result[field.name] = [_example_object(field.fields)]
        else:
            result[field.name] = field.example
    return result


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
