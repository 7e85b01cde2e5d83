"""Game update fan-out to the inbox, each subscriber through its rendezvous node."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from pulse.events.arrow import events_table
from pulse.events.domains import GAME
from pulse.events.schema import format_timestamp
from pulse.routing import rendezvous_node
from pulse.transforms.games import INBOX_COLUMNS, inbox

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)
NODES = ["gw-a", "gw-b", "gw-c"]
TS = format_timestamp(T0)
SUBSCRIPTIONS = [("alice", "g1"), ("alice", "g2"), ("bob", "g1"), ("carol", "g2")]


def updates(*rows: tuple[str, str, str]) -> pa.Table:
    """Valid game updates from (update_id, game_id, title)."""
    events = [
        {"update_id": u, "game_id": g, "kind": "news", "title": t, "priority": 1, "ts": TS}
        for u, g, t in rows
    ]
    return events_table(events, GAME)


def deliveries(table: pa.Table) -> set[tuple[str, str, str | None]]:
    """(update_id, subscriber_id, node_id) of each inbox row."""
    return {(r["update_id"], r["subscriber_id"], r["node_id"]) for r in table.to_pylist()}


def test_an_update_reaches_every_subscriber_of_its_game_and_no_one_else():
    actual = inbox(
        updates(("u1", "g1", "Patch 1.4"), ("u2", "g2", "Maintenance")), SUBSCRIPTIONS, NODES
    )
    assert {(r["update_id"], r["subscriber_id"], r["game_id"]) for r in actual.to_pylist()} == {
        ("u1", "alice", "g1"),
        ("u1", "bob", "g1"),
        ("u2", "alice", "g2"),
        ("u2", "carol", "g2"),
    }


def test_an_update_of_a_game_nobody_follows_reaches_no_one():
    assert inbox(updates(("u9", "g9", "Nobody follows g9")), SUBSCRIPTIONS, NODES).num_rows == 0


def test_each_subscriber_gets_its_rendezvous_node_for_all_its_games():
    actual = inbox(updates(("u1", "g1", "Patch"), ("u2", "g2", "News")), SUBSCRIPTIONS, NODES)
    node = {name: rendezvous_node(name, NODES) for name in ("alice", "bob", "carol")}
    assert len(set(node.values())) > 1  # otherwise a constant node would pass too
    assert deliveries(actual) == {
        ("u1", "alice", node["alice"]),
        ("u1", "bob", node["bob"]),
        ("u2", "alice", node["alice"]),
        ("u2", "carol", node["carol"]),
    }


def test_a_repeated_subscription_delivers_once():
    actual = inbox(updates(("u1", "g1", "Patch")), [("bob", "g1"), ("bob", "g1")], NODES)
    assert actual.num_rows == 1


def test_without_live_nodes_the_update_lands_in_the_inbox_with_no_node():
    actual = inbox(updates(("u1", "g1", "Patch")), [("alice", "g1")], [])
    assert deliveries(actual) == {("u1", "alice", None)}


def test_inbox_rows_carry_the_title_and_are_delivered_at_the_update_time():
    actual = inbox(updates(("u1", "g1", "Patch 1.4")), [("alice", "g1")], NODES)
    assert actual.column_names == list(INBOX_COLUMNS)
    assert actual.to_pylist() == [
        {
            "update_id": "u1",
            "subscriber_id": "alice",
            "game_id": "g1",
            "node_id": rendezvous_node("alice", NODES),
            "title": "Patch 1.4",
            "delivered_at": T0,
        }
    ]
