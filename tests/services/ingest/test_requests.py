"""Request bodies to events: every refusal names the field, the value and, in batches, the index."""

from __future__ import annotations

import pytest

from pulse.events import SCHEMAS, example
from pulse.events.domains import EMOJI, PRODUCT, SPORTS
from pulse.services.ingest.requests import (
    BODY,
    InvalidRequest,
    checked,
    checked_batch,
    emoji_event,
    parse_json,
    product_change,
)

REACTION = {"user_id": "u-1", "match_id": "m-1", "emoji": "🔥", "ts": "2026-11-22T20:15:00Z"}


def test_an_emoji_reaction_gets_the_assigned_id() -> None:
    assert emoji_event(dict(REACTION), "er-1") == {"event_id": "er-1", **REACTION}


def test_an_emoji_reaction_that_brings_its_own_id_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        emoji_event({**REACTION, "event_id": "mine"}, "er-1")

    assert (caught.value.field, caught.value.value) == ("event_id", "mine")


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        ({"emoji": "pizza"}, "emoji", "pizza"),
        ({"match_id": 42}, "match_id", 42),
        ({"ts": "yesterday"}, "ts", "yesterday"),
        ({"colour": "red"}, "colour", "red"),
    ],
)
def test_a_bad_emoji_reaction_names_the_field_and_the_value(change, field, value) -> None:
    with pytest.raises(InvalidRequest) as caught:
        emoji_event({**REACTION, **change}, "er-1")

    answer = caught.value.answer()
    assert (answer["field"], answer["value"]) == (field, value)
    assert field in answer["message"] and repr(value) in answer["message"]


@pytest.mark.parametrize("domain", sorted(SCHEMAS))
def test_every_domain_example_passes(domain) -> None:
    event = example(SCHEMAS[domain])
    assert checked(SCHEMAS[domain], event) == event


def test_a_batch_names_the_index_of_its_first_bad_event() -> None:
    good, bad = example(SPORTS), {**example(SPORTS), "home_score": -1}

    with pytest.raises(InvalidRequest) as caught:
        checked_batch(SPORTS, [good, good, bad, {**good, "kind": "nope"}])

    answer = caught.value.answer()
    assert (answer["index"], answer["field"], answer["value"]) == (2, "home_score", -1)


@pytest.mark.parametrize("body", [{}, [], "text"])
def test_a_batch_must_be_a_non_empty_list(body) -> None:
    with pytest.raises(InvalidRequest) as caught:
        checked_batch(EMOJI, body)

    assert caught.value.field == BODY


def test_a_product_change_must_name_the_product_of_its_path() -> None:
    change = example(PRODUCT)
    assert product_change(change["product_id"], change) == change

    with pytest.raises(InvalidRequest) as caught:
        product_change("sku-other", change)

    assert (caught.value.field, caught.value.value) == ("product_id", change["product_id"])
    assert "sku-other" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"{nope", "not valid JSON"), (b"\xff\xfe", "not UTF-8"), (b"[NaN]", "NaN")],
)
def test_a_body_that_is_not_json_is_named_with_its_start(raw, message) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_json(raw)

    assert caught.value.field == BODY
    assert message in str(caught.value)
