"""The registry's MySQL access: every query of the API, parameterised, one transaction each, a
connection per call (`pulse.stores.mysql_connect`); lost or refused connections become
`StoreUnavailable` (the API answers 503). How an assignment is locked: "The registry" in
docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import mysql.connector
from mysql.connector import errorcode
from mysql.connector.abstracts import MySQLCursorAbstract

from pulse.config import MySQLConfig
from pulse.directory import LIVE_NODE_CONDITION, live_window
from pulse.services.registry.assignment import Node, client_node
from pulse.services.registry.models import InboxUpdate, NodeStatus, Subscriber
from pulse.stores import StoreUnavailable, mysql_connect, mysql_row, mysql_rows

REQUIRED_TABLES = ("subscribers", "subscriptions", "delivery_nodes", "game_deliveries", "clients")
_EXISTS = {
    "subscriber": "SELECT 1 FROM subscribers WHERE subscriber_id = %s",
    "node": "SELECT 1 FROM delivery_nodes WHERE node_id = %s",
}


class UnknownId(LookupError):
    """No such subscriber, client or node; names which."""

    def __init__(self, kind: str, value: str) -> None:
        self.kind, self.value = kind, value
        super().__init__(f"unknown {kind} {value!r}")


class SchemaMissing(RuntimeError):
    """The database lacks the registry's tables: it has not been migrated."""


