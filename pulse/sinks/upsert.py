"""`Upsert`: what a batch upserted into a table is, the same for PostgreSQL and MySQL; each sink
spells it in its own SQL (pulse.sinks.postgres, pulse.sinks.mysql)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pulse.sinks.base import BatchContext
from pulse.sinks.errors import SinkDefinitionError
from pulse.sinks.values import written_columns

log = logging.getLogger("pulse.sinks")


@dataclass(frozen=True)
class Upsert:
    """Each batch upserted into `table` by `key` (its primary or a unique key).

    `columns` are the columns written; the key columns are written whether listed or not, and
    every other column is updated on conflict. With `newer_by` (a written column, such as a
    sequence or version number) a stored row is replaced only by a row whose value there is
    greater, or where the stored value is null: an older state never overwrites a newer one.
    `rows_per_statement` rows go in each INSERT. `table` may be `schema.table`.

    >>> Upsert("match_scores", ("match_id",), ("home_score", "sequence"), "sequence").written
    ('match_id', 'home_score', 'sequence')
    """

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    newer_by: str | None = None
    rows_per_statement: int = 1000

    @property
    def written(self) -> tuple[str, ...]:
        """Every column written: the key first, then the other columns."""
        return written_columns(self.key, self.columns)

    def note_written(self, sink: str, ctx: BatchContext, rows: int) -> None:
        """Log that sink `sink` upserted `rows` rows of batch `ctx` (not a replay it skipped)."""
        log.debug(
            "sink=%s query=%s batch=%d table=%s rows=%d upserted",
            sink,
            ctx.query,
            ctx.batch_id,
            self.table,
            rows,
        )

    @property
    def updated(self) -> tuple[str, ...]:
        """The columns a conflicting row updates: all but the key."""
        return tuple(c for c in self.written if c not in self.key)

    def check(self, sink: str) -> None:
        """Raise `SinkDefinitionError` naming `sink` for an upsert that cannot be written."""
        if not self.key:
            raise SinkDefinitionError(f"sink {sink}: table {self.table} needs a key")
        if self.newer_by is not None and self.newer_by not in self.columns:
            raise SinkDefinitionError(
                f"sink {sink}: newer_by column {self.newer_by} is not among the columns "
                f"written to {self.table} ({', '.join(self.columns)})"
            )
        if self.newer_by in self.key:
            raise SinkDefinitionError(f"sink {sink}: newer_by column {self.newer_by} is in the key")
        if self.rows_per_statement < 1:
            raise SinkDefinitionError(
                f"sink {sink}: rows_per_statement {self.rows_per_statement} < 1"
            )
