"""Hostile JSON against the running ingest API and registry: nesting 100,000 deep, integers of
5,000 digits and lone surrogates, in every field of every domain's event and of every registry
body. Each is a 422 naming the field and what is wrong (its value escaped), never a 5xx, and
nothing is logged as an unhandled exception.
"""

from __future__ import annotations

import json

import pytest

from pulse.events import SCHEMAS, example
from pulse.services.registry.models import ClientInput
from tests.services.hostile_json import (
    CLASSES,
    JSON,
    REGISTRY_BODIES,
    Case,
    document_cases,
    event_cases,
    surrogate_name,
)
from tests.services.support import Api, Service, StartApi

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def api(start_api: StartApi) -> Api:
    """An API whose body limit lets a 200 KB nesting in (its limit is not what is tested)."""
    return start_api(max_body_bytes=1_000_000)


def _unrefused(service: Service, method: str, path: str, cases: list[Case]) -> list[str]:
    """The cases the service did not refuse with a 422 naming the field, as readable lines."""
    wrong = []
    for case in cases:
        answer = service.request(method, path, case.body, headers=JSON)
        if answer.status != 422 or not case.refused(answer.body):
            wrong.append(f"{path} {case.field} {case.kind}: {answer.status} {answer.body}")
    return wrong


def _ingest_unrefused(api: Api, kinds: tuple[str, ...]) -> list[str]:
    wrong = []
    for domain, schema in SCHEMAS.items():
        wrong += _unrefused(api, "POST", f"/v1/events/{domain}", event_cases(schema, kinds))
    return wrong


def _assert_no_traceback(service: Service) -> None:
    log = service.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("hostile", sorted(CLASSES))
def test_ingest_refuses_hostile_json_in_every_field_of_every_domain_with_422(api, hostile) -> None:
    assert _ingest_unrefused(api, CLASSES[hostile]) == []
    _assert_no_traceback(api)


def test_ingest_refuses_a_5000_digit_home_score_naming_it(api) -> None:
    raw = json.dumps(example(SCHEMAS["sports"]))
    raw = raw.replace('"home_score": 1', '"home_score": ' + "9" * 5000)
    answer = api.request("POST", "/v1/events/sports", raw.encode())

    assert (answer.status, answer.body["field"]) == (422, "home_score")
    assert answer.body["message"] == "home_score: is an integer of more than 20 digits"


def test_ingest_repeats_a_lone_surrogate_escaped(api) -> None:
    raw = json.dumps(example(SCHEMAS["emoji"])).replace('"u-0042"', '"u-\\ud800"')
    answer = api.request("POST", "/v1/events/emoji", raw.encode())

    assert (answer.status, answer.body["field"]) == (422, "user_id")
    assert answer.body["value"] == "u-\\ud800"  # a backslash, a "u" and four digits


def test_ingest_refuses_a_field_name_that_is_a_lone_surrogate(api) -> None:
    answer = api.request("POST", "/v1/events/emoji", surrogate_name(example(SCHEMAS["emoji"])))

    assert (answer.status, answer.body["field"]) == (422, "\\ud800")


def test_ingest_names_the_event_of_a_batch_and_its_field(api) -> None:
    event = json.dumps(example(SCHEMAS["game"]))
    bad = event.replace('"gu-000001"', '"\\udfff"')
    answer = api.request("POST", "/v1/events/game:batch", f"[{event}, {bad}]".encode())

    assert (answer.status, answer.body["field"]) == (422, "[1].update_id")


@pytest.mark.parametrize("hostile", sorted(CLASSES))
def test_the_registry_refuses_hostile_json_in_every_field_of_every_body_with_422(
    registry, hostile
) -> None:
    wrong = []
    for model, (method, path, valid) in REGISTRY_BODIES.items():
        assert set(valid) == set(model.model_fields), model  # every field is tried
        wrong += _unrefused(registry, method, path, document_cases(valid, CLASSES[hostile]))

    assert wrong == []
    _assert_no_traceback(registry)


def test_the_registry_refuses_a_field_name_that_is_a_lone_surrogate(registry) -> None:
    method, path, valid = REGISTRY_BODIES[ClientInput]
    answer = registry.request(method, path, surrogate_name(valid))

    assert (answer.status, answer.body["field"], answer.body["value"]) == (
        422,
        "\\ud800",
        "\\ud800",
    )
