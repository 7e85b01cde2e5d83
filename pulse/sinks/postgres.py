"""`PostgresUpsert`: a batch upserted into a PostgreSQL table by its natural key, exactly once:
the rows and the `sink_ledger` entry in one transaction (see "PostgreSQL and MySQL" in
docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import psycopg2.errors
import psycopg2.extensions
import pyarrow as pa
import pyarrow.csv as pcsv
from psycopg2 import sql
from psycopg2.extras import execute_values

from pulse.config import PostgresConfig
from pulse.sinks.base import Batch, BatchContext
from pulse.sinks.errors import DuplicateKeyError
from pulse.sinks.ledger import Cursor, LedgerEntry, write_once
from pulse.sinks.upsert import Upsert
from pulse.sinks.values import collect_batch, require_columns, upsert_rows
from pulse.stores import StoreUnavailable, postgres_connect

log = logging.getLogger("pulse.sinks")

# A batch of at least this many rows is copied into a staging table (COPY, its CSV written by
# Arrow) and upserted from there with one INSERT ... SELECT; a smaller one goes as VALUES. The
# monitor's acks, 6,000 rows a batch at eight times the default traffic: 0.14-0.5 s as Python
# tuples and VALUES, 0.07-0.11 s copied (/tmp/exp/ackbench.py, 2026-12-07, on a busy machine);
# for a few rows the staging table is two more round trips and a catalog entry for nothing.
COPY_ROWS = 1_000
# The Arrow types whose CSV text PostgreSQL reads back as the same value (`_copy_text`); a batch
# with any other column goes as VALUES.
_COPYABLE = (
    pa.types.is_string,
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_timestamp,
    pa.types.is_date,
)
_STAGE = "pulse_stage"


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
        batch = collect_batch(frame)
        if batch.num_rows == 0:
            return  # nothing that a replay could repeat; no connection needed
        require_columns(batch, up.written, self.name)
        text = _copy_text(batch, up.written, up.key) if batch.num_rows >= COPY_ROWS else None
        rows = upsert_rows(batch, up.key, up.columns, self.name, up.table) if text is None else []

        def upsert(cur: Cursor) -> None:
            try:
                if text is None:
                    execute_values(cur, self.statement(), rows, page_size=up.rows_per_statement)
                else:
                    self._copy(cast(psycopg2.extensions.cursor, cur), text)
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
            up.note_written(self.name, ctx, batch.num_rows)

    def _copy(self, cur: psycopg2.extensions.cursor, text: bytes) -> None:
        """The batch's CSV into a staging table of the written columns' types (dropped at
        commit), then upserted from it by the same statement as VALUES."""
        up = self.upsert
        stage = sql.Identifier(_STAGE)
        columns = sql.SQL(", ").join(map(sql.Identifier, up.written))
        cur.execute(
            sql.SQL(
                "CREATE TEMP TABLE {stage} ON COMMIT DROP AS "
                "SELECT {columns} FROM {table} WITH NO DATA"
            ).format(stage=stage, columns=columns, table=sql.Identifier(*up.table.split(".")))
        )
        copy = sql.SQL("COPY {stage} ({columns}) FROM STDIN WITH (FORMAT csv)")
        cur.copy_expert(copy.format(stage=stage, columns=columns), io.BytesIO(text))
        cur.execute(
            self.statement(
                sql.SQL("SELECT {columns} FROM {stage}").format(columns=columns, stage=stage)
            )
        )

    def statement(self, source: sql.Composable | None = None) -> sql.Composed:
        """`INSERT ... VALUES %s ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c ... [WHERE]`;
        with `source` (a SELECT) in place of `VALUES %s`."""
        up = self.upsert
        insert = sql.SQL("INSERT INTO {table} ({columns}) {source} ON CONFLICT ({key}) ").format(
            table=sql.Identifier(*up.table.split(".")),
            columns=sql.SQL(", ").join(map(sql.Identifier, up.written)),
            source=sql.SQL("VALUES %s") if source is None else source,
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


def _copy_text(batch: pa.Table, columns: Sequence[str], key: Sequence[str]) -> bytes | None:
    """The batch's `columns` as CSV for COPY, or None when a column is of a type not in
    `_COPYABLE` or a key repeats (the VALUES path then says which: `upsert_rows`). Arrow quotes
    every string, so an empty string stays one and a null is the unquoted empty field COPY
    reads as NULL; timestamps are written in UTC with their `Z`, floats as PostgreSQL reads them
    (`nan` and `inf` included)."""
    table = batch.select(list(columns))
    if not all(any(check(field.type) for check in _COPYABLE) for field in table.schema):
        return None
    if table.group_by(list(key), use_threads=False).aggregate([]).num_rows < table.num_rows:
        return None
    out = pa.BufferOutputStream()
    pcsv.write_csv(table, out, pcsv.WriteOptions(include_header=False))
    return out.getvalue().to_pybytes()
