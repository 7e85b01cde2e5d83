"""API keys: any configured key lets a request in; anything else does not."""

from __future__ import annotations

import pytest

from pulse.services.auth import ApiKeys


def test_each_configured_key_is_allowed_and_nothing_else() -> None:
    keys = ApiKeys(["old-key", "new-key"])

    assert keys.allows("old-key") and keys.allows("new-key")
    assert not keys.allows(None)
    assert not keys.allows("")
    assert not keys.allows("old-key ")
    assert not keys.allows("new-ke")
    assert not keys.allows("ünïcode")


def test_header_bytes_as_asgi_gives_them_are_compared_as_sent() -> None:
    keys = ApiKeys(["old-key"])

    assert keys.allows(b"old-key")
    assert not keys.allows(b"old-key\x00")
    assert not keys.allows("ünïcode".encode())


def test_no_keys_is_refused_rather_than_open() -> None:
    with pytest.raises(ValueError):
        ApiKeys([])


def test_the_keys_are_not_shown() -> None:
    assert "secret" not in repr(ApiKeys(["secret"]))
