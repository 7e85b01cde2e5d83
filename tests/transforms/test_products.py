"""Product changes reduced to catalogue state, and flattened into history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pulse.events.arrow import events_table
from pulse.events.domains import PRODUCT
from pulse.events.schema import format_timestamp
from pulse.transforms.products import (
    PRODUCTS_COLUMNS,
    STATE_FIELDS,
    product_history,
    product_state,
)

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 20, 15, 1, tzinfo=UTC)
T2 = datetime(2026, 11, 22, 20, 15, 2, tzinfo=UTC)

SHOE = ("Trail shoe", "footwear", 89.9, "EUR", 12)
SHOE_SOLD = ("Trail shoe", "footwear", 89.9, "EUR", 11)
SHOE_CHEAPER = ("Trail shoe", "footwear", 79.0, "EUR", 11)
MUG = ("Oak mug", "home", 8.5, "GBP", 3)
NOTHING = (None,) * len(STATE_FIELDS)


def change(
    change_id: str,
    product_id: str,
    version: int,
    op: str,
    source: str,
    before: tuple | None,
    after: tuple | None,
    ts: datetime,
) -> dict[str, Any]:
    """A valid product change as decoded from JSON (absent images left out, as on the wire)."""
    event: dict[str, Any] = {
        "change_id": change_id,
        "product_id": product_id,
        "version": version,
        "op": op,
        "source": source,
        "ts": format_timestamp(ts),
    }
    for name, image in (("before", before), ("after", after)):
        if image is not None:
            event[name] = dict(zip(STATE_FIELDS, image, strict=True))
    return event


def product(product_id: str, state: tuple, version: int, deleted: bool, ts: datetime) -> dict:
    return dict(zip(PRODUCTS_COLUMNS, (product_id, *state, version, deleted, ts), strict=True))


def test_the_highest_version_of_each_product_wins_whatever_the_arrival_order():
    actual = product_state(
        [
            change("c3", "sku-1", 3, "update", "api", SHOE_SOLD, SHOE_CHEAPER, T2),
            change("c1", "sku-1", 1, "create", "cdc", None, SHOE, T0),
            change("c2", "sku-1", 2, "update", "cdc", SHOE, SHOE_SOLD, T1),
            change("c4", "sku-2", 1, "create", "api", None, MUG, T1),
        ]
    )
    assert actual.column_names == list(PRODUCTS_COLUMNS)
    assert actual.to_pylist() == [
        product("sku-1", SHOE_CHEAPER, 3, False, T2),
        product("sku-2", MUG, 1, False, T1),
    ]


def test_an_older_version_with_a_later_timestamp_never_wins():
    actual = product_state(
        [
            change("c2", "sku-1", 2, "update", "api", SHOE, SHOE_SOLD, T0),
            change("c1", "sku-1", 1, "create", "cdc", None, SHOE, T2),
        ]
    )
    assert actual.to_pylist() == [product("sku-1", SHOE_SOLD, 2, False, T0)]


def test_an_equal_version_is_settled_by_the_later_timestamp_whatever_the_arrival_order():
    early = change("c2", "sku-1", 2, "update", "api", SHOE, SHOE_SOLD, T1)
    late = change("c2b", "sku-1", 2, "update", "api", SHOE, SHOE_CHEAPER, T2)
    expected = [product("sku-1", SHOE_CHEAPER, 2, False, T2)]
    assert product_state([early, late]).to_pylist() == expected
    assert product_state([late, early]).to_pylist() == expected


def test_a_delete_is_marked_deleted_with_the_state_before_it():
    actual = product_state(
        [
            change("c1", "sku-1", 1, "create", "api", None, SHOE, T0),
            change("c2", "sku-1", 2, "delete", "api", SHOE, None, T1),
        ]
    )
    assert actual.to_pylist() == [product("sku-1", SHOE, 2, True, T1)]


def test_a_delete_without_a_before_image_leaves_the_state_null():
    actual = product_state([change("c9", "sku-1", 9, "delete", "cdc", None, None, T1)])
    assert actual.to_pylist() == [product("sku-1", NOTHING, 9, True, T1)]


def test_product_state_ignores_extra_keys_such_as_the_kafka_origin():
    origin = {"kafka_topic": "product.changes", "kafka_partition": 0, "kafka_offset": 7}
    actual = product_state([{**change("c1", "sku-1", 1, "create", "api", None, MUG, T0), **origin}])
    assert actual.to_pylist() == [product("sku-1", MUG, 1, False, T0)]


def test_history_keeps_every_change_with_both_images_flattened():
    silver = events_table(
        [
            change("c1", "sku-1", 1, "create", "cdc", None, SHOE, T0),
            change("c2", "sku-1", 2, "update", "api", SHOE, SHOE_SOLD, T1),
            change("c3", "sku-1", 3, "delete", "api", SHOE_SOLD, None, T2),
        ],
        PRODUCT,
    ).append_column("date", pa.array([T0.date()] * 3))  # as the lake's silver rows carry
    actual = product_history(silver)
    columns = [
        "change_id", "product_id", "version", "op", "source", "ts",
        *[f"before_{name}" for name in STATE_FIELDS],
        *[f"after_{name}" for name in STATE_FIELDS],
    ]  # fmt: skip
    rows = [
        ("c1", "sku-1", 1, "create", "cdc", T0, *NOTHING, *SHOE),
        ("c2", "sku-1", 2, "update", "api", T1, *SHOE, *SHOE_SOLD),
        ("c3", "sku-1", 3, "delete", "api", T2, *SHOE_SOLD, *NOTHING),
    ]
    assert actual.column_names == columns
    assert actual.to_pylist() == [dict(zip(columns, row, strict=True)) for row in rows]
