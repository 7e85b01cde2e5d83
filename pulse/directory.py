"""Who follows which game, and which delivery nodes are live: read fresh from MySQL.

The live job reads this every batch (subscribers come and go during the stream); the registry
API of the delivery tier writes the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from pulse.config import MySQLConfig
from pulse.stores import mysql_connect, mysql_rows

# A delivery node is live while its last heartbeat is within the heartbeat window; the registry
# API selects live nodes with this same condition (and `live_window`), so that the live job and
# the registry always agree on the set that rendezvous hashing runs over.
LIVE_NODE_CONDITION = "last_heartbeat >= UTC_TIMESTAMP(3) - INTERVAL %s MICROSECOND"


def live_window(heartbeat_seconds: float) -> int:
    """The parameter of `LIVE_NODE_CONDITION`: the heartbeat window in microseconds."""
    return int(heartbeat_seconds * 1_000_000)


@dataclass(frozen=True)
class Directory:
    """Subscriptions as (subscriber_id, game_id) and the ids of live delivery nodes."""

    subscriptions: list[tuple[str, str]]
    live_nodes: list[str]


def read_directory(conf: MySQLConfig, heartbeat_seconds: float) -> Directory:
    """Subscriptions and the nodes whose last heartbeat is within `heartbeat_seconds`."""
    conn = mysql_connect(conf)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT subscriber_id, game_id FROM subscriptions")
        subscriptions = [(str(s), str(g)) for s, g in mysql_rows(cursor)]
        cursor.execute(
            f"SELECT node_id FROM delivery_nodes WHERE {LIVE_NODE_CONDITION}",
            (live_window(heartbeat_seconds),),
        )
        nodes = sorted(str(row[0]) for row in mysql_rows(cursor))
        cursor.close()
    finally:
        conn.close()
    return Directory(subscriptions, nodes)
