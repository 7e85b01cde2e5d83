"""Fixtures of the sink tests: migrated stores, a unique batch context per test, and helpers.

The stores are the machine's real PostgreSQL and MariaDB (database `test`, migrated once per
session) and Redis. Tests write to the real tables with keys no other test uses, and remove
their rows and ledger entries afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2.extensions
import pytest
import redis
from mysql.connector.abstracts import MySQLConnectionAbstract

from pulse.config import PulseConfig
from pulse.local.migrate import create_mysql_database, migrate_mysql, migrate_postgres
from pulse.sinks.base import BatchContext
from pulse.stores import mysql_connect, postgres_connect, redis_client


@pytest.fixture(scope="session", autouse=True)
def migrated(conf: PulseConfig) -> None:
    """Both SQL databases at the latest schema, `sink_ledger` included."""
    pg = postgres_connect(conf.postgres)
    try:
        migrate_postgres(pg)
    finally:
        pg.close()
    my = mysql_connect(conf.mysql, use_database=False)
    try:
        create_mysql_database(my, conf.mysql.database)
        migrate_mysql(my)
    finally:
        my.close()


def unique(prefix: str) -> str:
    """A name no other test (or test run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def ctx() -> BatchContext:
    """Batch 0 of a query and checkpoint of this test's own."""
    return BatchContext(query=unique("q"), checkpoint_id=unique("ck"), batch_id=0)


@pytest.fixture
def pg(conf: PulseConfig, ctx: BatchContext) -> Iterator[psycopg2.extensions.connection]:
    """An autocommit PostgreSQL connection for checks; removes the test's ledger rows after."""
    conn = postgres_connect(conf.postgres)
    conn.autocommit = True
    yield conn
    conn.cursor().execute("DELETE FROM sink_ledger WHERE query = %s", (ctx.query,))
    conn.close()


@pytest.fixture
def my(conf: PulseConfig, ctx: BatchContext) -> Iterator[MySQLConnectionAbstract]:
    """An autocommit MariaDB connection for checks; removes the test's ledger rows after."""
    conn = mysql_connect(conf.mysql)
    conn.autocommit = True
    yield conn
    cur = conn.cursor()
    cur.execute("DELETE FROM sink_ledger WHERE query = %s", (ctx.query,))
    cur.close()
    conn.close()


@pytest.fixture
def rd(conf: PulseConfig, ctx: BatchContext) -> Iterator[redis.Redis]:
    """A Redis client; removes the test's keys (named `<query>:...`) and ledger fields after."""
    client = redis_client(conf.redis)
    yield client
    for key in client.scan_iter(match=f"{ctx.query}:*"):
        client.delete(key)
    for field, _ in client.hscan_iter("pulse:ledger", match=f"{ctx.query}|*"):
        client.hdel("pulse:ledger", field)
    client.close()


def text_hash(client: redis.Redis, key: str) -> dict[str, str]:
    """A Redis hash with its fields and values decoded."""
    return {f.decode(): v.decode() for f, v in client.hgetall(key).items()}


def rows(conn: Any, statement: str, *params: object) -> list[tuple[Any, ...]]:
    """All rows of a query on a check connection."""
    cur = conn.cursor()
    cur.execute(statement, params)
    found = cur.fetchall()
    cur.close()
    return found
