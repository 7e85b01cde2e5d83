"""`PostgresUpsert`: a batch upserted into a PostgreSQL table by its natural key, exactly once:
the rows and the `sink_ledger` entry in one transaction (see "PostgreSQL and MySQL" in
docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg2.errors
from psycopg2 import sql
from psycopg2.extras import execute_values

from pulse.config import PostgresConfig
from pulse.sinks.base import Batch, BatchContext
from pulse.sinks.errors import DuplicateKeyError
from pulse.sinks.ledger import Cursor, LedgerEntry, write_once
from pulse.sinks.upsert import Upsert
from pulse.sinks.values import upsert_rows
from pulse.stores import StoreUnavailable, postgres_connect

log = logging.getLogger("pulse.sinks")


@dataclass(frozen=True)
class PostgresUpsert:
    """`upsert` (pulse.sinks.upsert) in PostgreSQL: `INSERT ... ON CONFLICT DO UPDATE`.

    `merge` gives a column an SQL expression in place of `column = EXCLUDED.column`, e.g.
    `("total", "player_stats.total + EXCLUDED.total")` for a batch of increments (exactly once
    all the same: the ledger is in the same transaction); it is SQL text from the job's code,
    never from data.
    """

    name: str
    conf: PostgresConfig
    upsert: Upsert
    merge: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        self.upsert.check(self.name)

    def write(self, frame: Batch, ctx: BatchContext) -> None:
        """Upsert the batch and advance the ledger in one transaction, unless already done."""
        up = self.upsert
        rows = upsert_rows(frame, up.key, up.columns, self.name, up.table)
        if not rows:
            return  # nothing that a replay could repeat; no connection needed

        def upsert(cur: Cursor) -> None:
            try:
                execute_values(cur, self.statement(), rows, page_size=up.rows_per_statement)
            except psycopg2.errors.CardinalityViolation as exc:
                raise DuplicateKeyError(
                    f"table {up.table}: rows with the same key ({', '.join(up.key)}) in one "
                    f"batch: {exc.pgerror or exc}".strip()
                ) from exc

        conn = postgres_connect(self.conf)
        try:
            with conn.cursor() as cur:
                wrote = write_once(
                    conn, cur, "postgres", LedgerEntry.of(ctx, self.name), ctx.batch_id, upsert
                )
        except psycopg2.Error as exc:
            if not conn.closed:
                raise
            # The server went away during the batch ("server closed the connection
            # unexpectedly"): named as a refused connection is, so that `pulse status` and the
            # dashboard say which store is down, whichever moment the outage met.
            where = f"{self.conf.host}:{self.conf.port}/{self.conf.database}"
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable("postgres", where, "unreachable", reason) from exc
        finally:
            conn.close()
        if wrote:
            up.note_written(self.name, ctx, len(rows))

    def statement(self) -> sql.Composed:
        """`INSERT ... VALUES %s ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c ... [WHERE]`."""
        up = self.upsert
        insert = sql.SQL("INSERT INTO {table} ({columns}) VALUES %s ON CONFLICT ({key}) ").format(
            table=sql.Identifier(*up.table.split(".")),
            columns=sql.SQL(", ").join(map(sql.Identifier, up.written)),
            key=sql.SQL(", ").join(map(sql.Identifier, up.key)),
        )
        if not up.updated:
            return insert + sql.SQL("DO NOTHING")
        merged = dict(self.merge)
        assignments = sql.SQL(", ").join(
            sql.SQL("{column} = {value}").format(
                column=sql.Identifier(c),
                value=sql.SQL(merged[c])
                if c in merged
                else sql.SQL("EXCLUDED.{column}").format(column=sql.Identifier(c)),
            )
            for c in up.updated
        )
        statement = insert + sql.SQL("DO UPDATE SET ") + assignments
        if up.newer_by:
            # The stored row is named by the table's own name, without its schema.
            statement += sql.SQL(" WHERE EXCLUDED.{g} > {t}.{g} OR {t}.{g} IS NULL").format(
                g=sql.Identifier(up.newer_by), t=sql.Identifier(up.table.split(".")[-1])
            )
        return statement
