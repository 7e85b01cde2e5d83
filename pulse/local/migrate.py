"""Versioned schema migrations for PostgreSQL and MySQL, applied by `pulse up`: SQL files shipped
in the package (`migrations/<dialect>/NNNN_name.sql`), each applied once, in version order, and
recorded in `schema_migrations` (how each dialect stays safe: "Schema migrations" in
docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import psycopg2.extensions
from mysql.connector.abstracts import MySQLConnectionAbstract, MySQLCursorAbstract

from pulse.stores import mysql_one_row, mysql_rows

Dialect = Literal["postgres", "mysql"]

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# A statement ends with ';' at the end of a line; no procedure bodies in migration files.
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
# One advisory-lock key for Pulse's migrations in a PostgreSQL database (any fixed bigint).
_PG_LOCK_KEY = zlib.crc32(b"pulse.schema_migrations")
_MYSQL_LOCK_TIMEOUT_SECONDS = 60

_PG_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
_MYSQL_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INT          NOT NULL PRIMARY KEY,
    name       VARCHAR(255) NOT NULL,
    applied_at DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""


class MigrationError(RuntimeError):
    """A migration file or run is wrong; names the file, the database or the statement."""


@dataclass(frozen=True)
class Migration:
    """One versioned SQL file."""

    version: int
    name: str  # the file name without `.sql`, e.g. `0001_initial`
    sql: str

    def statements(self) -> list[str]:
        """The file's statements, comments removed, for drivers that run one at a time."""
        code = "\n".join(
            line for line in self.sql.splitlines() if not line.lstrip().startswith("--")
        )
        return [part.strip() for part in _STATEMENT_END.split(code) if part.strip()]


def available(dialect: Dialect) -> list[Migration]:
    """Every migration shipped for `dialect`, in version order."""
    folder = resources.files("pulse.local") / "migrations" / dialect
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(
                f"{dialect} migration {entry.name}: the name must be NNNN_lowercase_words.sql"
            )
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"{dialect} migrations {found[version].name}.sql and {entry.name} share "
                f"version {version}"
            )
        found[version] = Migration(version, entry.name[: -len(".sql")], entry.read_text())
    return [found[version] for version in sorted(found)]


def latest_version(dialect: Dialect) -> int:
    """The version a fully migrated database is at (0 if none is shipped)."""
    migrations = available(dialect)
    return migrations[-1].version if migrations else 0


def migrate_postgres(conn: psycopg2.extensions.connection) -> list[str]:
    """Apply the pending PostgreSQL migrations; return their names (empty if up to date).

    The connection must have no transaction open; it is left with none.
    """
    applied = []
    previous = conn.autocommit
    conn.autocommit = False
    try:
        for migration in available("postgres"):
            with conn, conn.cursor() as cur:  # one transaction: committed, or rolled back
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
                cur.execute(_PG_LEDGER)
                cur.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
                )
                if cur.fetchone() is not None:
                    continue
                try:
                    cur.execute(migration.sql)
                except psycopg2.Error as exc:
                    raise MigrationError(
                        f"postgres migration {migration.name}: {str(exc).strip()}"
                    ) from exc
                cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            applied.append(migration.name)
    finally:
        conn.autocommit = previous
    return applied


def migrate_mysql(conn: MySQLConnectionAbstract) -> list[str]:
    """Apply the pending MySQL migrations to the connection's database; return their names."""
    cur = conn.cursor(buffered=True)
    database = _mysql_database(cur)
    # GET_LOCK names are server-wide: the database's name keeps two databases independent.
    lock = f"pulse.migrations.{database}"[:64]
    cur.execute("SELECT GET_LOCK(%s, %s)", (lock, _MYSQL_LOCK_TIMEOUT_SECONDS))
    (got,) = mysql_one_row(cur)
    if got != 1:
        raise MigrationError(
            f"mysql database {database}: another migration still holds lock {lock!r} after "
            f"{_MYSQL_LOCK_TIMEOUT_SECONDS} s"
        )
    applied = []
    try:
        cur.execute(_MYSQL_LEDGER)
        cur.execute("SELECT version FROM schema_migrations")
        done = {version for (version,) in mysql_rows(cur)}
        for migration in available("mysql"):
            if migration.version in done:
                continue
            for statement in migration.statements():
                try:
                    cur.execute(statement)
                except Exception as exc:
                    raise MigrationError(
                        f"mysql migration {migration.name} in database {database}: {exc}; "
                        f"statement: {statement.splitlines()[0]} ..."
                    ) from exc
            cur.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            conn.commit()
            applied.append(migration.name)
    finally:
        cur.execute("SELECT RELEASE_LOCK(%s)", (lock,))
        cur.fetchall()
        cur.close()
    return applied


def current_version(
    conn: psycopg2.extensions.connection | MySQLConnectionAbstract, dialect: Dialect
) -> int:
    """The highest migration version recorded in the connection's database (0: none)."""
    if dialect == "postgres":
        return _postgres_version(conn)
    return _mysql_version(conn)


def _postgres_version(conn: psycopg2.extensions.connection) -> int:
    with conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        (exists,) = cur.fetchone()
        if not exists:
            return 0
        cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(cur.fetchone()[0])


def _mysql_version(conn: MySQLConnectionAbstract) -> int:
    cur = conn.cursor(buffered=True)
    try:
        database = _mysql_database(cur)
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = 'schema_migrations'",
            (database,),
        )
        if mysql_one_row(cur)[0] == 0:
            return 0
        cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(mysql_one_row(cur)[0])
    finally:
        cur.close()
        conn.rollback()  # end the read's transaction; nothing was written


def create_mysql_database(conn: MySQLConnectionAbstract, name: str) -> bool:
    """Create the database if it is missing (a fresh machine has none) and select it.

    Returns whether it was created.
    """
    cur = conn.cursor(buffered=True)
    try:
        cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (name,))
        exists = cur.fetchone() is not None
        quoted = "`" + name.replace("`", "``") + "`"
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {quoted} CHARACTER SET utf8mb4")
        cur.execute(f"USE {quoted}")
    finally:
        cur.close()
    return not exists


def _mysql_database(cur: MySQLCursorAbstract) -> str:
    cur.execute("SELECT DATABASE()")
    (database,) = mysql_one_row(cur)
    if not database:
        raise MigrationError("mysql: the connection has no database selected")
    return str(database)
