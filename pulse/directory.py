"""Who follows which game, and which delivery nodes are live: read fresh from MySQL.

The live job reads this every batch (subscribers come and go during the stream); the registry
API of the delivery tier writes the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from pulse.config import MySQLConfig
from pulse.stores import mysql_connect


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
        subscriptions = [(str(s), str(g)) for s, g in cursor.fetchall()]
        cursor.execute(
            "SELECT node_id FROM delivery_nodes"
            " WHERE last_heartbeat >= UTC_TIMESTAMP(3) - INTERVAL %s MICROSECOND",
            (int(heartbeat_seconds * 1_000_000),),
        )
        nodes = sorted(str(row[0]) for row in cursor.fetchall())
        cursor.close()
    finally:
        conn.close()
    return Directory(subscriptions, nodes)
