"""Hostile input against a running node: viewer messages nested 2,000 deep inside the 4 KB
frame limit, integers of 4,000 digits and lone surrogates in every field of the message a
viewer sends, each answered with an error message naming the field (the socket stays open);
a frame past the limit closed with 1009; ids the registry would refuse answered 400 by the
page API before the registry is asked; a handshake sent slowly closed within `http`'s bound.
Nothing is logged as an unhandled exception.
"""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from websockets.exceptions import ConnectionClosed

from tests.conftest import free_tcp_port
from tests.services.gateway.support import join
from tests.services.hostile_json import (
    CLASSES,
    HOSTILE,
    IN_A_FRAME,
    document_cases,
    hostile_document,
    names_a_corrupted_field,
)
from tests.services.slow_clients import BOUND, BOUNDS, IDLE, SLACK, slow_headers
from tests.services.slow_clients import held_while_others_are_served as held_while

pytestmark = pytest.mark.broker  # the session's test stack (its configuration)

VIEWER_MESSAGE = {"type": "emoji", "emoji": "🔥"}  # every message type a viewer sends
MESSAGE_EXAMPLES = 1000


@pytest.fixture(scope="module")
def node(start_node):
    """One node for the module's tests."""
    return start_node()


def _assert_no_traceback(node) -> None:
    output = node.output()
    assert "Traceback" not in output, output[-3000:]


@pytest.mark.parametrize("hostile", sorted(CLASSES))
def test_a_hostile_viewer_message_gets_an_error_naming_the_field(node, hostile) -> None:
    cases = document_cases(VIEWER_MESSAGE, CLASSES[hostile], IN_A_FRAME)
    wrong = []
    with join(node, f"m-{uuid.uuid4().hex[:8]}") as client:
        for case in cases:
            assert len(case.body) <= 4096, case.kind  # inside the frame limit
            client.send(case.body.decode())
            answer = json.loads(client.recv(5))
            if answer["type"] != "error" or not case.refused(answer):
                wrong.append(f"{case.field} {case.kind}: {answer}")

    assert wrong == []
    _assert_no_traceback(node)


def test_an_error_repeats_a_lone_surrogate_escaped(node) -> None:
    with join(node, f"m-{uuid.uuid4().hex[:8]}") as client:
        client.send('{"type": "emoji", "emoji": "\\ud800"}')
        answer = json.loads(client.recv(5))

    assert (answer["type"], answer["field"], answer["value"]) == ("error", "emoji", "\\ud800")


def test_a_frame_past_the_limit_is_closed_with_1009(node) -> None:
    deep = HOSTILE["deep"][0]  # 200 KB
    with join(node, f"m-{uuid.uuid4().hex[:8]}") as client:
        client.send(f'{{"type": "emoji", "emoji": {deep}}}')
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(5)

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    _assert_no_traceback(node)


@pytest.mark.parametrize("client_id", ["x';DROP--", "ü", "a" * 65, "c 1"])
def test_an_assignment_for_an_id_the_registry_refuses_is_a_400_naming_it(
    node, registry, client_id
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    try:
        target = f"/api/assignment?match_id=m-1&client_id={quote(client_id)}"
        connection.request("POST", target)
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()

    assert (response.status, body["field"]) == (400, "client_id")
    assert body["message"].startswith("client_id must be")
    assert client_id not in registry.clients  # the registry was not asked


@pytest.fixture(scope="module")
def bounded_node(start_service, registry):
    """A node whose handshakes (and page requests) must arrive within `BOUND` seconds."""
    node_id = f"n-{uuid.uuid4().hex[:8]}"
    return start_service(
        "gateway",
        "--cluster",
        "c-test",
        "--node",
        node_id,
        port=free_tcp_port(),
        node_id=node_id,
        extra_env=BOUNDS,
        ready=lambda _service: node_id in registry.nodes,
    )


def _page_answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/api/matches")
        return connection.getresponse().status == 200
    finally:
        connection.close()


@pytest.mark.parametrize("kind", ["idle", "slow_headers"])
def test_a_slow_handshake_is_closed_within_the_bound(bounded_node, kind) -> None:
    client = IDLE if kind == "idle" else slow_headers("/ws?client_id=c-1&match_id=m-1")
    held = held_while(bounded_node.port, client, lambda: _page_answers(bounded_node.port))

    assert BOUND * 0.9 <= held < BOUND + SLACK
    _assert_no_traceback(bounded_node)


def test_every_drawn_hostile_viewer_message_gets_an_error_naming_a_field(node) -> None:
    answered: list[str] = []
    wrong: list[str] = []
    paths = [(name, [name]) for name in VIEWER_MESSAGE]
    with join(node, f"m-{uuid.uuid4().hex[:8]}") as client:

        @given(drawn=hostile_document(VIEWER_MESSAGE, paths, size=1300))
        @settings(max_examples=MESSAGE_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def send(drawn: tuple[bytes, dict[str, str]]) -> None:
            body, words = drawn
            assume(len(body) <= 4096)  # inside the frame limit
            client.send(body.decode())
            answer = json.loads(client.recv(5))
            answered.append(answer["type"])
            if answer["type"] != "error" or not names_a_corrupted_field(answer, words):
                wrong.append(f"{words}: {answer}")

        send()

    print(f"\nviewer messages: {len(answered)} drawn, every one answered")
    assert wrong == []
    _assert_no_traceback(node)
