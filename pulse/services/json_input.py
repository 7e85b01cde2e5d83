"""Request JSON decoded and checked in one place, for every HTTP and WebSocket surface (the
ingest API, the registry, a node's viewer messages), refusing what `json.loads` takes but the
services cannot (issue 18) with `InvalidJson`, naming the field (the bounds: "Bounds on what a
client can make a service hold" in docs/SECURITY.md).
"""

from __future__ import annotations

import json
from json.decoder import scanstring  # type: ignore[attr-defined]  # absent from typeshed's stub
from typing import Any

from pulse.events.schema import SURROGATE_REASON, encodable, escaped

# Pulse's documents nest four levels at most (a batch of sports events with player stats).
MAX_DEPTH = 32
# A 64-bit integer has at most 19 digits; the schema names the bound for those a little past it.
MAX_INT_DIGITS = 20
EXCERPT_CHARACTERS = 80
BODY = "<body>"  # the field name used when the document as a whole is wrong


class InvalidJson(ValueError):
    """A document refused before its content is looked at; names the field and what is wrong.

    `value` is safe to encode anywhere: unencodable characters are backslash-escaped and long
    values cut short.
    """

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field, self.value, self.reason = field, value, reason
        super().__init__(f"{field}: {reason}")

    def answer(self) -> dict[str, Any]:
        """The JSON body of the refusal."""
        return {"error": "invalid", "field": self.field, "value": self.value, "message": str(self)}


class _LongInteger(ValueError):
    """An integer literal too long to convert: raised by the decoder, or kept as a value (its
    text) until its field is known."""

    def __init__(self, digits: str) -> None:
        super().__init__(f"an integer of {len(digits)} characters")
        self.digits = digits


def decode_json(raw: bytes | str, whole: str = BODY) -> Any:
    """The JSON document of `raw` (strict UTF-8 when bytes; no NaN or Infinity), or
    `InvalidJson` naming the field; `whole` names the document itself.

    >>> decode_json(b'{"home_score": 1}')
    {'home_score': 1}
    >>> decode_json(b'{"user_id": "u-\\\\ud800"}')
    Traceback (most recent call last):
    ...
    pulse.services.json_input.InvalidJson: user_id: is not valid Unicode text (a lone surrogate)
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidJson(whole, excerpt(raw), f"is not UTF-8: {exc.reason}") from None
    else:
        text = raw
    # Each check costs a walk of the document, which the text shows to be needed or not (a
    # batch of 500 events decoded several times slower when always walked). Lone surrogates
    # come escaped, or raw in a `str` that did not come from strict UTF-8.
    surrogates = "\\ud" in text or "\\uD" in text or not encodable(text)
    try:
        document = _DECODER.decode(text)
    except _LongInteger:  # found again with its path, by a decoder that keeps it as text
        try:
            kept = _KEEPING_LONG_INTEGERS.decode(text)
        except RecursionError:  # nested too deep further on: that is named instead
            raise _too_deep(text, whole) from None
        _check(kept, [], whole, surrogates)
        raise AssertionError("a long integer was not found again") from None
    except RecursionError:
        raise _too_deep(text, whole) from None
    except _Constant as exc:
        raise InvalidJson(whole, exc.name, f"is not valid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidJson(whole, excerpt(text), f"is not valid JSON: {exc}") from None
    if not isinstance(document, dict | list):
        _check_scalar(document, [], whole)
    elif surrogates:
        _check(document, [], whole, surrogates)
    elif text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(document, MAX_DEPTH):
        raise _too_deep(text, whole)
    return document


def excerpt(value: str | bytes) -> str:
    """The start of `value` as encodable text, for an answer or a log line."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else escaped(value)
    if len(text) <= EXCERPT_CHARACTERS:
        return text
    return text[: EXCERPT_CHARACTERS - 3] + "..."


