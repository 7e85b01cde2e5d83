"""The stores a reader opens: PostgreSQL, MySQL, Redis and the Delta lake, failures named.
Connections are autocommit, so each query sees what the jobs have committed by then (one left in
a transaction would read an old snapshot and hold locks the migrations wait for); a `Sql` shared
between Streamlit's session threads is used under a lock, as neither driver allows two at once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import mysql.connector
import pandas as pd
import psycopg2
import psycopg2.errors
import redis
from mysql.connector import errorcode

from pulse.config import MySQLConfig, PostgresConfig, RedisConfig
from pulse.stores import (
    StoreUnavailable,
    mysql_connect,
    postgres_connect,
    redis_address,
    redis_client,
)

Kind = Literal["postgres", "mysql"]  # as pulse.stores names them


class NotMigrated(RuntimeError):
    """A store answers but lacks a table the jobs write: its migrations have not run."""

    def __init__(self, store: str, where: str, reason: str) -> None:
        self.store, self.where, self.reason = store, where, reason
        super().__init__(f"{store} at {where} lacks a table Pulse writes ({reason})")


@dataclass
class Sql:
    """An autocommit database connection for reads, and which store it is, for errors."""

    kind: Kind
    where: str
    connection: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """The rows of one query, columns named as the query names them."""
        with self.lock:
            try:
                cursor = self.connection.cursor()
                try:
                    cursor.execute(sql, tuple(params))
                    rows = cursor.fetchall()
                    columns = [column[0] for column in cursor.description]
                finally:
                    cursor.close()
            except (psycopg2.errors.UndefinedTable, psycopg2.errors.UndefinedColumn) as exc:
                raise NotMigrated(self.kind, self.where, str(exc).splitlines()[0]) from exc
            except mysql.connector.ProgrammingError as exc:
                if exc.errno in (errorcode.ER_NO_SUCH_TABLE, errorcode.ER_BAD_FIELD_ERROR):
                    # typed optional, but `Error.__init__` always sets a message
                    raise NotMigrated(self.kind, self.where, cast(str, exc.msg)) from exc
                raise
            except (
                psycopg2.OperationalError,
                psycopg2.InterfaceError,
                mysql.connector.OperationalError,
                mysql.connector.InterfaceError,
            ) as exc:
                raise StoreUnavailable(self.kind, self.where, "unreachable", str(exc)) from exc
        return pd.DataFrame.from_records(rows, columns=columns)

    @property
    def usable(self) -> bool:
        """False once the server has closed the connection (the dashboard then opens another)."""
        if self.kind == "postgres":
            return not self.connection.closed
        with self.lock:
            return bool(self.connection.is_connected())

    def close(self) -> None:
        """Close the connection; a second close does nothing."""
        # One already gone with its server has nothing left to release.
        with self.lock, contextlib.suppress(psycopg2.Error, mysql.connector.Error):
            self.connection.close()


def open_postgres(pg: PostgresConfig) -> Sql:
    """An autocommit PostgreSQL connection for reads (StoreUnavailable when it cannot be had)."""
    connection = postgres_connect(pg, application_name="pulse-reads")
    connection.autocommit = True
    return Sql("postgres", f"{pg.host}:{pg.port}/{pg.database}", connection)


def open_mysql(my: MySQLConfig) -> Sql:
    """An autocommit MySQL connection for reads (StoreUnavailable when it cannot be had)."""
    connection = mysql_connect(my)
    connection.autocommit = True
    return Sql("mysql", f"{my.host}:{my.port}/{my.database}", connection)


@dataclass
class RedisKeys:
    """A Redis client for reads (thread-safe: redis-py pools its connections), and where."""

    client: redis.Redis
    where: str

    def hashes(self, pattern: str, limit: int = 1000) -> list[dict[str, str]]:
        """The hashes whose keys match `pattern` (at most `limit`), decoded, each with `_key`."""
        try:
            keys = []
            for key in self.client.scan_iter(match=pattern, count=500):
                keys.append(key)
                if len(keys) >= limit:
                    break
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(key)
            values = pipe.execute()
        except redis.RedisError as exc:
            raise StoreUnavailable("redis", self.where, "unreachable", str(exc)) from exc
        return [
            {"_key": key.decode(), **{k.decode(): v.decode() for k, v in value.items()}}
            for key, value in zip(keys, values, strict=True)
            if value  # expired between the scan and the read
        ]

    def close(self) -> None:
        """Release the pool's connections."""
        self.client.close()


def open_redis(conf: RedisConfig) -> RedisKeys:
    """Redis for reads; it answers a PING, or StoreUnavailable says why not."""
    client = redis_client(conf)
    where = redis_address(client)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise StoreUnavailable("redis", where, "unreachable", str(exc)) from exc
    return RedisKeys(client, where)


def since(minutes: float, now: datetime | None = None) -> datetime:
    """The start of a look-back window of `minutes`, in UTC."""
    return (now or datetime.now(UTC)) - timedelta(minutes=minutes)
