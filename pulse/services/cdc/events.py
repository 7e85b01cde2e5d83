"""A committed transaction's row changes as PRODUCT events (`source` "cdc"), pure, with change ids
that stay the same however often a change is sent (the ids and versions: "The CDC relay" in
docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from typing import Any

from pulse.events.domains import PRODUCT, PRODUCT_STATE
from pulse.events.schema import Field, format_timestamp
from pulse.services.cdc.transactions import Row, RowChange, Transaction

SOURCE = "cdc"
ID_COLUMN = "product_id"
VERSION_COLUMN = "version"
STATE_COLUMNS: tuple[str, ...] = tuple(field.name for field in PRODUCT_STATE)
# The columns the table must have for its rows to become events.
REQUIRED_COLUMNS: tuple[str, ...] = (ID_COLUMN, VERSION_COLUMN, *STATE_COLUMNS)
_VERSION = PRODUCT.field("version")


def change_id(commit_lsn: int, position: int) -> str:
    """The id of the `position`-th event (from 0) of the transaction committed at `commit_lsn`."""
    return f"cdc-{commit_lsn:016X}-{position}"


def transaction_events(transaction: Transaction) -> list[dict[str, Any]]:
    """The PRODUCT events of a transaction, in its order, with their change ids."""
    ts = format_timestamp(transaction.commit_time)
    events: list[dict[str, Any]] = []
    for change in transaction.changes:
        for op, before, after in _product_changes(change):
            events.append(
                product_event(change_id(transaction.commit_lsn, len(events)), op, before, after, ts)
            )
    return events


def product_event(
    change: str, op: str, before: Row | None, after: Row | None, ts: str
) -> dict[str, Any]:
    """One PRODUCT event, fields in schema order (the producers' wire form)."""
    if after is not None:
        product_id, version = after.get(ID_COLUMN), _typed(_VERSION, after.get(VERSION_COLUMN))
    else:
        assert before is not None, "a change has at least one image"
        product_id, version = before.get(ID_COLUMN), _typed(_VERSION, before.get(VERSION_COLUMN))
        if isinstance(version, int):
            version += 1
    event: dict[str, Any] = {
        "change_id": change,
        "product_id": product_id,
        "version": version,
        "op": op,
        "source": SOURCE,
    }
    if before is not None:
        event["before"] = image(before)
    if after is not None:
        event["after"] = image(after)
    event["ts"] = ts
    return event


def image(row: Row) -> dict[str, Any]:
    """A row's product state (`before`/`after`), typed as `PRODUCT_STATE` declares."""
    return {field.name: _typed(field, row.get(field.name)) for field in PRODUCT_STATE}


def _product_changes(change: RowChange) -> list[tuple[str, Row | None, Row | None]]:
    """(op, before, after) of each event a row change becomes.

    An update that changes the product id ends one product and starts another: a delete of the
    old id and a create of the new one, each keyed by its own id.
    """
    if change.op == "insert":
        return [("create", None, change.after)]
    if change.op == "delete":
        return [("delete", change.before, None)]
    before, after = change.before, change.after
    if before is not None and after is not None and before.get(ID_COLUMN) != after.get(ID_COLUMN):
        return [("delete", before, None), ("create", None, after)]
    return [("update", before, after)]


def _typed(field: Field, text: str | None) -> Any:
    if text is None:
        return None
    try:
        if field.kind == "long":
            return int(text)
        if field.kind == "double":
            return float(text)
    except ValueError:
        return text
    return text
