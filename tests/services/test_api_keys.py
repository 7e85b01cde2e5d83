"""No write reaches the ingest or the registry API without a configured key.

The routes are enumerated from the applications themselves (the ingest API's route table, the
registry's OpenAPI document), so a route added later is covered without editing this test.
"""

from __future__ import annotations

import pytest

from pulse.services.ingest.app import ROUTES
from tests.services.support import Api, Service

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
CREDENTIALS = {"no header": None, "empty": "", "wrong": "not-a-configured-key"}


def concrete(template: str) -> str:
    """A path of a route template, every parameter filled with a plausible value."""
    for name in ("domain", "product_id", "subscriber_id", "game_id", "client_id", "node_id"):
        template = template.replace("{" + name + "}", "media" if name == "domain" else "p-1")
    return template


@pytest.fixture(scope="module")
def api(start_api) -> Api:
    return start_api()


def test_every_write_of_the_ingest_api_needs_a_key(api: Api) -> None:
    writes = [(method, concrete(t)) for t, method in ROUTES.items() if method in WRITES]
    assert len(writes) >= 4

    answers = {
        (method, path, name): api.request(method, path, {}, key=key).status
        for method, path in writes
        for name, key in CREDENTIALS.items()
    }

    assert set(answers.values()) == {401}, answers


def test_every_write_of_the_registry_api_needs_a_key(registry: Service) -> None:
    document = registry.request("GET", "/openapi.json", key=None).body
    writes = [
        (method.upper(), concrete(path))
        for path, operations in document["paths"].items()
        for method in operations
        if method.upper() in WRITES
    ]
    assert len(writes) >= 8

    answers = {
        (method, path, name): registry.request(method, path, {}, key=key).status
        for method, path in writes
        for name, key in CREDENTIALS.items()
    }

    assert set(answers.values()) == {401}, answers