class RegistryStore:
    """The registry's tables in one MySQL database; `heartbeat_seconds` decides which nodes
    are live, with the condition the live job uses (`pulse.directory`)."""

    def __init__(self, conf: MySQLConfig, heartbeat_seconds: float) -> None:
        self._conf, self._window = conf, live_window(heartbeat_seconds)

    @contextmanager
    def _transaction(self) -> Iterator[MySQLCursorAbstract]:
        """A cursor in a READ COMMITTED transaction, committed when the block ends normally."""
        conn = mysql_connect(self._conf)
        try:
            conn.start_transaction(isolation_level="READ COMMITTED")
            cursor = conn.cursor()
            yield cursor
            cursor.close()
            conn.commit()
        except (mysql.connector.OperationalError, mysql.connector.InterfaceError) as exc:
            raise StoreUnavailable("mysql", self.where, "unreachable", str(exc)) from exc
        finally:
            conn.close()

    @property
    def where(self) -> str:
        """host:port/database, for messages."""
        return f"{self._conf.host}:{self._conf.port}/{self._conf.database}"

    def check(self) -> None:
        """Raise `StoreUnavailable` if MySQL does not answer, `SchemaMissing` if not migrated."""
        with self._transaction() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
            )
            found = {str(row[0]) for row in mysql_rows(cur)}
        missing = [table for table in REQUIRED_TABLES if table not in found]
        if missing:
            raise SchemaMissing(
                f"mysql {self.where}: table{'s' * (len(missing) > 1)} {', '.join(missing)} "
                "missing; migrate the database first (`pulse up`)"
            )

    # -- subscribers -------------------------------------------------------------------------

    def put_subscriber(
        self, subscriber_id: str, name: str, interests: list[str]
    ) -> tuple[Subscriber, bool]:
        """Create or replace a subscriber's name and interests; also whether it was created."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO subscribers (subscriber_id, name, interests) VALUES (%s, %s, %s)"
                " ON DUPLICATE KEY UPDATE name = VALUES(name), interests = VALUES(interests)",
                (subscriber_id, name, json.dumps(interests)),
            )
            created = cur.rowcount == 1  # 2: updated, 0: unchanged
            return self._subscriber(cur, subscriber_id), created

    def subscriber(self, subscriber_id: str) -> Subscriber:
        """A subscriber and its games."""
        with self._transaction() as cur:
            return self._subscriber(cur, subscriber_id)

    def delete_subscriber(self, subscriber_id: str) -> None:
        """Remove a subscriber; its subscriptions go with it (foreign key), its inbox stays."""
        with self._transaction() as cur:
            cur.execute("DELETE FROM subscribers WHERE subscriber_id = %s", (subscriber_id,))
            if cur.rowcount == 0:
                raise UnknownId("subscriber", subscriber_id)

    def subscribe(self, subscriber_id: str, game_id: str) -> None:
        """Follow a game (again: no change)."""
        with self._transaction() as cur:
            try:
                cur.execute(
                    "INSERT INTO subscriptions (subscriber_id, game_id) VALUES (%s, %s)"
                    " ON DUPLICATE KEY UPDATE game_id = game_id",
                    (subscriber_id, game_id),
                )
            except mysql.connector.IntegrityError as exc:
                if exc.errno == errorcode.ER_NO_REFERENCED_ROW_2:
                    raise UnknownId("subscriber", subscriber_id) from None
                raise

    def unsubscribe(self, subscriber_id: str, game_id: str) -> None:
        """Stop following a game (not following it: no change)."""
        with self._transaction() as cur:
            self._require(cur, "subscriber", subscriber_id)
            cur.execute(
                "DELETE FROM subscriptions WHERE subscriber_id = %s AND game_id = %s",
                (subscriber_id, game_id),
            )

    def inbox(
        self, subscriber_id: str, since: datetime | None, after: str | None, limit: int
    ) -> list[InboxUpdate]:
        """Up to `limit` deliveries to the subscriber, oldest first, after `since` (and, at
        exactly `since`, after update id `after`: several updates can share a time)."""
        conditions: list[str] = ["subscriber_id = %s"]
        params: list[str | datetime] = [subscriber_id]
        if since is not None:
            at = since.astimezone(UTC).replace(tzinfo=None)  # the columns hold UTC
            if after is None:
                conditions.append("delivered_at > %s")
                params.append(at)
            else:
                conditions.append("(delivered_at > %s OR (delivered_at = %s AND update_id > %s))")
                params += [at, at, after]
        with self._transaction() as cur:
            self._require(cur, "subscriber", subscriber_id)
            cur.execute(
                "SELECT update_id, game_id, node_id, title, delivered_at FROM game_deliveries"
                f" WHERE {' AND '.join(conditions)} ORDER BY delivered_at, update_id LIMIT %s",
                (*params, limit),
            )
            rows = mysql_rows(cur)
        return [
            InboxUpdate(
                update_id=update_id,
                game_id=game_id,
                node_id=node_id,
                title=title,
                delivered_at=delivered_at.replace(tzinfo=UTC),
            )
            for update_id, game_id, node_id, title, delivered_at in rows
        ]

    # -- nodes -------------------------------------------------------------------------------

    def live_nodes(self) -> list[Node]:
        """The nodes that heartbeated within the window, by id."""
        with self._transaction() as cur:
            return self._live_nodes(cur, lock=False)

    def put_node(self, node: Node) -> NodeStatus:
        """Register or update a node; it counts as live from now (its heartbeat)."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO delivery_nodes (node_id, cluster, url, capacity, last_heartbeat)"
                " VALUES (%s, %s, %s, %s, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE"
                " cluster = VALUES(cluster), url = VALUES(url), capacity = VALUES(capacity),"
                " last_heartbeat = VALUES(last_heartbeat), connected = NULL",
                (node.node_id, node.cluster, node.url, node.capacity),
            )
            return self._node_statuses(cur, node.node_id)[0]

    def heartbeat(self, node_id: str, connected: int) -> None:
        """A node is alive now, with `connected` clients."""
        with self._transaction() as cur:
            cur.execute(
                "UPDATE delivery_nodes SET last_heartbeat = UTC_TIMESTAMP(3), connected = %s"
                " WHERE node_id = %s",
                (connected, node_id),
            )
            if cur.rowcount == 0:  # unknown, or nothing changed within the same millisecond
                self._require(cur, "node", node_id)

    def delete_node(self, node_id: str) -> None:
        """Deregister a node: it is no longer live, and its clients have no node until they ask
        again (so a node registered later under the same id starts empty)."""
        with self._transaction() as cur:
            cur.execute("DELETE FROM delivery_nodes WHERE node_id = %s", (node_id,))
            if cur.rowcount == 0:
                raise UnknownId("node", node_id)
            cur.execute("UPDATE clients SET node_id = NULL WHERE node_id = %s", (node_id,))

    def nodes(self) -> list[NodeStatus]:
        """Every registered node with its liveness and load."""
        with self._transaction() as cur:
            return self._node_statuses(cur)

    # -- clients -----------------------------------------------------------------------------

    def assign_client(self, client_id: str, match_id: str | None = None) -> tuple[str, Node | None]:
        """Register the client for `match_id` (None: the match it registered for, 404 if it
        never did) and store its node chosen now; the match and the node (None: no room)."""
        with self._transaction() as cur:
            live = self._live_nodes(cur, lock=True)
            if match_id is None:
                cur.execute(
                    "SELECT match_id FROM clients WHERE client_id = %s FOR UPDATE", (client_id,)
                )
                row = mysql_row(cur)
                if row is None:
                    raise UnknownId("client", client_id)
                match_id = str(row[0])
            cur.execute(
                "SELECT node_id, COUNT(*) FROM clients"
                " WHERE node_id IS NOT NULL AND client_id <> %s GROUP BY node_id",
                (client_id,),
            )
            load = {str(node_id): int(count) for node_id, count in mysql_rows(cur)}
            node = client_node(client_id, live, load)
            cur.execute(
                "INSERT INTO clients (client_id, match_id, node_id, last_assigned_at)"
                " VALUES (%s, %s, %s, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE"
                " match_id = VALUES(match_id), node_id = VALUES(node_id),"
                " last_assigned_at = VALUES(last_assigned_at)",
                (client_id, match_id, node.node_id if node else None),
            )
        return match_id, node

    def client_match(self, client_id: str) -> str:
        """The match a registered client watches (`UnknownId` for a client never registered)."""
        with self._transaction() as cur:
            cur.execute("SELECT match_id FROM clients WHERE client_id = %s", (client_id,))
            row = mysql_row(cur)
        if row is None:
            raise UnknownId("client", client_id)
        return str(row[0])

    def delete_client(self, client_id: str) -> None:
        """Forget a client; its place on its node is free."""
        with self._transaction() as cur:
            cur.execute("DELETE FROM clients WHERE client_id = %s", (client_id,))
            if cur.rowcount == 0:
                raise UnknownId("client", client_id)

    # -- helpers -----------------------------------------------------------------------------

    def _live_nodes(self, cur: MySQLCursorAbstract, lock: bool) -> list[Node]:
        cur.execute(
            "SELECT node_id, cluster, url, capacity FROM delivery_nodes"
            f" WHERE {LIVE_NODE_CONDITION} ORDER BY node_id{' FOR UPDATE' if lock else ''}",
            (self._window,),
        )
        return [Node(str(n), str(c), str(u), int(cap)) for n, c, u, cap in mysql_rows(cur)]

    def _node_statuses(
        self, cur: MySQLCursorAbstract, node_id: str | None = None
    ) -> list[NodeStatus]:
        where = "WHERE n.node_id = %s" if node_id is not None else ""
        cur.execute(
            "SELECT n.node_id, n.cluster, n.url, n.capacity,"
            f" COALESCE({LIVE_NODE_CONDITION}, FALSE), COALESCE(c.assigned, 0), n.connected"
            " FROM delivery_nodes n LEFT JOIN ("
            "   SELECT node_id, COUNT(*) AS assigned FROM clients"
            "   WHERE node_id IS NOT NULL GROUP BY node_id"
            f" ) c ON c.node_id = n.node_id {where} ORDER BY n.node_id",
            (self._window, *([node_id] if node_id is not None else [])),
        )
        return [
            NodeStatus(
                node_id=node,
                cluster=cluster,
                url=url,
                capacity=capacity,
                live=bool(live),
                assigned=int(assigned),
                connected=connected,
            )
            for node, cluster, url, capacity, live, assigned, connected in mysql_rows(cur)
        ]

    def _subscriber(self, cur: MySQLCursorAbstract, subscriber_id: str) -> Subscriber:
        cur.execute(
            "SELECT name, interests FROM subscribers WHERE subscriber_id = %s", (subscriber_id,)
        )
        row = mysql_row(cur)
        if row is None:
            raise UnknownId("subscriber", subscriber_id)
        name, interests = row
        cur.execute(
            "SELECT game_id FROM subscriptions WHERE subscriber_id = %s ORDER BY game_id",
            (subscriber_id,),
        )
        games = [str(game) for (game,) in mysql_rows(cur)]
        return Subscriber(
            subscriber_id=subscriber_id,
            name=str(name),
            interests=_json_list(interests),
            games=games,
        )

    @staticmethod
    def _require(cur: MySQLCursorAbstract, kind: str, value: str) -> None:
        cur.execute(_EXISTS[kind], (value,))
        if mysql_row(cur) is None:
            raise UnknownId(kind, value)


def _json_list(value: Any) -> list[str]:
    """A JSON column as read back: MariaDB gives its text, MySQL 8 may give bytes; null: []."""
    if value is None:
        return []
    return [str(item) for item in json.loads(value)]
