"""A running node's HTTP surface under Hypothesis-drawn requests (`pulse serve gateway`, a fake
registry): its page API with drawn methods, paths and parameters (valid ids, hostile text),
and WebSocket handshakes with drawn admission tokens (valid, missing, forged, tampered,
expired, another node's or another client's). No answer is a 5xx; each is the one an oracle of
the page API's rules expects, and a refusal names the parameter; nothing is logged as an
unhandled exception.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import time
from collections import Counter
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from websockets.http11 import MAX_LINE_LENGTH

from pulse.services.gateway.web import ASSIGNMENT, PAGE_FILES
from pulse.services.registry.models import ID_PATTERN
from tests.services.gateway.support import admission_token
from tests.services.hostile_json import hostile_text

pytestmark = [pytest.mark.broker, pytest.mark.counts]

PAGE_EXAMPLES = 1200
HANDSHAKE_EXAMPLES = 600
HYPOTHESIS = settings(
    deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
PATHS = (ASSIGNMENT, "/api/scoreboard", "/api/matches", *PAGE_FILES, "/api/nothing", "/ws/x")
METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
PARAMETERS = ("match_id", "client_id", "subscriber_id")
IDS = st.from_regex(ID_PATTERN, fullmatch=True)
_ID = re.compile(ID_PATTERN)


@pytest.fixture(scope="module")
def node(start_node):
    """One node for the module's tests."""
    return start_node()


def expected(method: str, path: str, params: dict[str, str]) -> tuple[int, str | None]:
    """The page API's rules: the status, and the parameter a 400 names (the first wrong)."""
    if len(f"{method} {path}?{query(params)} HTTP/1.1\r\n") > MAX_LINE_LENGTH:
        return 414, None  # the `websockets` server reads no longer line
    if method != ("POST" if path == ASSIGNMENT else "GET"):
        return 405, None
    if path in PAGE_FILES or path == "/api/matches":
        return 200, None
    needed = {"/api/scoreboard": ("match_id",), ASSIGNMENT: ("match_id", "client_id")}
    if path not in needed:
        return 404, None
    names = needed[path] + (("subscriber_id",) if path == ASSIGNMENT else ())
    for name in names:
        given = params.get(name)
        if (given is None and name != "subscriber_id") or (
            given is not None and _ID.fullmatch(given) is None
        ):
            return 400, name
    return 200, None


def query(params: dict[str, str]) -> str:
    """`params` percent-encoded as UTF-8, lone surrogates too (as a browser would send bytes)."""
    return "&".join(
        f"{name}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}"
        for name, value in params.items()
    )


def ask(port: int, method: str, target: str, headers: dict[str, str] | None = None):
    """One request on a fresh connection: the response, its body read unless a 101."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, target, headers=headers or {})
        response = connection.getresponse()
        body = b"" if response.status == 101 else response.read()
        return response.status, body
    finally:
        connection.close()


def test_every_drawn_page_request_gets_the_answer_its_rules_give(node) -> None:
    statuses: Counter[int] = Counter()
    wrong: list[str] = []

    @given(data=st.data())
    @settings(HYPOTHESIS, max_examples=PAGE_EXAMPLES)
    def send(data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(PATHS))
        right = "POST" if path == ASSIGNMENT else "GET"
        method = data.draw(st.sampled_from((right,) * 8 + METHODS))  # mostly the right one
        values = st.one_of(IDS, IDS, hostile_text())  # mostly ids
        params = data.draw(st.dictionaries(st.sampled_from(PARAMETERS), values, max_size=3))
        status, body = ask(node.port, method, f"{path}?{query(params)}")
        statuses[status] += 1
        assert status < 500, (method, path, params, body[:300])
        want, field = expected(method, path, params)
        named = json.loads(body).get("field") if status == 400 else None
        if (status, named) != (want, field):
            wrong.append(f"{method} {path} {params!r}: {status} {body[:200]!r}")

    send()

    print(f"\npage API: {sum(statuses.values())} requests, by status: {dict(statuses)}")
    assert wrong == []
    assert {200, 400, 405} <= set(statuses)
    assert "Traceback" not in node.output()


@st.composite
def handshake(draw: st.DrawFn, node_id: str) -> tuple[str, int]:
    """A handshake's target with a drawn token, and the status the node must answer."""
    client, match = draw(IDS), draw(IDS)
    kind = draw(
        st.sampled_from(("valid", "missing", "node", "client", "expired", "tampered", "text"))
    )
    token: str | None = admission_token(node_id, client, match)
    status = 403
    if kind == "valid":
        status = 101
    elif kind == "missing":
        token, status = None, 401
    elif kind == "node":
        token = admission_token(f"{node_id}-other", client, match)
    elif kind == "client":
        token = admission_token(node_id, f"{client}-other"[:64], match)
        assume(not client.endswith("-other"))
    elif kind == "expired":
        token = admission_token(
            node_id, client, match, expires=time.time() - draw(st.integers(2, 10**6))
        )
    elif kind == "tampered":
        at = draw(st.integers(0, len(token) - 1))
        replacement = draw(st.characters(codec="ascii", exclude_characters=token[at]))
        token = token[:at] + replacement + token[at + 1 :]
    else:
        token = draw(hostile_text())
    params = {"client_id": client, "match_id": match}
    if token is not None:
        params["token"] = token
    return f"/ws?{query(params)}", status


def test_every_drawn_handshake_is_admitted_only_with_its_registry_token(node) -> None:
    statuses: Counter[int] = Counter()
    wrong: list[str] = []
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}

    @given(drawn=handshake(node.node_id))
    @settings(HYPOTHESIS, max_examples=HANDSHAKE_EXAMPLES)
    def connect(drawn: tuple[str, int]) -> None:
        target, want = drawn
        key = base64.b64encode(os.urandom(16)).decode()
        status, body = ask(node.port, "GET", target, {**upgrade, "Sec-WebSocket-Key": key})
        statuses[status] += 1
        if status != want:
            wrong.append(f"{target[:200]}: {status} (not {want}) {body[:200]!r}")

    connect()

    print(f"\nhandshakes: {sum(statuses.values())} drawn, by status: {dict(statuses)}")
    assert wrong == []
    assert {101, 401, 403} <= set(statuses)
    assert "Traceback" not in node.output()
