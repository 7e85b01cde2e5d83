"""Hypothesis-drawn hostile JSON against the running ingest API and registry: events and bodies
with one to three fields nested 33 to 100,000 deep, integers of 21 to 5,000 digits or text with
a lone surrogate. Every one is a 422 naming a corrupted field, never a 5xx; the clean events
sent among them are accepted and land in Kafka exactly once.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.events import SCHEMAS, example, source_domains
from tests.services.hostile_json import (
    JSON,
    REGISTRY_BODIES,
    hostile_document,
    names_a_corrupted_field,
    schema_paths,
)
from tests.services.support import Api, Service, StartApi, assert_each_in_kafka_once

pytestmark = [pytest.mark.broker, pytest.mark.counts]

INGEST_EXAMPLES = 1200
CLEAN_EVERY = 5  # requests
REGISTRY_EXAMPLES = 1000
HYPOTHESIS = settings(
    deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(scope="module")
def api(start_api: StartApi) -> Api:
    """An API whose body limit lets three 600 KB nestings in (its limit is not what is
    tested)."""
    return start_api(max_body_bytes=2_000_000, flush_interval_ms=100)


def test_ingest_refuses_every_drawn_hostile_event_and_keeps_the_clean_ones_once(api) -> None:
    statuses: Counter[int] = Counter()
    accepted: dict[str, set[str]] = {domain: set() for domain in source_domains()}
    wrong: list[str] = []

    @given(data=st.data())
    @settings(HYPOTHESIS, max_examples=INGEST_EXAMPLES)
    def send(data: st.DataObject) -> None:
        domain = data.draw(st.sampled_from(source_domains()))
        schema = SCHEMAS[domain]
        event = {**example(schema), schema.id_field: f"fz-{uuid.uuid4().hex}"}
        body, words = data.draw(hostile_document(event, list(schema_paths(schema))))
        if sum(statuses.values()) % CLEAN_EVERY == 0:  # a clean event among the hostile ones
            answer = api.post(f"/v1/events/{domain}", event)
            statuses[answer.status] += 1
            assert answer.status == 202, answer.body
            accepted[domain].add(event[schema.id_field])
        answer = api.request("POST", f"/v1/events/{domain}", body, headers=JSON)
        statuses[answer.status] += 1
        assert answer.status < 500, answer.body
        if answer.status != 422 or not names_a_corrupted_field(answer.body, words):
            wrong.append(f"{domain} {words}: {answer.status} {answer.body}")

    send()

    print(f"\ningest: {sum(statuses.values())} requests, by status: {dict(statuses)}")
    assert wrong == []
    assert_each_in_kafka_once(api, accepted)
    assert "Traceback" not in api.log.read_text()


def test_the_registry_refuses_every_drawn_hostile_body(registry: Service) -> None:
    statuses: Counter[int] = Counter()
    wrong: list[str] = []
    bodies = list(REGISTRY_BODIES.values())

    @given(data=st.data())
    @settings(HYPOTHESIS, max_examples=REGISTRY_EXAMPLES)
    def send(data: st.DataObject) -> None:
        method, path, valid = data.draw(st.sampled_from(bodies))
        paths = [(name, [name]) for name in valid]
        paths += [
            (f"{name}[0]", [name, 0]) for name, value in valid.items() if isinstance(value, list)
        ]
        body, words = data.draw(hostile_document(valid, paths))
        answer = registry.request(method, path, body, headers=JSON)
        statuses[answer.status] += 1
        assert answer.status < 500, answer.body
        if answer.status != 422 or not names_a_corrupted_field(answer.body, words):
            wrong.append(f"{path} {words}: {answer.status} {json.dumps(answer.body)[:300]}")

    send()

    print(f"\nregistry: {sum(statuses.values())} requests, by status: {dict(statuses)}")
    assert wrong == []
    assert "Traceback" not in registry.log.read_text()
