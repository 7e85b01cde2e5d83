"""What a Redis message means for the clients of a node: its kind, who gets it, its id (its own
natural key, so a node drops every repeat), and the JSON text sent to them. Pure: no I/O, so
every rule here is tested without Redis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pulse.services.gateway.channels import MATCH_PREFIX, NODE_PREFIX

Kind = Literal["score", "emoji", "game"]
TRANSPORT_FIELDS = frozenset({"batch_id", "seq"})
_REQUIRED: dict[str, tuple[str, ...]] = {
    "score": ("match_id", "sequence"),
    "emoji": ("match_id", "emoji", "window_start", "count", "units"),
    "game": ("update_id", "subscriber_id"),
}


class MalformedMessage(ValueError):
    """A Redis message that is not what its channel carries; says which channel and why."""


@dataclass(frozen=True)
class Delivery:
    """One message for clients: for the clients of `match_id` (score, emoji) or for the one
    connected as `subscriber_id` (game); `text` is the JSON sent, encoded once for all."""

    kind: Kind
    id: str
    match_id: str | None
    subscriber_id: str | None
    text: str


def kind_of(channel: str, emoji_channel: str) -> Kind | None:
    """Which kind of message a channel carries; None for a channel the node does not read."""
    if channel == emoji_channel:
        return "emoji"
    if channel.startswith(MATCH_PREFIX):
        return "score"
    if channel.startswith(NODE_PREFIX):
        return "game"
    return None


def delivery(kind: Kind, channel: str, data: bytes | str) -> Delivery:
    """The delivery a message of `kind` stands for, or `MalformedMessage`."""
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise MalformedMessage(f"{channel}: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise MalformedMessage(f"{channel}: not a JSON object")
    missing = [name for name in _REQUIRED[kind] if body.get(name) is None]
    if missing:
        raise MalformedMessage(f"{channel}: a {kind} message without {', '.join(missing)}")
    fields = {name: value for name, value in body.items() if name not in TRANSPORT_FIELDS}
    message_id = _message_id(kind, fields)
    shaped = {"type": kind, "id": message_id, **fields}
    return Delivery(
        kind=kind,
        id=message_id,
        match_id=None if kind == "game" else str(fields["match_id"]),
        subscriber_id=str(fields["subscriber_id"]) if kind == "game" else None,
        text=json.dumps(shaped, ensure_ascii=False, separators=(",", ":")),
    )


def _message_id(kind: Kind, fields: dict[str, Any]) -> str:
    if kind == "score":
        return f"score:{fields['match_id']}:{fields['sequence']}"
    if kind == "emoji":
        return (
            f"emoji:{fields['match_id']}:{fields['emoji']}:{fields['window_start']}:"
            f"{fields['count']}"
        )
    return f"game:{fields['update_id']}:{fields['subscriber_id']}"


def welcome(node_id: str, cluster: str, present: dict[str, Any]) -> str:
    """The first message on a connection: sent once the node listens for the client's match,
    so that a client (or a test) knows that what is published from then on reaches it. It
    carries the match as it is (`present`: `web.match_now`), so that a viewer sees the score
    and the top emojis at once, not only the changes after it joined."""
    return json.dumps(
        {"type": "welcome", "node_id": node_id, "cluster": cluster, **present},
        ensure_ascii=False,
        separators=(",", ":"),
    )
