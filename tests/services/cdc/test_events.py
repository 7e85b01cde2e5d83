"""Row changes of products_pim as PRODUCT events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pulse.events import validate
from pulse.events.domains import PRODUCT
from pulse.events.schema import InvalidEvent
from pulse.services.cdc.events import change_id, transaction_events
from pulse.services.cdc.pgoutput import decode
from pulse.services.cdc.transactions import Row, RowChange, Transaction, TransactionAssembler
from tests.services.cdc import messages

COMMIT = datetime(2026, 11, 22, 20, 15, 0, 123456, tzinfo=UTC)


def row(product_id: str = "sku-1", version: int = 1, **changes: str | None) -> Row:
    """A products_pim row in PostgreSQL's text form."""
    return {
        "product_id": product_id,
        "name": "Trail shoe",
        "category": "footwear",
        "price": "89.90",
        "currency": "EUR",
        "stock": "12",
        "version": str(version),
        "updated_at": "2026-11-22 20:15:00+00",
        **changes,
    }


def transaction(*changes: RowChange, lsn: int = 0x16B374D848) -> Transaction:
    """A committed transaction of the given changes."""
    return Transaction(7, lsn, lsn + 0x30, COMMIT, changes, truncated=False)


STATE = {
    "name": "Trail shoe",
    "category": "footwear",
    "price": 89.9,
    "currency": "EUR",
    "stock": 12,
}


def test_an_insert_is_a_create_with_the_new_image_typed_as_the_schema_says() -> None:
    [event] = transaction_events(transaction(RowChange("insert", None, row())))

    assert event == {
        "change_id": "cdc-00000016B374D848-0",
        "product_id": "sku-1",
        "version": 1,
        "op": "create",
        "source": "cdc",
        "after": STATE,
        "ts": "2026-11-22T20:15:00.123Z",
    }
    assert list(event) == [f.name for f in PRODUCT.fields if f.name in event]  # wire order
    validate(PRODUCT, event)


def test_an_update_has_both_images_and_the_new_version() -> None:
    change = RowChange("update", row(version=1), row(version=2, price="79.00", stock="0"))

    [event] = transaction_events(transaction(change))

    assert (event["op"], event["version"]) == ("update", 2)
    assert event["before"] == STATE
    assert event["after"] == {**STATE, "price": 79.0, "stock": 0}
    validate(PRODUCT, event)


def test_a_delete_has_the_old_image_only_and_the_version_after_the_last() -> None:
    [event] = transaction_events(transaction(RowChange("delete", row(version=4), None)))

    assert (event["op"], event["version"], event["before"]) == ("delete", 5, STATE)
    assert "after" not in event
    validate(PRODUCT, event)


def test_changes_of_a_transaction_share_its_lsn_and_time_and_count_their_position() -> None:
    changes = [RowChange("insert", None, row(f"sku-{n}")) for n in range(3)]

    events = transaction_events(transaction(*changes, lsn=0x2A))

    assert [e["change_id"] for e in events] == [change_id(0x2A, n) for n in range(3)]
    assert [e["change_id"] for e in events] == [
        "cdc-000000000000002A-0",
        "cdc-000000000000002A-1",
        "cdc-000000000000002A-2",
    ]
    assert {e["ts"] for e in events} == {"2026-11-22T20:15:00.123Z"}


def test_an_update_of_the_product_id_ends_one_product_and_starts_another() -> None:
    change = RowChange("update", row("sku-old", 3), row("sku-new", 4))

    events = transaction_events(transaction(change))

    assert [(e["product_id"], e["op"], e["version"]) for e in events] == [
        ("sku-old", "delete", 4),
        ("sku-new", "create", 4),
    ]
    assert [e["change_id"][-2:] for e in events] == ["-0", "-1"]


def test_a_value_outside_the_schema_is_kept_for_validation_to_name() -> None:
    [event] = transaction_events(transaction(RowChange("insert", None, row(currency="JPY"))))

    with pytest.raises(InvalidEvent, match=r"after\.currency"):
        validate(PRODUCT, event)


def test_what_postgresql_15_sent_becomes_valid_events_in_commit_order() -> None:
    fold = TransactionAssembler("public.products_pim")
    transactions = [fold.feed(decode(payload)) for payload in messages.PG15_SAMPLES]

    events = [e for t in transactions if t is not None for e in transaction_events(t)]

    assert [(e["op"], e["version"], e.get("before"), e.get("after")) for e in events] == [
        ("create", 1, None, {**STATE, "stock": 12}),
        ("update", 2, {**STATE, "stock": 12}, {**STATE, "price": 79.0, "stock": 11}),
        ("delete", 3, {**STATE, "price": 79.0, "stock": 11}, None),
    ]
    assert [e["change_id"] for e in events] == [
        "cdc-0000000010045278-0",
        "cdc-0000000010045378-0",
        "cdc-0000000010045428-0",
    ]
    for event in events:
        validate(PRODUCT, event)