class _Constant(ValueError):
    """NaN, Infinity or -Infinity, which JSON does not allow."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not a number JSON allows")
        self.name = name


def _integer(digits: str) -> int:
    if len(digits) - digits.startswith("-") > MAX_INT_DIGITS:
        raise _LongInteger(digits)
    return int(digits)


def _kept_integer(digits: str) -> int | _LongInteger:
    if len(digits) - digits.startswith("-") > MAX_INT_DIGITS:
        return _LongInteger(digits)
    return int(digits)


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


# Made once: `json.loads` with options builds a decoder per call.
_DECODER = json.JSONDecoder(parse_int=_integer, parse_constant=_refuse_constant)
_KEEPING_LONG_INTEGERS = json.JSONDecoder(parse_int=_kept_integer, parse_constant=_refuse_constant)


def _too_deep(text: str, whole: str) -> InvalidJson:
    field = _field_at_depth(text, MAX_DEPTH, whole)
    return InvalidJson(field, None, f"is nested deeper than {MAX_DEPTH} levels")


def _deeper_than(value: dict[str, Any] | list[Any], levels: int) -> bool:
    """Whether containers nest more than `levels` deep in `value` (scalars are not looked at)."""
    if levels == 0:
        return True
    for item in value.values() if type(value) is dict else value:
        if (type(item) is dict or type(item) is list) and _deeper_than(item, levels - 1):
            return True
    return False


def _check(
    value: dict[str, Any] | list[Any], path: list[str | int], whole: str, text: bool
) -> None:
    """Refuse what `json.loads` let through in a container: nesting past `MAX_DEPTH`, long
    integers, and (when `text`) names and values that are not valid Unicode."""
    if len(path) >= MAX_DEPTH:
        raise InvalidJson(_outer(path, whole), None, f"is nested deeper than {MAX_DEPTH} levels")
    items = enumerate(value) if isinstance(value, list) else value.items()
    for key, item in items:
        if text and isinstance(key, str) and not encodable(key):
            where = _render([*path, key], whole)
            raise InvalidJson(where, excerpt(key), f"its name {SURROGATE_REASON}")
        if isinstance(item, dict | list):
            _check(item, [*path, key], whole, text)
        elif text or isinstance(item, _LongInteger):
            _check_scalar(item, [*path, key], whole)


def _check_scalar(value: Any, path: list[str | int], whole: str) -> None:
    if isinstance(value, str) and not encodable(value):
        raise InvalidJson(_render(path, whole), excerpt(value), SURROGATE_REASON)
    if isinstance(value, _LongInteger):
        sign = value.digits.startswith("-")
        raise InvalidJson(
            _render(path, whole),
            f"{excerpt(value.digits[:24])}... ({len(value.digits) - sign} digits)",
            f"is an integer of more than {MAX_INT_DIGITS} digits",
        )


def _render(path: list[str | int], whole: str) -> str:
    """`player_stats[0].stat`; `whole` for the document itself."""
    if not path:
        return whole
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{escaped(part)}" if text else escaped(part)
    return text


def _outer(path: list[str | int], whole: str) -> str:
    """The field that holds a nesting too deep: the path up to its last name."""
    names = [at for at, part in enumerate(path) if isinstance(part, str)]
    return _render(path[: names[-1] + 1] if names else path[:1], whole)


def _field_at_depth(text: str, limit: int, whole: str) -> str:
    """The path at which `text` (valid JSON up to that point) nests deeper than `limit`, found
    by scanning rather than parsing: parsing is what ran out of recursion."""
    path: list[str | int] = []
    in_object: list[bool] = []
    expect_key = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            string, index = scanstring(text, index + 1)
            if expect_key:
                path[-1], expect_key = string, False
            continue
        if char in "[{":
            if len(path) >= limit:
                return _outer(path, whole)
            in_object.append(char == "{")
            path.append(0)
            expect_key = char == "{"
        elif char in "]}":
            in_object.pop()
            path.pop()
        elif char == ",":
            if in_object[-1]:
                expect_key = True
            else:
                path[-1] = int(path[-1]) + 1
        index += 1
    return whole
