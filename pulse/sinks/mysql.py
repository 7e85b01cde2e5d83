"""`MySQLUpsert`: a batch upserted into a MySQL/MariaDB table by its key, exactly once, with the
same contract as `PostgresUpsert` (see "PostgreSQL and MySQL" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pulse.config import MySQLConfig
from pulse.sinks.base import Batch, BatchContext
from pulse.sinks.ledger import Cursor, LedgerEntry, write_once
from pulse.sinks.upsert import Upsert
from pulse.sinks.values import upsert_rows
from pulse.stores import mysql_connect

log = logging.getLogger("pulse.sinks")


def quote(identifier: str) -> str:
    """A MySQL identifier in backticks; `db.table` becomes `db`.`table`."""
    return ".".join("`" + part.replace("`", "``") + "`" for part in identifier.split("."))


@dataclass(frozen=True)
class MySQLUpsert:
    """`upsert` (pulse.sinks.upsert) in MySQL: `INSERT ... ON DUPLICATE KEY UPDATE`.

    With `newer_by` (e.g. `version`) every column becomes `IF(VALUES(g) > g OR g IS NULL,
    VALUES(c), c)`, and that column is assigned last, because MySQL evaluates the assignments
    left to right and later ones would otherwise compare against the new value.
    """

    name: str
    conf: MySQLConfig
    upsert: Upsert

    def __post_init__(self) -> None:
        self.upsert.check(self.name)

    def write(self, frame: Batch, ctx: BatchContext) -> None:
        """Upsert the batch and advance the ledger in one transaction, unless already done."""
        up = self.upsert
        collected = upsert_rows(frame, up.key, up.columns, self.name, up.table)
        if not collected:
            return
        rows = [tuple(map(_mysql_value, row)) for row in collected]
        statement = self.statement()

        def upsert(cur: Cursor) -> None:
            for start in range(0, len(rows), up.rows_per_statement):
                cur.executemany(statement, rows[start : start + up.rows_per_statement])

        conn = mysql_connect(self.conf)
        try:
            cur = conn.cursor(buffered=True)  # the ledger's fetchone leaves no unread rows
            try:
                wrote = write_once(
                    conn, cur, "mysql", LedgerEntry.of(ctx, self.name), ctx.batch_id, upsert
                )
            finally:
                cur.close()
        finally:
            conn.close()
        if wrote:
            up.note_written(self.name, ctx, len(rows))

    def statement(self) -> str:
        """`INSERT INTO t (...) VALUES (%s, ...) ON DUPLICATE KEY UPDATE ...`."""
        up = self.upsert
        names = ", ".join(map(quote, up.written))
        values = ", ".join(["%s"] * len(up.written))
        updated = [c for c in up.updated if c != up.newer_by]
        if up.newer_by is None:
            assignments = [f"{quote(c)} = VALUES({quote(c)})" for c in updated]
        else:
            g = quote(up.newer_by)
            newer = f"(VALUES({g}) > {g} OR {g} IS NULL)"
            assignments = [
                f"{quote(c)} = IF({newer}, VALUES({quote(c)}), {quote(c)})" for c in updated
            ]
            assignments.append(f"{g} = IF({newer}, VALUES({g}), {g})")  # last: see the docstring
        if not assignments:  # a key-only table: a repeated key changes nothing
            first = quote(up.key[0])
            assignments = [f"{first} = {first}"]
        return (
            f"INSERT INTO {quote(up.table)} ({names}) VALUES ({values}) "
            f"ON DUPLICATE KEY UPDATE {', '.join(assignments)}"
        )


def _mysql_value(value: Any) -> Any:
    """mysql.connector drops a datetime's zone: hand it the UTC wall time (the connection's
    time_zone is +00:00, so DATETIME columns hold UTC)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
