"""Admission tokens: the registry's signed word that it assigned a client to a node, checked by
that node at the WebSocket handshake, so that a node admits only the clients sent to it (why a
signature: "Admission" in docs/ARCHITECTURE.md; the token's form: docs/SECURITY.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, replace

from pydantic import SecretStr

from pulse.events.schema import escaped
from pulse.services.registry.models import ID_PATTERN

SEPARATOR = "~"
_ID = ID_PATTERN.removeprefix("^").removesuffix("$")
_TOKEN = re.compile(SEPARATOR.join((f"({_ID})", "([0-9]{1,12})", "([0-9a-f]{64})")))


class NoAdmissionSecret(RuntimeError):
    """The registry or a node was started without the admission secret; names the variable."""


class TokenRefused(ValueError):
    """A handshake's token is missing, malformed, forged, expired or for another node; the
    message says which, and `status` is the HTTP answer (401 missing, 403 otherwise)."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, kw_only=True)
class Grant:
    """What a token lets in: this client, watching this match (and this subscriber's game
    updates, if any), on this node."""

    client_id: str
    match_id: str
    subscriber_id: str | None
    node_id: str

    def signed_text(self, expires: int) -> bytes:
        """What the MAC covers: every field and the expiry, one a line (ids never hold a
        newline, `ID_PATTERN`, so fields cannot run into each other)."""
        fields = (self.client_id, self.match_id, self.subscriber_id or "", self.node_id)
        return "\n".join((*fields, str(expires))).encode()


@dataclass(frozen=True)
class AdmissionKey:
    """The shared secret, issuing tokens (the registry) and checking them (a node).

    >>> key = AdmissionKey(b"a secret of the registry and its nodes")
    >>> grant = Grant(client_id="c-1", match_id="m-1", subscriber_id=None, node_id="n-1")
    >>> key.check(key.issue(grant, expires=2_000_000_000), grant, now=1_999_999_999)
    """

    secret: bytes

    def issue(self, grant: Grant, expires: int) -> str:
        """A token for `grant`, valid until `expires` (Unix seconds)."""
        return SEPARATOR.join((grant.node_id, str(expires), self._mac(grant, expires)))

    def check(self, token: str | None, grant: Grant, now: float) -> None:
        """Nothing if `token` admits `grant` at `now`; else `TokenRefused` saying why."""
        if token is None:
            raise TokenRefused("token is missing: ask the registry for an assignment", 401)
        parsed = _TOKEN.fullmatch(token)
        if parsed is None:
            raise TokenRefused(f"token is malformed: {escaped(token[:80])!r}")
        node_id, expires_text, mac = parsed.groups()
        expires = int(expires_text)
        if not hmac.compare_digest(mac, self._mac(replace(grant, node_id=node_id), expires)):
            raise TokenRefused(
                f"token is not the registry's for client {grant.client_id} of match "
                f"{grant.match_id}" + _for_subscriber(grant.subscriber_id)
            )
        if node_id != grant.node_id:
            raise TokenRefused(
                f"token is for node {node_id}, not this node ({grant.node_id}): connect to the "
                "node the registry assigned"
            )
        if expires < now:
            raise TokenRefused(
                f"token expired {now - expires:.0f} s ago: ask the registry for a new one"
            )

    def _mac(self, grant: Grant, expires: int) -> str:
        return hmac.new(self.secret, grant.signed_text(expires), hashlib.sha256).hexdigest()


def configured_key(secret: SecretStr | None) -> AdmissionKey:
    """The key of `gateway.admission_secret`; `NoAdmissionSecret` when there is none (a node
    never lets clients in unchecked)."""
    if secret is None:
        raise NoAdmissionSecret(
            "no admission secret is configured; set PULSE_GATEWAY__ADMISSION_SECRET (32 "
            "characters or more), the same for the registry and every node"
        )
    return AdmissionKey(secret.get_secret_value().encode())


def _for_subscriber(subscriber_id: str | None) -> str:
    return "" if subscriber_id is None else f" with subscriber {subscriber_id}"
