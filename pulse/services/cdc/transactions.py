"""Decoded pgoutput messages folded into committed transactions of one table's row changes.
Pure: the assembler keeps the relations it was told about and the transaction being read, and
hands back each transaction whole at its Commit, its changes in the order PostgreSQL applied
them (logical decoding sends transactions in commit order, never interleaved).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pulse.services.cdc.pgoutput import (
    UNCHANGED,
    Begin,
    Commit,
    Delete,
    Insert,
    Message,
    Relation,
    Truncate,
    Update,
    Value,
)

Row = dict[str, str | None]


class StreamError(ValueError):
    """The message stream breaks the protocol (a change outside a transaction, an unknown
    relation); names what came and where."""


@dataclass(frozen=True, slots=True)
class RowChange:
    """One row's change: the old image (None for an insert), the new one (None for a delete)."""

    op: Literal["insert", "update", "delete"]
    before: Row | None
    after: Row | None


@dataclass(frozen=True, slots=True)
class Transaction:
    """A committed transaction's changes to the table, in the order they were made."""

    xid: int
    commit_lsn: int  # where its commit record starts: the same for every change in it
    end_lsn: int  # where its commit record ends: the position to confirm once it is delivered
    commit_time: datetime
    changes: tuple[RowChange, ...]
    truncated: bool  # the table was truncated in it (TRUNCATE carries no rows)


class TransactionAssembler:
    """Feed it every decoded message; it returns each committed transaction once, at its end."""

    def __init__(self, table: str) -> None:
        """`table` is the `schema.name` whose changes are kept; others are passed over."""
        self.table = table
        self.relations: dict[int, Relation] = {}
        self._begin: Begin | None = None
        self._changes: list[RowChange] = []
        self._truncated = False

    def feed(self, message: Message) -> Transaction | None:
        """Take one message; return the transaction it completes, if it is a Commit."""
        if isinstance(message, Relation):
            self.relations[message.oid] = message
        elif isinstance(message, Begin):
            if self._begin is not None:
                raise StreamError(
                    f"Begin of transaction {message.xid} inside transaction {self._begin.xid}"
                )
            self._begin, self._changes, self._truncated = message, [], False
        elif isinstance(message, Commit):
            return self._commit(message)
        elif isinstance(message, Insert | Update | Delete):
            change = self._row_change(message)
            if change is not None:
                self._changes.append(change)
        elif isinstance(message, Truncate):
            self._open("Truncate")
            if any(self._is_table(oid) for oid in message.relation_oids):
                self._truncated = True
        # Origin and Type messages say nothing the events need.
        return None

    def _commit(self, commit: Commit) -> Transaction:
        begin = self._open("Commit")
        if commit.commit_lsn != begin.final_lsn:
            raise StreamError(
                f"Commit at LSN {commit.commit_lsn} ends transaction {begin.xid}, whose Begin "
                f"announced LSN {begin.final_lsn}"
            )
        transaction = Transaction(
            xid=begin.xid,
            commit_lsn=commit.commit_lsn,
            end_lsn=commit.end_lsn,
            commit_time=commit.commit_time,
            changes=tuple(self._changes),
            truncated=self._truncated,
        )
        self._begin, self._changes, self._truncated = None, [], False
        return transaction

    def _open(self, what: str) -> Begin:
        if self._begin is None:
            raise StreamError(f"{what} message outside a transaction")
        return self._begin

    def _is_table(self, oid: int) -> bool:
        relation = self.relations.get(oid)
        if relation is None:
            raise StreamError(f"change to relation {oid}, which no Relation message described")
        return relation.qualified_name == self.table

    def _row_change(self, message: Insert | Update | Delete) -> RowChange | None:
        kind = type(message).__name__
        self._open(kind)
        if not self._is_table(message.relation_oid):
            return None
        relation = self.relations[message.relation_oid]
        if isinstance(message, Insert):
            return RowChange("insert", None, _row(relation, message.new, None))
        if isinstance(message, Delete):
            return RowChange("delete", _row(relation, message.old, None), None)
        before = _row(relation, message.old, None) if message.old is not None else None
        return RowChange("update", before, _row(relation, message.new, before))


def _row(relation: Relation, values: tuple[Value, ...], old: Row | None) -> Row:
    """Column name to text value; an unchanged TOASTed value is taken from the old image."""
    if len(values) != len(relation.columns):
        raise StreamError(
            f"{relation.qualified_name}: a row of {len(values)} values for "
            f"{len(relation.columns)} columns"
        )
    row: Row = {}
    for column, value in zip(relation.columns, values, strict=True):
        if value is UNCHANGED:
            if old is None or column.name not in old:
                raise StreamError(
                    f"{relation.qualified_name}.{column.name}: unchanged value not sent and no "
                    "old image to take it from (the table needs REPLICA IDENTITY FULL)"
                )
            value = old[column.name]
        # `value is UNCHANGED` narrows nothing (a sentinel, not an enum member); it is not here.
        row[column.name] = value  # type: ignore[assignment]
    return row
