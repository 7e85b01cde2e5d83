"""API keys of the HTTP services (ingest, registry): a request is let in when its `X-API-Key`
header equals one of the configured keys. Several keys let a key be rotated without downtime;
every key is compared, in constant time, whether or not one matched, so the answer time tells
nothing about how much of a key was right or which key it was.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from pydantic import SecretStr

HEADER = "X-API-Key"


class ApiKeys:
    """The configured keys, held as bytes; `allows` is the only question asked of them."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = tuple(key.encode() for key in keys)
        if not self._keys:
            raise ValueError("at least one API key is needed")
        self._labels = tuple(label_of(key) for key in self._keys)

    def allows(self, presented: bytes | str | None) -> bool:
        """Whether `presented` (the header's value, None when absent) is a configured key."""
        return self.match(presented) is not None

    def match(self, presented: bytes | str | None) -> str | None:
        """The label of the configured key `presented` is, or None when it is none of them.

        ASGI gives header values as bytes; a `str` is taken as Starlette decodes headers,
        latin-1, so that encoding it back gives the bytes that were sent.
        """
        if presented is None:
            return None
        candidate = (
            presented if isinstance(presented, bytes) else presented.encode("latin-1", "replace")
        )
        found = None
        for key, label in zip(self._keys, self._labels, strict=True):
            if hmac.compare_digest(candidate, key):
                found = label
        return found

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._keys)} keys)"


def label_of(key: bytes) -> str:
    """A name for a key that can be shown and logged (rate limits, metrics) without giving the
    key away: the first 8 hex digits of its SHA-256, which an operator can compute too."""
    return "key-" + hashlib.sha256(key).hexdigest()[:8]


class NoApiKey(RuntimeError):
    """A service was started without any API key; the message names the variable to set."""


def configured_keys(keys: Iterable[SecretStr], variable: str) -> ApiKeys:
    """The keys of a service's configuration; `NoApiKey` naming `variable` when there are none
    (the APIs never run open)."""
    values = [key.get_secret_value() for key in keys]
    if not values:
        raise NoApiKey(
            f"no API key is configured; set {variable}=key1[,key2...] (the API never runs open)"
        )
    return ApiKeys(values)
