"""`Roster`: the clients connected to a node, indexed by what they receive. Pure.

A score or emoji message goes to the clients of its match, a game update to the clients
connected as its subscriber; both lookups are one dictionary access, so the cost of a message
is the number of its recipients, not the number of connections.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import Generic, TypeVar

from pulse.services.gateway.messages import Delivery

Client = TypeVar("Client", bound=Hashable)


class Roster(Generic[Client]):
    """Connected clients (any hashable handle) by match and by subscriber."""

    def __init__(self) -> None:
        self._by_match: dict[str, set[Client]] = {}
        self._by_subscriber: dict[str, set[Client]] = {}
        self._count = 0

    def add(self, client: Client, match_id: str, subscriber_id: str | None) -> None:
        """Index a newly connected client."""
        self._by_match.setdefault(match_id, set()).add(client)
        if subscriber_id is not None:
            self._by_subscriber.setdefault(subscriber_id, set()).add(client)
        self._count += 1

    def remove(self, client: Client, match_id: str, subscriber_id: str | None) -> None:
        """Forget a client that has gone (added with these same ids)."""
        _discard(self._by_match, match_id, client)
        if subscriber_id is not None:
            _discard(self._by_subscriber, subscriber_id, client)
        self._count -= 1

    def recipients(self, message: Delivery) -> Collection[Client]:
        """The clients `message` is for: its match's (score, emoji) or its subscriber's (game)."""
        if message.subscriber_id is not None:
            return self._by_subscriber.get(message.subscriber_id, ())
        if message.match_id is not None:
            return self._by_match.get(message.match_id, ())
        return ()

    def __len__(self) -> int:
        return self._count


def _discard(index: dict[str, set[Client]], key: str, client: Client) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(client)
        if not members:
            del index[key]
