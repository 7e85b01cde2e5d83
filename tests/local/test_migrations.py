"""Versioned migrations against the machine's real PostgreSQL and MariaDB (database `test`).

Tests that need an empty schema migrate a scratch PostgreSQL schema inside `test`, or a scratch
MariaDB database (MySQL's schemas are databases), dropped afterwards.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2.extensions
import pytest
from mysql.connector.abstracts import MySQLConnectionAbstract

from pulse.config import PulseConfig
from pulse.local.migrate import (
    Dialect,
    available,
    create_mysql_database,
    current_version,
    latest_version,
    migrate_mysql,
    migrate_postgres,
)
from pulse.outputs import TABLES
from pulse.stores import mysql_connect, postgres_connect

# The tables the jobs write (pulse.outputs, the keys their sinks upsert by) and the others.
POSTGRES_KEYS = {
    **{table.name: list(table.key) for table in TABLES if table.store == "postgres"},
    "sink_ledger": ["query", "sink", "checkpoint_id"],
    "user_segments": ["user_id"],
    "products_pim": ["product_id"],
    "schema_migrations": ["version"],
}
MYSQL_KEYS = {
    **{table.name: list(table.key) for table in TABLES if table.store == "mysql"},
    "sink_ledger": ["query", "sink", "checkpoint_id"],
    "subscribers": ["subscriber_id"],
    "subscriptions": ["subscriber_id", "game_id"],
    "delivery_nodes": ["node_id"],
    "clients": ["client_id"],
    "schema_migrations": ["version"],
}


@pytest.fixture
def pg_schema(conf: PulseConfig) -> Iterator[Callable[[], psycopg2.extensions.connection]]:
    """Connections whose search_path is a fresh, empty schema of database `test`."""
    schema = f"pulse_test_{uuid.uuid4().hex[:10]}"
    admin = postgres_connect(conf.postgres)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE SCHEMA {schema}")
    opened: list[psycopg2.extensions.connection] = []

    def connect() -> psycopg2.extensions.connection:
        conn = postgres_connect(conf.postgres)
        with conn, conn.cursor() as cur:
            cur.execute(f"SET search_path TO {schema}")
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()
    admin.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
    admin.close()


@pytest.fixture
def mysql_db(conf: PulseConfig) -> Iterator[Callable[[], MySQLConnectionAbstract]]:
    """Connections to a fresh, empty MariaDB database."""
    name = f"pulse_test_{uuid.uuid4().hex[:10]}"
    admin = mysql_connect(conf.mysql, use_database=False)
    assert create_mysql_database(admin, name) is True
    opened: list[MySQLConnectionAbstract] = []

    def connect() -> MySQLConnectionAbstract:
        conn = mysql_connect(conf.mysql, use_database=False)
        conn.database = name
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()
    admin.cursor().execute(f"DROP DATABASE {name}")
    admin.close()


def _rows(conn: Any, sql: str, *params: object) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    cur.execute(sql, params)
    rows = cur.fetchall()
    cur.close()
    conn.rollback()
    return rows


def _all_names(dialect: Dialect) -> list[str]:
    return [migration.name for migration in available(dialect)]


def test_postgres_migrations_apply_once_and_not_again(pg_schema) -> None:
    conn = pg_schema()

    first = migrate_postgres(conn)
    second = migrate_postgres(conn)

    assert first == _all_names("postgres")
    assert second == []
    assert current_version(conn, "postgres") == latest_version("postgres") >= 1


def test_postgres_tables_exist_with_their_natural_primary_keys(pg_schema) -> None:
    conn = pg_schema()
    migrate_postgres(conn)

    rows = _rows(
        conn,
        """
        SELECT tc.table_name, kcu.column_name
        FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu
          ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()
        ORDER BY tc.table_name, kcu.ordinal_position
        """,
    )
    keys: dict[str, list[str]] = {}
    for table, column in rows:
        keys.setdefault(table, []).append(column)
    assert keys == POSTGRES_KEYS


def test_postgres_records_each_applied_version_with_its_name(pg_schema) -> None:
    conn = pg_schema()
    migrate_postgres(conn)

    rows = _rows(conn, "SELECT version, name, applied_at IS NOT NULL FROM schema_migrations")

    assert rows == [(m.version, m.name, True) for m in available("postgres")]


def test_concurrent_postgres_migrations_apply_each_version_once(pg_schema) -> None:
    applied = _migrate_concurrently(migrate_postgres, [pg_schema(), pg_schema()])

    assert sorted(name for names in applied for name in names) == _all_names("postgres")


def test_mysql_migrations_apply_once_and_not_again(mysql_db) -> None:
    conn = mysql_db()

    first = migrate_mysql(conn)
    second = migrate_mysql(conn)

    assert first == _all_names("mysql")
    assert second == []
    assert current_version(conn, "mysql") == latest_version("mysql") >= 1


def test_mysql_tables_are_innodb_utf8mb4_with_their_natural_primary_keys(mysql_db) -> None:
    conn = mysql_db()
    migrate_mysql(conn)

    rows = _rows(
        conn,
        """
        SELECT table_name, column_name FROM information_schema.key_column_usage
        WHERE table_schema = DATABASE() AND constraint_name = 'PRIMARY'
        ORDER BY table_name, ordinal_position
        """,
    )
    keys: dict[str, list[str]] = {}
    for table, column in rows:
        keys.setdefault(table, []).append(column)
    assert keys == MYSQL_KEYS
    tables = _rows(
        conn,
        "SELECT table_name, engine, table_collation FROM information_schema.tables "
        "WHERE table_schema = DATABASE()",
    )
    assert {(engine, collation) for _, engine, collation in tables} == {("InnoDB", "utf8mb4_bin")}


def test_mysql_records_each_applied_version_with_its_name(mysql_db) -> None:
    conn = mysql_db()
    migrate_mysql(conn)

    rows = _rows(conn, "SELECT version, name, applied_at IS NOT NULL FROM schema_migrations")

    assert rows == [(m.version, m.name, 1) for m in available("mysql")]


def test_a_mysql_migration_interrupted_half_way_is_applied_again(mysql_db) -> None:
    conn = mysql_db()
    first_statement = available("mysql")[0].statements()[0]
    conn.cursor().execute(first_statement)  # as if the run had stopped after it

    assert migrate_mysql(conn) == _all_names("mysql")
    assert current_version(conn, "mysql") == latest_version("mysql")


def test_every_mysql_migration_can_run_again_after_it_was_applied(mysql_db) -> None:
    # A run that stops after the last statement but before its record runs the file again.
    conn = mysql_db()
    migrate_mysql(conn)
    cur = conn.cursor()

    for migration in available("mysql"):
        for statement in migration.statements():
            cur.execute(statement)
    cur.close()

    assert _rows(
        conn,
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()"
        " AND table_name = 'delivery_nodes' AND column_name = 'connected'",
    ) == [(1,)]


def test_concurrent_mysql_migrations_apply_each_version_once(mysql_db) -> None:
    applied = _migrate_concurrently(migrate_mysql, [mysql_db(), mysql_db()])

    assert sorted(name for names in applied for name in names) == _all_names("mysql")


def test_a_missing_mysql_database_is_created_once(conf: PulseConfig) -> None:
    name = f"pulse_test_{uuid.uuid4().hex[:10]}"
    conn = mysql_connect(conf.mysql, use_database=False)
    try:
        assert create_mysql_database(conn, name) is True
        assert create_mysql_database(conn, name) is False
        assert conn.database == name
    finally:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


def test_the_test_databases_reach_the_latest_version_and_stay_there(conf: PulseConfig) -> None:
    pg = postgres_connect(conf.postgres)
    my = mysql_connect(conf.mysql, use_database=False)
    try:
        create_mysql_database(my, conf.mysql.database)
        migrate_postgres(pg)
        migrate_mysql(my)

        assert migrate_postgres(pg) == []
        assert migrate_mysql(my) == []
        assert current_version(pg, "postgres") == latest_version("postgres")
        assert current_version(my, "mysql") == latest_version("mysql")
    finally:
        pg.close()
        my.close()


def _migrate_concurrently(migrate: Callable[[Any], list[str]], conns: list[Any]) -> list[list[str]]:
    """Run `migrate` on each connection in its own thread, released at the same instant."""
    start = threading.Barrier(len(conns))
    results: list[list[str]] = [[] for _ in conns]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = migrate(conns[index])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(conns))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results
