"""The registry's input rules and the 422 answer that names the field, without a server."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pulse.services.registry.models import (
    ClientInput,
    HeartbeatInput,
    NodeInput,
    SubscriberInput,
    invalid,
)


def refusal(model: type[Any], body: Any) -> dict[str, Any]:
    """The 422 body of validating `body` as a request body of `model`."""
    with pytest.raises(ValidationError) as exc:
        model.model_validate(body)
    errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.value.errors()]
    return invalid(errors).model_dump()


@pytest.mark.parametrize("identifier", ["a", "A.b_c:d-9", "x" * 64, "2026-11-22.20:15:00"])
def test_ids_of_letters_digits_and_dot_underscore_colon_dash_are_accepted(identifier) -> None:
    assert ClientInput(client_id=identifier, match_id="m-1").client_id == identifier


@pytest.mark.parametrize("identifier", ["", "x" * 65, "a b", "a/b", "é", "a\n"])
def test_other_ids_are_refused_naming_the_field_and_the_value(identifier) -> None:
    answer = refusal(ClientInput, {"client_id": identifier, "match_id": "m-1"})

    assert (answer["error"], answer["field"], answer["value"]) == (
        "invalid",
        "client_id",
        identifier,
    )
    assert answer["message"].startswith("client_id: ")


def test_numbers_are_not_taken_as_text_nor_text_as_numbers() -> None:
    assert refusal(SubscriberInput, {"name": 5})["field"] == "name"
    assert refusal(NodeInput, {"cluster": "c", "url": "ws://h", "capacity": "5"})["value"] == "5"
    assert refusal(HeartbeatInput, {"connected": 1.5})["field"] == "connected"
    assert refusal(HeartbeatInput, {"connected": True})["field"] == "connected"


def test_a_missing_field_is_named_without_a_value() -> None:
    answer = refusal(NodeInput, {"cluster": "c", "url": "ws://h"})

    assert (answer["field"], answer["value"]) == ("capacity", None)


def test_an_unknown_field_is_named_with_its_value() -> None:
    answer = refusal(SubscriberInput, {"name": "A", "intrests": ["x"]})

    assert (answer["field"], answer["value"]) == ("intrests", ["x"])


def test_an_item_of_a_list_is_named_by_its_position() -> None:
    answer = refusal(SubscriberInput, {"name": "A", "interests": ["ok", ""]})

    assert (answer["field"], answer["value"]) == ("interests.1", "")


def test_a_body_that_is_not_an_object_is_named_body() -> None:
    answer = refusal(SubscriberInput, ["A"])

    assert (answer["field"], answer["value"]) == ("<body>", ["A"])


def test_a_body_that_is_not_json_is_named_body_without_a_value() -> None:
    error = {"type": "json_invalid", "loc": ("body", 9), "msg": "JSON decode error", "input": {}}

    answer = invalid([error]).model_dump()

    assert (answer["field"], answer["value"]) == ("<body>", None)


def test_path_and_query_parameters_are_named_without_their_source() -> None:
    error = {
        "type": "string_pattern_mismatch",
        "loc": ("path", "node_id"),
        "msg": "bad",
        "input": "a b",
    }

    assert invalid([error]).field == "node_id"


def test_text_with_a_lone_surrogate_is_refused() -> None:
    assert refusal(SubscriberInput, {"name": "\ud800"})["field"] == "name"


@pytest.mark.parametrize("url", ["ws://10.0.0.1:8090/ws", "wss://gw.example/ws", "http://h:1"])
def test_node_urls_are_http_or_websocket(url) -> None:
    assert NodeInput(cluster="c", url=url, capacity=1).url == url


@pytest.mark.parametrize("url", ["10.0.0.1:8090", "ftp://h", "ws://", "ws://h h"])
def test_other_node_urls_are_refused(url) -> None:
    assert refusal(NodeInput, {"cluster": "c", "url": url, "capacity": 1})["field"] == "url"


@pytest.mark.parametrize(
    ("capacity", "ok"), [(0, False), (1, True), (2**31 - 1, True), (2**31, False)]
)
def test_capacity_is_a_positive_int_column(capacity, ok) -> None:
    body = {"cluster": "c", "url": "ws://h", "capacity": capacity}
    if ok:
        assert NodeInput.model_validate(body).capacity == capacity
    else:
        assert refusal(NodeInput, body)["field"] == "capacity"
