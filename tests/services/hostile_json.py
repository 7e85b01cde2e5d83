"""Hostile JSON for the services' tests: documents that are valid but for one field, whose value
is nested 100,000 levels deep, an integer of 5,000 digits, or text that is not valid Unicode
(JSON-escaped lone surrogates), placed in every field that a schema declares.

Each case is raw bytes: `json.dumps` cannot write such values, so a marker is placed in the
document and replaced by the hostile text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulse.events.schema import EventSchema, Field, example

DEEP = 100_000
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
