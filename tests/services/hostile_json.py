"""Hostile JSON and text for the services' tests: documents that are valid but for one field,
whose value is nested 100,000 levels deep, an integer of 5,000 digits, or text that is not
valid Unicode (JSON-escaped lone surrogates), placed in every field that a schema declares;
and text for query parameters that no id pattern lets through.

Each case is raw bytes: `json.dumps` cannot write such values, so a marker is placed in the
document and replaced by the hostile text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from pulse.events.schema import EventSchema, Field, example
from pulse.services.registry.models import ClientInput, HeartbeatInput, NodeInput, SubscriberInput

DEEP = 100_000
JSON = {"Content-Type": "application/json"}
# Every registry body: its model, and a request that takes a valid one.
REGISTRY_BODIES = {
    SubscriberInput: ("PUT", "/v1/subscribers/s-hostile", {"name": "n", "interests": ["a"]}),
    ClientInput: ("POST", "/v1/clients", {"client_id": "c-1", "match_id": "m-1"}),
    NodeInput: ("PUT", "/v1/nodes/n-hostile", {"cluster": "c", "url": "ws://h:1", "capacity": 1}),
    HeartbeatInput: ("POST", "/v1/nodes/n-hostile/heartbeat", {"connected": 1}),
}
MARKER = "\x01hostile\x01"

# kind -> (raw JSON value, a word the refusal's message says), by class of the issue
CLASSES = {
    "deep": ("deep", "deep_objects"),
    "huge": ("huge_integer", "negative_huge_integer"),
    "unicode": ("lone_high_surrogate", "lone_low_surrogate", "reversed_pair"),
}
HOSTILE: dict[str, tuple[str, str]] = {
    "deep": ("[" * DEEP + "]" * DEEP, "nested"),
    "deep_objects": ('{"a":' * DEEP + "1" + "}" * DEEP, "nested"),
    "huge_integer": ("9" * 5000, "digits"),
    "negative_huge_integer": ("-" + "1" * 5000, "digits"),
    "lone_high_surrogate": ('"u-\\ud800"', "Unicode"),
    "lone_low_surrogate": ('"\\udfff"', "Unicode"),
    "reversed_pair": ('"\\udc00\\ud800"', "Unicode"),
}


# The same classes sized for a WebSocket frame of at most 4 KB (`gateway.server`).
IN_A_FRAME: dict[str, tuple[str, str]] = {
    **HOSTILE,
    "deep": ("[" * 2000 + "]" * 2000, "nested"),
    "deep_objects": ('{"a":' * 600 + "1" + "}" * 600, "nested"),
    "huge_integer": ("9" * 4000, "digits"),
    "negative_huge_integer": ("-" + "1" * 4000, "digits"),
}


@dataclass(frozen=True)
class Case:
    """A document with one hostile field: where it is, its class, and the raw body."""

    field: str  # as the refusal names it
    kind: str
    body: bytes

    def refused(self, answer: Mapping[str, Any]) -> bool:
        """Whether a refusal's JSON names this case's field and says what is wrong: a nesting
        is named by its last name (the list holding a nested item, nested objects down to
        the depth limit)."""
        field = answer.get("field", "")
        named = (
            field == self.field
            or (self.kind == "deep" and self.field.startswith(field + "["))
            or (self.kind == "deep_objects" and field.startswith(self.field + ".a.a"))
        )
        return named and HOSTILE[self.kind][1] in answer.get("message", "")


def schema_paths(schema: EventSchema) -> Iterator[tuple[str, list[str | int]]]:
    """Every field of `schema`, nested ones too: (name as refusals write it, path in the
    example event)."""
    yield from _paths(schema.fields, "", [])


def _paths(
    fields: tuple[Field, ...], prefix: str, at: list[str | int]
) -> Iterator[tuple[str, list[str | int]]]:
    for field in fields:
        name, path = prefix + field.name, [*at, field.name]
        yield name, path
        if field.kind == "object":
            yield from _paths(field.fields, name + ".", path)
        elif field.kind == "list" and field.item == "object":
            yield from _paths(field.fields, name + "[0].", [*path, 0])


def with_hostile(
    document: Any, path: list[str | int], kind: str, values: Mapping[str, tuple[str, str]]
) -> bytes:
    """`document` as JSON with the value at `path` replaced by hostile value `kind` of
    `values`."""
    copy = json.loads(json.dumps(document))
    holder = copy
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = MARKER
    text = json.dumps(copy, ensure_ascii=False)
    return text.replace(json.dumps(MARKER, ensure_ascii=False), values[kind][0]).encode()


def event_cases(schema: EventSchema, kinds: tuple[str, ...]) -> list[Case]:
    """Each hostile value of `kinds` in every field of `schema`'s example event."""
    event = example(schema)
    return [
        Case(name, kind, with_hostile(event, path, kind, HOSTILE))
        for name, path in schema_paths(schema)
        for kind in kinds
    ]


