"""The ingest and registry APIs fuzzed from their own OpenAPI documents (schemathesis): no
request, well-formed or not, gets a 5xx.

For each operation of a document, schemathesis gives a Hypothesis strategy of requests drawn
from its schemas, then broken (wrong types, missing and extra fields, odd strings in paths);
each is sent with a valid API key, so that it reaches the handlers. A bounded number of
examples per operation keeps the run short; Hypothesis shrinks a 5xx to the smallest request
that gives it. (schemathesis's pytest plugin does not run under pytest 9, hence the strategies.)

The registry is also run stateful: schemathesis infers links between its operations from the
document (an id a subscriber's or a client's route answers is the path parameter of the next
route), and draws sequences of calls that follow them (register a client, ask its assignment,
delete it, ...), so that requests reach the states only a sequence makes. The ingest API keeps
no state a request could build on, so it has no links to follow.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, multiple
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput

from pulse.services.registry.models import ID_PATTERN
from tests.services.support import KEYS, Api, Service, assert_each_in_kafka_once

pytestmark = [pytest.mark.broker, pytest.mark.counts]

EXAMPLES = 40  # per operation
# The domain of what an ingest route accepts, where its path does not name it.
ACCEPTING = {"/v1/emoji": "emoji", "/v1/products/{product_id}": "product"}
STATEFUL_RUNS, STATEFUL_STEPS = 60, 10  # sequences of calls, and at most this many calls each
IDS = st.from_regex(ID_PATTERN, fullmatch=True)
NO_NODE = ("no_live_node", "no_capacity")  # the registry's 503s when no node is live
FUZZ_NODE = {"cluster": "fuzz", "url": "ws://127.0.0.1:9/ws", "capacity": 1_000_000}


Accepted = dict[str, set[str]]  # event ids an API accepted (202), by domain


def fuzz(openapi_url: str, accepted: Accepted | None = None) -> Counter[str]:
    """Every operation of the document at `openapi_url`, `EXAMPLES` requests each; the answers'
    statuses by operation and status. Fails on the first 5xx (shrunk). The ids of the events
    an ingest API accepted are added to `accepted`."""
    schema = schemathesis.openapi.from_url(openapi_url)
    seen: Counter[str] = Counter()
    for result in schema.get_all_operations():
        never_5xx(result.ok(), seen, accepted if accepted is not None else {})()
    return seen


def never_5xx(operation, seen: Counter[str], accepted: Accepted) -> Callable[[], None]:
    """A Hypothesis test of one operation: each drawn request answered below 500."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case) -> None:
        response = case.call(headers={"X-API-Key": KEYS[0]})
        seen[f"{case.method} {operation.path} {response.status_code}"] += 1
        assert response.status_code < 500, (case.path, case.body, response.text)
        if response.status_code == 202:
            body = response.json()
            domain = ACCEPTING.get(operation.path) or case.path_parameters["domain"]
            accepted.setdefault(domain, set()).update(body.get("event_ids") or [body["event_id"]])

    return check


def print_answers(name: str, seen: Counter[str]) -> None:
    print(f"\n{name}: {sum(seen.values())} fuzzed requests, by operation and status")
    for line, count in sorted(seen.items()):
        print(f"  {count:>5}  {line}")


@pytest.fixture(scope="module")
def ingest(start_api) -> Api:
    return start_api()


def test_the_ingest_api_answers_no_fuzzed_request_with_a_5xx_and_keeps_what_it_accepts_once(
    ingest: Api,
) -> None:
    accepted: Accepted = {}
    seen = fuzz(f"{ingest.url}/openapi.json", accepted)
    print_answers("ingest API", seen)
    assert any(line.endswith(" 202") for line in seen), "no request was ever accepted"
    assert_each_in_kafka_once(ingest, accepted)
    print(f"  {sum(map(len, accepted.values()))} accepted events, each in Kafka once")
    assert "Traceback" not in ingest.log.read_text()


@contextmanager
def live_node(registry: Service) -> Iterator[None]:
    """A delivery node with room, heartbeating: the registry's 503 when no node is live is the
    state of the platform, not an answer to the request, so the fuzz runs where one is."""
    assert registry.request("PUT", "/v1/nodes/fuzz-node", FUZZ_NODE).status in (200, 201)
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
    assert "Traceback" not in registry.log.read_text()


def test_the_registry_api_answers_no_stateful_sequence_with_a_5xx(
    registry: Service, registry_db
) -> None:
    schema = schemathesis.openapi.from_url(f"{registry.url}/openapi.json")
    seen: Counter[str] = Counter()
    machine = schema.as_state_machine()  # infers the links first
    links = schema.statistic.transitions.total

    subscribers = schema["/v1/subscribers/{subscriber_id}"]["PUT"]
    clients = schema["/v1/clients"]["POST"]

    class Sequences(machine):  # type: ignore[misc,valid-type]
        # schemathesis starts sequences only from POSTs and GETs of lists it expects to work:
        # not `PUT /v1/subscribers/{id}`, nor `POST /v1/clients` (its match id is made
        # nowhere), so a sequence begins with a drawn subscriber and client, whose answers
        # feed the links of the rest (assignments, subscriptions, inbox, deletes).
        @initialize(target=Bundle("seeded"), subscriber=IDS, client=IDS, match=IDS)
        def seed(self, subscriber: str, client: str, match: str) -> list[StepOutput]:
            cases = [
                subscribers.Case(path_parameters={"subscriber_id": subscriber}, body={"name": "s"}),
                clients.Case(body={"client_id": client, "match_id": match}),
            ]
            return multiple(*(self._seed_step(case) for case in cases))

        def _seed_step(self, case) -> StepOutput:
            step = StepInput.initial(case)
            self.recorder.record_case(case=case)  # as schemathesis's own first steps are
            self.control.record_step(step, self.recorder)
            return self.step(step)

        def setup(self) -> None:
            # Every sequence starts from the same registry (the live node only), so that
            # Hypothesis, which draws from the answers, replays a sequence as it ran.
            cur = registry_db.cursor()
            for table in ("subscriptions", "subscribers", "clients"):
                cur.execute(f"DELETE FROM {table}")
            cur.execute("DELETE FROM delivery_nodes WHERE node_id <> 'fuzz-node'")
            cur.close()
            # A sequence may deregister the live node: the next one starts with it again.
            assert registry.request("PUT", "/v1/nodes/fuzz-node", FUZZ_NODE).status == 200

        def get_call_kwargs(self, case) -> dict[str, object]:
            return {"headers": {"X-API-Key": KEYS[0]}}

        def validate_response(self, response, case, **_kwargs) -> None:
            seen[f"{case.method} {case.operation.path} {response.status_code}"] += 1
            # A sequence that deregistered the live node is answered 503 naming that, which
            # is the platform's state, not a failure.
            no_node = response.status_code == 503 and response.json()["error"] in NO_NODE
            if response.status_code >= 500 and not no_node:
                failed.append(f"{case.method} {case.path} {case.body!r}: {response.text[:300]}")

    failed: list[str] = []
    with live_node(registry):
        Sequences.run(
            settings=settings(
                max_examples=STATEFUL_RUNS, stateful_step_count=STATEFUL_STEPS, deadline=None,
                database=None, derandomize=True, suppress_health_check=list(HealthCheck),
            )
        )  # fmt: skip
    print_answers("registry API, stateful", seen)
    print(f"  {links} links between operations, inferred from the document")
    assert failed == []
    assert "Traceback" not in registry.log.read_text()
    assert links > 0
    assert any(line.endswith((" 200", " 201", " 204")) for line in seen)
