"""The `sink_ledger` of the SQL sinks: the last batch each (query, sink, checkpoint) committed,
read under a row lock and written in the batch's own transaction, so a batch is written with
its entry or not at all, and a retry racing a zombie attempt finds the first one's entry and
skips (how the row is claimed: "PostgreSQL and MySQL" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pulse.sinks.base import BatchContext

log = logging.getLogger("pulse.sinks")

Dialect = Literal["postgres", "mysql"]

_NOTHING_YET = -1  # Spark's batch ids start at 0

_CLAIM = {
    "postgres": (
        "INSERT INTO sink_ledger (query, sink, checkpoint_id, batch_id) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (query, sink, checkpoint_id) DO NOTHING"
    ),
    # Not INSERT IGNORE: that would turn every other error of the statement into a warning.
    "mysql": (
        "INSERT INTO sink_ledger (query, sink, checkpoint_id, batch_id) VALUES (%s, %s, %s, %s) "
        "ON DUPLICATE KEY UPDATE batch_id = batch_id"
    ),
}
_LOCK = (
    "SELECT batch_id FROM sink_ledger WHERE query = %s AND sink = %s AND checkpoint_id = %s "
    "FOR UPDATE"
)
_RECORD = {
    "postgres": "UPDATE sink_ledger SET batch_id = %s, committed_at = now() "
    "WHERE query = %s AND sink = %s AND checkpoint_id = %s",
    "mysql": "UPDATE sink_ledger SET batch_id = %s, committed_at = CURRENT_TIMESTAMP(3) "
    "WHERE query = %s AND sink = %s AND checkpoint_id = %s",
}


class Cursor(Protocol):
    """The part of a DB-API cursor the ledger uses (psycopg2 and mysql.connector alike)."""

    def execute(self, operation: Any, params: Any = ...) -> Any: ...

    def executemany(self, operation: Any, seq_of_params: Any) -> Any: ...

    def fetchone(self) -> Any: ...


class Connection(Protocol):
    """The part of a DB-API connection the ledger uses."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


@dataclass(frozen=True)
class LedgerEntry:
    """One sink's progress on one checkpoint of one query."""

    query: str
    sink: str
    checkpoint_id: str

    @classmethod
    def of(cls, ctx: BatchContext, sink: str) -> LedgerEntry:
        """The entry `sink` keeps for the query and checkpoint of `ctx`."""
        return cls(ctx.query, sink, ctx.checkpoint_id)


def write_once(
    conn: Connection,
    cur: Cursor,
    dialect: Dialect,
    entry: LedgerEntry,
    batch_id: int,
    write: Callable[[Cursor], None],
) -> bool:
    """In one transaction: lock the ledger entry, run `write` unless the batch is already in,
    advance the entry, commit. Returns whether it wrote; rolls back and re-raises on failure."""
    key = (entry.query, entry.sink, entry.checkpoint_id)
    try:
        cur.execute(_CLAIM[dialect], (*key, _NOTHING_YET))
        cur.execute(_LOCK, key)
        (last,) = cur.fetchone()
        if last >= batch_id:
            conn.rollback()
            log.info(
                "sink=%s query=%s checkpoint=%s batch=%d skipped: ledger is at batch %d",
                entry.sink,
                entry.query,
                entry.checkpoint_id,
                batch_id,
                last,
            )
            return False
        write(cur)
        cur.execute(_RECORD[dialect], (batch_id, *key))
        conn.commit()
        return True
    except BaseException:
        # The connection may be gone; the original error is the one worth raising.
        with contextlib.suppress(Exception):
            conn.rollback()
        raise
