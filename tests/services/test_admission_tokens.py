"""A node admits only the clients the registry assigned to it: the token module alone, then a
real `pulse serve registry` (signing) and a real `pulse serve gateway` (checking), over HTTP and
WebSocket, the page API included.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from pulse.services.admission_tokens import AdmissionKey, Grant, TokenRefused
from tests.conftest import free_tcp_port
from tests.services.gateway.support import Service as Node
from tests.services.gateway.support import admission_token, service_starter
from tests.services.support import KEYS, Service

KEY = AdmissionKey(b"a secret of the registry and its nodes, 32+")
GRANT = Grant(client_id="c-1", match_id="m-1", subscriber_id=None, node_id="n-1")
NOW = 1_900_000_000


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- the token alone --------------------------------------------------------------------------


def test_a_token_admits_its_grant_until_it_expires() -> None:
    token = KEY.issue(GRANT, NOW + 60)

    KEY.check(token, GRANT, NOW + 60)
    with pytest.raises(TokenRefused, match="expired 1 s ago"):
        KEY.check(token, GRANT, NOW + 61)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"client_id": "c-2"}, "not the registry's for client c-2"),
        ({"match_id": "m-2"}, "not the registry's"),
        ({"subscriber_id": "s-1"}, "not the registry's .* with subscriber s-1"),
        ({"node_id": "n-2"}, "for node n-1, not this node \\(n-2\\)"),
    ],
)
def test_a_token_admits_nothing_but_its_grant(change: dict[str, Any], reason: str) -> None:
    token = KEY.issue(GRANT, NOW + 60)
    other = replace(GRANT, **change)

    with pytest.raises(TokenRefused, match=reason) as refused:
        KEY.check(token, other, NOW)
    assert refused.value.status == 403


@pytest.mark.parametrize(
    ("token", "reason", "status"),
    [
        (None, "token is missing", 401),
        ("", "token is malformed", 403),
        ("n-1~1900000060~" + "0" * 64, "not the registry's", 403),
        ("n-1~1900000060", "token is malformed", 403),
        ("n-1~-5~" + "0" * 64, "token is malformed", 403),
    ],
)
def test_a_missing_malformed_or_forged_token_is_refused(
    token: str | None, reason: str, status: int
) -> None:
    with pytest.raises(TokenRefused, match=reason) as refused:
        KEY.check(token, GRANT, NOW)
    assert refused.value.status == status


def test_a_token_of_another_secret_is_refused() -> None:
    token = AdmissionKey(b"another secret, not the nodes' one").issue(GRANT, NOW + 60)

    with pytest.raises(TokenRefused, match="not the registry's"):
        KEY.check(token, GRANT, NOW)


# -- a real registry and a real node ----------------------------------------------------------


@pytest.fixture(scope="module")
def node(test_env: dict[str, str], registry: Service, tmp_path_factory) -> Iterator[Node]:
    """A node registered with the real registry (whose tokens it checks)."""
    env = {
        **test_env,
        "PULSE_REGISTRY__URL": registry.url,
        "PULSE_GATEWAY__REGISTRY_KEY": KEYS[0],
    }
    node_id = unique("n")

    def registered(_node: Node) -> bool:
        nodes = registry.request("GET", "/v1/nodes").body["nodes"]
        return any(listed["node_id"] == node_id for listed in nodes)

    with service_starter(env, tmp_path_factory) as start:
        yield start(
            "gateway", "--cluster", "c-tokens", "--node", node_id, port=free_tcp_port(),
            node_id=node_id, ready=registered,
        )  # fmt: skip


def ws_url(node: Node, client_id: str, match_id: str, token: str | None) -> str:
    params = {"client_id": client_id, "match_id": match_id}
    if token is not None:
        params["token"] = token
    return f"{node.url}?{urlencode(params)}"


def refusal(url: str) -> tuple[int, str]:
    """The status and text with which the node refuses the handshake at `url`."""
    with pytest.raises(InvalidStatus) as refused, connect(url, open_timeout=10):
        pass
    return refused.value.response.status_code, refused.value.response.body.decode()


def test_a_client_the_registry_assigned_is_admitted(node, registry) -> None:
    client, match = unique("c"), unique("m")
    assigned = registry.post("/v1/clients", {"client_id": client, "match_id": match}).body
    assert assigned["node_id"] == node.node_id  # the only live node

    with connect(ws_url(node, client, match, assigned["token"]), open_timeout=10) as socket:
        assert json.loads(socket.recv(10))["type"] == "welcome"


def test_an_unassigned_client_is_refused(node, registry) -> None:
    client, match = unique("c"), unique("m")  # never registered

    assert refusal(ws_url(node, client, match, None)) == (
        401,
        "token is missing: ask the registry for an assignment\n",
    )
    someone = registry.post("/v1/clients", {"client_id": unique("c"), "match_id": match}).body
    status, text = refusal(ws_url(node, client, match, someone["token"]))  # another's token
    assert status == 403
    assert text == f"token is not the registry's for client {client} of match {match}\n"


def test_a_token_for_another_node_is_refused(node, registry) -> None:
    other = unique("n")
    registry.request(
        "PUT", f"/v1/nodes/{other}", {"cluster": "c-x", "url": "ws://127.0.0.1:9/ws", "capacity": 9}
    )
    try:
        match = unique("m")
        for _ in range(50):  # rendezvous hashing sends about half the clients to each node
            client = unique("c")
            body = registry.post("/v1/clients", {"client_id": client, "match_id": match}).body
            if body["node_id"] == other:
                break
        assert body["node_id"] == other

        status, text = refusal(ws_url(node, client, match, body["token"]))
    finally:
        registry.request("DELETE", f"/v1/nodes/{other}")

    assert status == 403
    assert f"token is for node {other}, not this node ({node.node_id})" in text


def test_an_expired_token_is_refused(node) -> None:
    client, match = unique("c"), unique("m")
    token = admission_token(node.node_id, client, match, expires=time.time() - 5)

    status, text = refusal(ws_url(node, client, match, token))

    assert status == 403
    assert text.startswith("token expired 5 s ago") or text.startswith("token expired 6 s ago")


# -- the page API -----------------------------------------------------------------------------


def page_api(node: Node, method: str, target: str, **headers: str) -> tuple[int, Any, str]:
    """Status, JSON body and `Allow` header of a request to the node's page API."""
    connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    try:
        connection.request(method, target, headers=headers)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read()), answer.getheader("Allow", "")
    finally:
        connection.close()


