"""The ingest and registry APIs fuzzed from their own OpenAPI documents (schemathesis): no
request, well-formed or not, gets a 5xx.

For each operation of a document, schemathesis gives a Hypothesis strategy of requests drawn
from its schemas, then broken (wrong types, missing and extra fields, odd strings in paths);
each is sent with a valid API key, so that it reaches the handlers. A bounded number of
examples per operation keeps the run short; Hypothesis shrinks a 5xx to the smallest request
that gives it. (schemathesis's pytest plugin does not run under pytest 9, hence the strategies.)
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.services.support import KEYS, Api, Service

pytestmark = [pytest.mark.broker, pytest.mark.counts]

EXAMPLES = 40  # per operation


def fuzz(openapi_url: str) -> Counter[str]:
    """Every operation of the document at `openapi_url`, `EXAMPLES` requests each; the answers'
    statuses by operation and status. Fails on the first 5xx (shrunk)."""
    schema = schemathesis.openapi.from_url(openapi_url)
    seen: Counter[str] = Counter()
    for result in schema.get_all_operations():
        never_5xx(result.ok(), seen)()
    return seen


def never_5xx(operation, seen: Counter[str]) -> Callable[[], None]:
    """A Hypothesis test of one operation: each drawn request answered below 500."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case) -> None:
        response = case.call(headers={"X-API-Key": KEYS[0]})
        seen[f"{case.method} {operation.path} {response.status_code}"] += 1
        assert response.status_code < 500, (case.path, case.body, response.text)

    return check


def print_answers(name: str, seen: Counter[str]) -> None:
    print(f"\n{name}: {sum(seen.values())} fuzzed requests, by operation and status")
    for line, count in sorted(seen.items()):
        print(f"  {count:>5}  {line}")


@pytest.fixture(scope="module")
def ingest(start_api) -> Api:
    return start_api()


def test_the_ingest_api_answers_no_fuzzed_request_with_a_5xx(ingest: Api) -> None:
    seen = fuzz(f"{ingest.url}/openapi.json")
    print_answers("ingest API", seen)
    assert any(line.endswith(" 202") for line in seen), "no request was ever accepted"


@contextmanager
def live_node(registry: Service) -> Iterator[None]:
    """A delivery node with room, heartbeating: the registry's 503 when no node is live is the
    state of the platform, not an answer to the request, so the fuzz runs where one is."""
    body = {"cluster": "fuzz", "url": "ws://127.0.0.1:9/ws", "capacity": 1_000_000}
    assert registry.request("PUT", "/v1/nodes/fuzz-node", body).status in (200, 201)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(1):
            registry.post("/v1/nodes/fuzz-node/heartbeat", {"connected": 0})

    beat_thread = threading.Thread(target=beat, daemon=True)
    registry.post("/v1/nodes/fuzz-node/heartbeat", {"connected": 0})
    beat_thread.start()
    try:
        yield
    finally:
        stop.set()
        beat_thread.join(10)


def test_the_registry_api_answers_no_fuzzed_request_with_a_5xx(
    registry: Service, registry_db
) -> None:
    with live_node(registry):
        seen = fuzz(f"{registry.url}/openapi.json")
    print_answers("registry API", seen)
    assert any(line.endswith((" 200", " 201", " 204")) for line in seen)
