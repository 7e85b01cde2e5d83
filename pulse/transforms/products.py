"""Product changes as catalogue state (MySQL `products`) and as history (Delta `product_history`):
within a batch the highest version of each product wins, across batches the MySQL sink's
version guard refuses anything older. A delete keeps its row, marked `deleted`, with the last
known state from the change's `before` image, so the catalogue still shows what was deleted
and a later re-create overwrites it with a higher version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pulse.events.arrow import arrow_schema
from pulse.events.domains import PRODUCT
from pulse.events.schema import parse_timestamp
from pulse.transforms.newest import newest

# The fields of a product image (`before`/`after`), in schema order, as declared in PRODUCT.
STATE_FIELDS: tuple[str, ...] = tuple(field.name for field in PRODUCT.field("after").fields)

CHANGE_COLUMNS: tuple[str, ...] = tuple(field.name for field in PRODUCT.fields)

# The MySQL `products` table, in order.
PRODUCTS_COLUMNS: tuple[str, ...] = (
    "product_id",
    *STATE_FIELDS,
    "version",
    "deleted",
    "updated_at",
)


def product_state(changes: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The latest version of each product in the batch, as a `products` row.

    `changes` are valid product changes (dicts, as decoded). Ties on version (the same change
    delivered twice) go to the latest ts, then to the rest of the row, so the pick never
    depends on arrival order. `price` stays a double: the column's DECIMAL(12,2) rounds it on
    write.

    >>> from pulse.events import SCHEMAS, example
    >>> row = product_state([example(SCHEMAS["product"])]).to_pylist()[0]
    >>> row["product_id"], row["version"], row["deleted"]
    ('sku-00001', 2, False)
    """
    rows = []
    latest = newest(
        changes, key="product_id", order=lambda c: (c["version"], parse_timestamp(c["ts"]))
    )
    for product_id, change in latest.items():
        version, ts = change["version"], parse_timestamp(change["ts"])
        deleted = change["op"] == "delete"
        image = (change.get("before") if deleted else change.get("after")) or {}
        rows.append(
            {
                "product_id": product_id,
                **{name: image.get(name) for name in STATE_FIELDS},
                "version": version,
                "deleted": deleted,
                "updated_at": ts,
            }
        )
    return pa.Table.from_pylist(rows, schema=PRODUCTS_SCHEMA)


def product_history(changes: pa.Table) -> pa.Table:
    """Every change (typed product events, `pulse.events.arrow`, as the lake's silver table holds
    them; other columns are ignored), one row each, with both images flattened to `before_*` and
    `after_*`. In Arrow: the lake computes it from the batch it decoded anyway.

    Flat columns rather than two structs: notebooks and the dashboard read the table through
    delta-rs into pandas, where a struct becomes a column of dicts; flat columns keep their
    types, read as `after_price - before_price` in SQL, get their own min/max statistics, and a
    new state field is an additive change (two nullable columns) for either Delta writer. No
    information is lost: every image field is required, so an absent image is exactly the row
    whose `before_*` (or `after_*`) are all null, which `op` states anyway.

    >>> from pulse.events import example
    >>> from pulse.events.arrow import events_table
    >>> history = product_history(events_table([example(PRODUCT)], PRODUCT))
    >>> history.num_rows, history.column_names[:6]
    (1, ['change_id', 'product_id', 'version', 'op', 'source', 'ts'])
    """
    columns = [changes.column(name) for name in (*HISTORY_HEAD, "ts")]
    for image in ("before", "after"):
        columns += [pc.struct_field(changes.column(image), name) for name in STATE_FIELDS]
    return pa.Table.from_arrays(columns, schema=HISTORY_SCHEMA)


HISTORY_HEAD = ("change_id", "product_id", "version", "op", "source")
_STATE_TYPES = arrow_schema(PRODUCT).field("after").type
PRODUCTS_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        *[(field.name, field.type) for field in _STATE_TYPES],
        ("version", pa.int64()),
        ("deleted", pa.bool_()),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)
HISTORY_SCHEMA = pa.schema(
    [
        ("change_id", pa.string()),
        ("product_id", pa.string()),
        ("version", pa.int64()),
        ("op", pa.string()),
        ("source", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        *[
            (f"{image}_{field.name}", field.type)
            for image in ("before", "after")
            for field in _STATE_TYPES
        ],
    ]
)