def document_cases(
    document: Mapping[str, Any],
    kinds: tuple[str, ...],
    values: Mapping[str, tuple[str, str]] = HOSTILE,
) -> list[Case]:
    """Each hostile value of `kinds` (of `values`) in every top-level field of a valid
    `document` (and, for a list field, its first item)."""
    cases = []
    for name, value in document.items():
        paths: list[tuple[str, list[str | int]]] = [(name, [name])]
        if isinstance(value, list) and value:
            paths.append((f"{name}[0]", [name, 0]))
        cases += [
            Case(field, kind, with_hostile(document, path, kind, values))
            for field, path in paths
            for kind in kinds
        ]
    return cases


def surrogate_name(document: Mapping[str, Any]) -> bytes:
    """`document` with one more field whose name is a lone surrogate."""
    text = json.dumps(dict(document))
    return (text[:-1] + ', "\\ud800": 1}').encode()


# -- Hypothesis strategies: hostile JSON and text, drawn ----------------------------------

# Text a parameter may be given that is no id: injection, paths, markup, escapes, NUL.
ODD_TEXT = ("x';DROP--", "ü", "../../etc/passwd", "<script>", "%00", "\x00", "a b", "~", "")


@st.composite
def hostile_text(draw: st.DrawFn) -> str:
    """Text for a query parameter or a header value: any Unicode (lone surrogates and control
    characters included), an odd string of `ODD_TEXT`, or too long for an id (65 to 2,000)."""
    kind = draw(st.sampled_from(("any", "odd", "long")))
    if kind == "any":
        return draw(st.text(max_size=80))
    if kind == "odd":
        return draw(st.sampled_from(ODD_TEXT))
    return draw(st.sampled_from("abc-._:")) * draw(st.integers(65, 2000))


@st.composite
def hostile_value(draw: st.DrawFn, size: int = DEEP) -> tuple[str, str]:
    """Raw JSON of a value the decoder must refuse, and the word its refusal says: nesting of
    33 to `size` levels (lists or objects), an integer of 21 to `size` digits (5,000 at most),
    or text holding a lone surrogate (a pair's half, anywhere in it)."""
    kind = draw(st.sampled_from(("deep", "huge", "unicode")))
    if kind == "deep":
        depth = draw(st.integers(33, size))
        if draw(st.booleans()):
            return "[" * depth + "]" * depth, "nested"
        return '{"a":' * depth + "0" + "}" * depth, "nested"
    if kind == "huge":
        digits = draw(st.integers(21, min(size, 5000)))
        first = draw(st.sampled_from("123456789"))
        sign = draw(st.sampled_from(("", "-")))
        return sign + first + draw(st.sampled_from("0123456789")) * (digits - 1), "digits"
    text = draw(st.text(max_size=20))
    at = draw(st.integers(0, len(text)))
    half = chr(draw(st.integers(0xD800, 0xDFFF)))
    return json.dumps(text[:at] + half + text[at:]), "Unicode"


@st.composite
def hostile_document(
    draw: st.DrawFn,
    valid: Mapping[str, Any],
    paths: list[tuple[str, list[str | int]]],
    size: int = DEEP,
) -> tuple[bytes, dict[str, str]]:
    """`valid` with one to three of its `paths` (in different top-level fields) given hostile
    values of at most `size`: the raw body, and the word each corrupted field's refusal says,
    by field name."""
    chosen = draw(
        st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique_by=lambda p: p[1][0])
    )
    document = json.loads(json.dumps(valid))
    values: dict[str, str] = {}
    words: dict[str, str] = {}
    for number, (name, path) in enumerate(chosen):
        holder = document
        for part in path[:-1]:
            holder = holder[part]
        marker = f"{MARKER}{number}"
        holder[path[-1]] = marker
        values[json.dumps(marker, ensure_ascii=False)], words[name] = draw(hostile_value(size))
    text = json.dumps(document, ensure_ascii=False)
    for marker, raw in values.items():
        text = text.replace(marker, raw)
    return text.encode(), words


def names_a_corrupted_field(answer: Mapping[str, Any], words: Mapping[str, str]) -> bool:
    """Whether a refusal names one of the corrupted fields (a nesting by its last name) and
    says what is wrong with it."""
    field, message = answer.get("field", ""), answer.get("message", "")
    return any(
        (field == name or field.startswith(name + ".a") or name.startswith(field + "["))
        and word in message
        for name, word in words.items()
    )
