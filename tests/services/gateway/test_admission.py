"""Handshake checks: Origin and the connection parameters."""

from __future__ import annotations

import pytest

from pulse.services.gateway.admission import (
    BadRequest,
    ClientRequest,
    client_request,
    origin_allowed,
)

ALLOWED = ("http://localhost:*", "https://pulse.example")


def test_a_client_without_origin_is_not_a_browser_and_is_let_in():
    assert origin_allowed(None, ALLOWED)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:8100", True),
        ("https://pulse.example", True),
        ("https://evil.example", False),
        ("http://localhost.evil.example", False),
    ],
)
def test_a_browser_is_let_in_from_allowed_origins_only(origin, allowed):
    assert origin_allowed(origin, ALLOWED) is allowed


def test_parameters_are_read():
    assert client_request("/ws?client_id=c-1&match_id=m-1&subscriber_id=s-1") == ClientRequest(
        "c-1", "m-1", "s-1"
    )
    assert client_request("/ws?client_id=c-1&match_id=m-1").subscriber_id is None


@pytest.mark.parametrize(
    ("target", "status", "named"),
    [
        ("/other?client_id=c&match_id=m", 404, "/other"),
        ("/ws?client_id=c", 400, "match_id is missing"),
        ("/ws?client_id=&match_id=m", 400, "client_id must be"),
        ("/ws?client_id=c&match_id=m&match_id=n", 400, "match_id is given 2 times"),
        (f"/ws?client_id={'x' * 65}&match_id=m", 400, "client_id must be"),
    ],
)
def test_bad_parameters_are_refused_naming_them(target, status, named):
    with pytest.raises(BadRequest, match=named) as refused:
        client_request(target)
    assert refused.value.status == status
