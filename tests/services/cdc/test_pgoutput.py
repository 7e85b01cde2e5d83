"""Decoding pgoutput messages: byte samples written as the protocol documents them, and
samples PostgreSQL 15 sent for `products_pim` (taken with pg_logical_slot_peek_binary_changes)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pulse.services.cdc.pgoutput import (
    UNCHANGED,
    Begin,
    Column,
    Commit,
    DecodeError,
    Delete,
    Insert,
    Relation,
    Truncate,
    Update,
    decode,
    format_lsn,
    parse_lsn,
)
from tests.services.cdc import messages

TS = datetime(2026, 11, 22, 20, 15, tzinfo=UTC)


def test_begin_and_commit_carry_the_commit_lsn_end_lsn_and_time() -> None:
    assert decode(messages.begin(0x16B374D848, 731)) == Begin(0x16B374D848, TS, 731)
    assert decode(messages.commit(0x16B374D848, 0x16B374D878)) == Commit(
        0, 0x16B374D848, 0x16B374D878, TS
    )


def test_a_relation_names_its_schema_table_identity_and_columns() -> None:
    message = decode(
        messages.relation(16390, "public", "products_pim", [("product_id", 25), ("stock", 20)])
    )

    assert message == Relation(
        16390,
        "public",
        "products_pim",
        "f",
        (Column("product_id", 25, -1, key=True), Column("stock", 20, -1, key=False)),
    )
    assert message.qualified_name == "public.products_pim"


def test_row_values_arrive_as_text_null_or_unchanged() -> None:
    assert decode(messages.insert(7, ["sku-1", None, "89.90", "é"])) == Insert(
        7, ("sku-1", None, "89.90", "é")
    )
    assert decode(messages.update(7, ["a", "1"], ["a", UNCHANGED])) == Update(
        7, ("a", "1"), "O", ("a", UNCHANGED)
    )
    assert decode(messages.update(7, None, ["a"])) == Update(7, None, None, ("a",))
    assert decode(messages.delete(7, ["a", None], kind=b"K")) == Delete(7, ("a", None), "K")


def test_a_truncate_lists_its_relations() -> None:
    assert decode(messages.truncate(7, 8)) == Truncate((7, 8), 0)


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"", "empty"),
        (b"Z\x00", "unknown pgoutput message kind b'Z'"),
        (messages.begin(1, 2)[:-1], "Begin message is truncated"),
        (messages.commit(1, 2) + b"\x00", "Commit message has 1 unread bytes"),
        (b"I" + b"\x00\x00\x00\x07" + b"X", "Insert message: expected b'N'"),
        (b"I" + b"\x00\x00\x00\x07" + b"N" + b"\x00\x01" + b"x", "column kind b'x'"),
    ],
)
def test_a_broken_or_unknown_message_is_an_error_naming_its_kind(
    payload: bytes, complaint: str
) -> None:
    with pytest.raises(DecodeError, match=complaint):
        decode(payload)


def test_lsns_print_and_parse_as_postgresql_does() -> None:
    assert format_lsn(0x16B374D848) == "16/B374D848"
    assert parse_lsn("16/B374D848") == 0x16B374D848
    assert parse_lsn(format_lsn(0)) == 0


def test_what_postgresql_15_sent_for_products_pim_decodes() -> None:
    decoded = [decode(payload) for payload in messages.PG15_SAMPLES]

    begin, relation, insert, commit = decoded[:4]
    assert isinstance(begin, Begin) and begin.final_lsn == parse_lsn("0/10045278")
    assert begin.xid == 61637
    assert isinstance(relation, Relation) and relation.qualified_name == "public.products_pim"
    assert relation.replica_identity == "f"
    assert [(c.name, c.type_oid) for c in relation.columns] == [
        ("product_id", 25),
        ("name", 25),
        ("category", 25),
        ("price", 1700),
        ("currency", 25),
        ("stock", 20),
        ("version", 20),
        ("updated_at", 1184),
    ]
    assert isinstance(insert, Insert) and insert.relation_oid == relation.oid
    assert insert.new[:7] == ("sku-sample", "Trail shoe", "footwear", "89.90", "EUR", "12", "1")
    assert isinstance(commit, Commit)
    assert (commit.commit_lsn, commit.end_lsn) == (begin.final_lsn, parse_lsn("0/100452A8"))
    assert commit.commit_time == begin.commit_time
    update, delete = decoded[5], decoded[8]
    assert isinstance(update, Update) and update.old_kind == "O"
    assert update.old == insert.new and update.new[3:7] == ("79.00", "EUR", "11", "2")
    assert isinstance(delete, Delete) and delete.old_kind == "O" and delete.old == update.new
