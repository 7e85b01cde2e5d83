"""The services' JSON decoder at its edges: what it still lets through, and what it names."""

from __future__ import annotations

import json

import pytest

from pulse.services.json_input import MAX_DEPTH, MAX_INT_DIGITS, InvalidJson, decode_json


def refusal(raw: str) -> dict[str, object]:
    with pytest.raises(InvalidJson) as refused:
        decode_json(raw.encode())
    return refused.value.answer()


def test_nesting_up_to_the_limit_is_taken_and_one_more_level_is_refused() -> None:
    assert decode_json(("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()) is not None
    deeper = '{"a": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}"

    assert refusal(deeper)["field"] == "a"


def test_integers_up_to_the_limit_are_taken_and_longer_ones_are_refused_by_field() -> None:
    assert decode_json(f'{{"n": -{"9" * MAX_INT_DIGITS}}}'.encode()) == {
        "n": -int("9" * MAX_INT_DIGITS)
    }
    answer = refusal(f'{{"a": [1, {{"n": {"9" * (MAX_INT_DIGITS + 1)}}}]}}')

    assert answer["field"] == "a[1].n"
    assert answer["message"] == f"a[1].n: is an integer of more than {MAX_INT_DIGITS} digits"


def test_a_surrogate_pair_as_json_dumps_writes_an_emoji_is_taken() -> None:
    assert decode_json(json.dumps({"emoji": "🔥"}).encode()) == {"emoji": "🔥"}


def test_an_escaped_backslash_before_u_is_text_not_a_surrogate() -> None:
    assert decode_json(b'{"a": "\\\\ud800"}') == {"a": "\\ud800"}


@pytest.mark.parametrize("text", ["\\ud800", "\\udfff", "\\udc00\\ud800", "\\ud800\\ud800\\udc00"])
def test_lone_surrogates_are_refused_and_repeated_escaped(text) -> None:
    answer = refusal(f'{{"title": "{text}"}}')

    assert answer["field"] == "title"
    assert "lone surrogate" in str(answer["message"])
    json.dumps(answer, ensure_ascii=False).encode()  # the refusal itself can be encoded


def test_a_document_as_a_python_string_with_a_raw_surrogate_is_refused() -> None:
    with pytest.raises(InvalidJson) as refused:
        decode_json('{"a": "\ud800"}', "<message>")
    assert refused.value.field == "a"


def test_nan_is_refused_naming_the_whole_document() -> None:
    with pytest.raises(InvalidJson) as refused:
        decode_json("[NaN]", "<message>")
    assert refused.value.field == "<message>"
