"""Who may open a socket on a node: pure checks of the handshake request (Origin, parameters,
the registry's admission token; why: "Admission" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import parse_qs, urlsplit

from pulse.events.schema import escaped
from pulse.services.admission_tokens import Grant
from pulse.services.registry.models import ID_PATTERN

PATH = "/ws"
_ID = re.compile(ID_PATTERN)


class BadRequest(ValueError):
    """A handshake the node refuses (HTTP 400 or 404); the message names the parameter."""

    def __init__(
        self, message: str, status: int = 400, details: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.details = details or {}  # the field and value, for answers in JSON


@dataclass(frozen=True)
class ClientRequest:
    """A client's connection parameters: who it is, which match, optionally which
    subscriber's game updates it takes, and the registry's token for them (None: none given)."""

    client_id: str
    match_id: str
    subscriber_id: str | None = None
    token: str | None = None

    def grant(self, node_id: str) -> Grant:
        """What the client asks to be let in for, on node `node_id`."""
        return Grant(
            client_id=self.client_id,
            match_id=self.match_id,
            subscriber_id=self.subscriber_id,
            node_id=node_id,
        )


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    """Whether a handshake's Origin header is acceptable: absent, or matching an allowed
    pattern (`*` stands for any characters, so `http://localhost:*` allows every port)."""
    return origin is None or any(fnmatchcase(origin, pattern) for pattern in allowed)


def client_request(target: str) -> ClientRequest:
    """The parameters of a request target such as `/ws?client_id=c&match_id=m`, or BadRequest."""
    parts = urlsplit(target)
    if parts.path != PATH:
        raise BadRequest(f"no such endpoint {parts.path!r}; connect to {PATH}", status=404)
    query = parse_qs(parts.query, keep_blank_values=True)
    values = {name: _single(query, name) for name in ("client_id", "match_id", "subscriber_id")}
    for name in ("client_id", "match_id"):
        if values[name] is None:
            raise BadRequest(f"{name} is missing")
    return ClientRequest(
        client_id=str(values["client_id"]),
        match_id=str(values["match_id"]),
        subscriber_id=values["subscriber_id"],
        token=_single(query, "token", check=False),  # its shape is the token's check
    )


def _single(query: dict[str, list[str]], name: str, check: bool = True) -> str | None:
    values = query.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise BadRequest(f"{name} is given {len(values)} times")
    return valid_id(name, values[0]) if check else values[0]


def valid_id(name: str, value: str) -> str:
    """`value` if it is an id the registry takes, else BadRequest naming `name`."""
    if _ID.fullmatch(value) is None:
        shown = escaped(value[:80])
        raise BadRequest(
            f"{name} must be 1 to 64 characters of A-Z a-z 0-9 . _ : -, got {shown!r}",
            details={"field": name, "value": shown},
        )
    return value