def test_the_page_api_assigns_with_a_post_whose_token_admits_the_browser(node) -> None:
    client, match = unique("web"), unique("m")
    target = f"/api/assignment?{urlencode({'client_id': client, 'match_id': match})}"

    status, body, _ = page_api(node, "POST", target, Origin="http://127.0.0.1:8100")

    assert status == 200
    assert (body["node_id"], body["url"]) == (node.node_id, node.url)
    with connect(ws_url(node, client, match, body["token"]), open_timeout=10) as socket:
        assert json.loads(socket.recv(10))["type"] == "welcome"


def test_the_page_api_refuses_a_get_assignment_and_a_foreign_origin(node) -> None:
    target = f"/api/assignment?client_id={unique('web')}&match_id=m-1"

    assert page_api(node, "GET", target)[0::2] == (405, "POST")
    assert page_api(node, "POST", "/api/matches")[0::2] == (405, "GET")
    status, body, _ = page_api(node, "POST", target, Origin="https://elsewhere.example")
    assert (status, body["message"]) == (403, "origin https://elsewhere.example is not allowed")


def test_a_node_refuses_to_start_without_the_admission_secret(run_pulse) -> None:
    env = {"PULSE_GATEWAY__REGISTRY_KEY": KEYS[0], "PULSE_GATEWAY__ADMISSION_SECRET": ""}
    result = run_pulse("serve", "gateway", "--cluster", "c", "--node", "n", env=env, timeout=60)

    assert result.returncode == 1
    assert "PULSE_GATEWAY__ADMISSION_SECRET" in result.stderr
