"""Game updates: fan each update out to the subscribers of its game, each via its delivery node.

The node of each subscriber is chosen by rendezvous hashing over the live nodes; the fan-out is
stateless, so a replayed batch produces the same rows and the inbox upsert by
(update_id, subscriber_id) stays exact (with the same subscriptions and nodes).
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from pulse.routing import rendezvous_node

INBOX_COLUMNS = ("update_id", "subscriber_id", "game_id", "node_id", "title", "delivered_at")


def inbox(
    updates: pa.Table, subscriptions: Iterable[tuple[str, str]], live_nodes: list[str]
) -> pa.Table:
    """One `INBOX_COLUMNS` row per (update, subscriber of its game), on one batch in Arrow.

    The node is keyed by subscriber, not by subscription: all the games of one subscriber go
    through the same node, where its one WebSocket lives. With no live node, node_id is null
    (the update lands in the inbox only). `delivered_at` is the update's event time, not the
    wall clock: the inbox is ordered by when the news happened, and a replay writes the same
    rows. `updates` are valid game events (update_id, game_id, title, ts, ...).
    """
    followers: dict[str, list[str]] = {}
    for subscriber_id, game_id in sorted(set(subscriptions)):
        followers.setdefault(game_id, []).append(subscriber_id)
    nodes = {
        subscriber: rendezvous_node(subscriber, live_nodes)
        for subscribers in followers.values()
        for subscriber in subscribers
    }
    rows = [
        {
            "update_id": update["update_id"],
            "subscriber_id": subscriber,
            "game_id": update["game_id"],
            "node_id": nodes[subscriber],
            "title": update["title"],
            "delivered_at": update["ts"],
        }
        for update in updates.select(["update_id", "game_id", "title", "ts"]).to_pylist()
        for subscriber in followers.get(update["game_id"], ())
    ]
    return pa.Table.from_pylist(rows, schema=INBOX_SCHEMA)


INBOX_SCHEMA = pa.schema(
    [
        ("update_id", pa.string()),
        ("subscriber_id", pa.string()),
        ("game_id", pa.string()),
        ("node_id", pa.string()),
        ("title", pa.string()),
        ("delivered_at", pa.timestamp("us", tz="UTC")),
    ]
)
