"""Folding decoded messages into committed transactions of one table's row changes."""

from __future__ import annotations

import pytest

from pulse.services.cdc.pgoutput import UNCHANGED, decode
from pulse.services.cdc.transactions import RowChange, StreamError, TransactionAssembler
from tests.services.cdc import messages

PIM, OTHER = 16390, 16400
COLUMNS = [("product_id", 25), ("name", 25), ("version", 20)]


def assembler() -> TransactionAssembler:
    """An assembler for public.products_pim that knows both relations."""
    fold = TransactionAssembler("public.products_pim")
    fold.feed(decode(messages.relation(PIM, "public", "products_pim", COLUMNS)))
    fold.feed(decode(messages.relation(OTHER, "scratch", "products_pim", COLUMNS)))
    return fold


def feed(fold: TransactionAssembler, *payloads: bytes) -> list:
    """What the assembler returns for each payload."""
    return [fold.feed(decode(payload)) for payload in payloads]


def test_a_transaction_comes_whole_at_its_commit_with_changes_in_order() -> None:
    fold = assembler()

    results = feed(
        fold,
        messages.begin(0x100, 9),
        messages.insert(PIM, ["a", "Shoe", "1"]),
        messages.update(PIM, ["a", "Shoe", "1"], ["a", "Boot", "2"]),
        messages.delete(PIM, ["a", "Boot", "2"]),
        messages.commit(0x100, 0x130),
    )

    assert results[:-1] == [None] * 4
    transaction = results[-1]
    assert (transaction.xid, transaction.commit_lsn, transaction.end_lsn) == (9, 0x100, 0x130)
    assert transaction.changes == (
        RowChange("insert", None, {"product_id": "a", "name": "Shoe", "version": "1"}),
        RowChange(
            "update",
            {"product_id": "a", "name": "Shoe", "version": "1"},
            {"product_id": "a", "name": "Boot", "version": "2"},
        ),
        RowChange("delete", {"product_id": "a", "name": "Boot", "version": "2"}, None),
    )
    assert not transaction.truncated


def test_changes_to_another_table_of_the_publication_are_passed_over() -> None:
    fold = assembler()

    *_, transaction = feed(
        fold,
        messages.begin(0x200, 10),
        messages.insert(OTHER, ["x", "Other", "1"]),
        messages.commit(0x200, 0x230),
    )

    assert transaction.changes == ()


def test_an_unchanged_toasted_value_is_taken_from_the_old_image() -> None:
    fold = assembler()

    *_, transaction = feed(
        fold,
        messages.begin(0x300, 11),
        messages.update(PIM, ["a", "Long text", "1"], ["a", UNCHANGED, "2"]),
        messages.commit(0x300, 0x330),
    )

    assert transaction.changes[0].after == {"product_id": "a", "name": "Long text", "version": "2"}


def test_a_truncate_of_the_table_is_flagged() -> None:
    fold = assembler()

    *_, transaction = feed(
        fold,
        messages.begin(0x400, 12),
        messages.truncate(OTHER, PIM),
        messages.commit(0x400, 0x430),
    )

    assert transaction.truncated and transaction.changes == ()


@pytest.mark.parametrize(
    ("payloads", "complaint"),
    [
        ([messages.insert(PIM, ["a", "b", "1"])], "Insert message outside a transaction"),
        ([messages.begin(1, 1), messages.begin(2, 2)], "Begin of transaction 2 inside"),
        ([messages.begin(1, 1), messages.insert(999, ["a"])], "relation 999"),
        ([messages.begin(1, 1), messages.commit(2, 3)], "Commit at LSN 2"),
        ([messages.begin(1, 1), messages.insert(PIM, ["a"])], "a row of 1 values for 3 columns"),
        ([messages.begin(1, 1), messages.update(PIM, None, ["a", UNCHANGED, "1"])], "unchanged"),
    ],
)
def test_a_stream_that_breaks_the_protocol_is_an_error(payloads, complaint) -> None:
    with pytest.raises(StreamError, match=complaint):
        feed(assembler(), *payloads)
