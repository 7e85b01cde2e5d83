"""What a viewer may send on its socket: an emoji for the match it watches. Pure: the checks,
the reaction the node forwards to the ingest API, the answers, and the per-connection rate
(why through the node: "The delivery gateway" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pulse.events.domains import EMOJIS
from pulse.events.schema import format_timestamp
from pulse.services.json_input import InvalidJson, decode_json, excerpt

MESSAGE = "<message>"  # the field name used when a message as a whole is wrong


class InvalidViewerMessage(ValueError):
    """A viewer's message the node does not take; names the field and the value."""

    def __init__(self, field: str, value: Any, message: str) -> None:
        super().__init__(message)
        self.field, self.value = field, value

    def answer(self) -> str:
        """The error message sent back on the socket, ASCII-escaped: whatever the value holds,
        the answer can be encoded."""
        body = {"type": "error", "field": self.field, "value": self.value, "message": str(self)}
        return json.dumps(body, ensure_ascii=True)


def viewer_emoji(text: str | bytes) -> str:
    """The emoji of a message `{"type": "emoji", "emoji": "🔥"}`, or `InvalidViewerMessage`."""
    try:
        body = decode_json(text, MESSAGE)
    except InvalidJson as exc:
        raise InvalidViewerMessage(exc.field, exc.value, str(exc)) from None
    if not isinstance(body, dict) or body.get("type") != "emoji":
        kind = body.get("type") if isinstance(body, dict) else body
        raise InvalidViewerMessage(
            "type", _short(kind), 'a viewer sends only {"type": "emoji", ...}'
        )
    emoji = body.get("emoji")
    if emoji not in EMOJIS:
        raise InvalidViewerMessage(
            "emoji", _short(emoji), f"emoji must be one of {' '.join(EMOJIS)}"
        )
    return str(emoji)


def _short(value: Any) -> Any:
    """A refused value as the answer repeats it: text cut short (the rest is bounded by the
    frame size and the decoder's depth)."""
    return excerpt(value) if isinstance(value, str) else value


def reaction(client_id: str, match_id: str, emoji: str, now: datetime) -> dict[str, str]:
    """The body of `POST /v1/emoji` for a viewer's emoji: the viewer is the user."""
    return {"user_id": client_id, "match_id": match_id, "emoji": emoji, "ts": format_timestamp(now)}


def sent(event_id: str) -> str:
    """The answer to a forwarded emoji: the id the ingest API gave it."""
    return json.dumps({"type": "sent", "event_id": event_id})


@dataclass
class RateLimit:
    """A token bucket: `rate` a second on average, bursts of up to `rate` (at least 1)."""

    rate: float
    _tokens: float = field(init=False)
    _at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._tokens = max(self.rate, 1.0)

    def allow(self, now: float) -> bool:
        """Whether one more is allowed at `now` (seconds, monotonic); takes it if so."""
        if self._at is not None:
            self._tokens = min(max(self.rate, 1.0), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
