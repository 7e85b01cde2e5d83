"""Product changes as catalogue state (MySQL `products`) and as history (Delta `product_history`).

Within a batch the highest version of each product wins, whatever order the changes arrived in;
across batches the MySQL sink's version guard refuses anything older than the stored row.

A delete keeps its row, marked `deleted`, with the last known state taken from the change's
`before` image (nulls when the change carries none, as some CDC deletes do): the catalogue can
then still show what was deleted, and a later re-create overwrites it with a higher version.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pulse.events.domains import PRODUCT
from pulse.transforms.latest import latest_per_key

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


def product_state(changes: DataFrame) -> DataFrame:
    """The latest version of each product in the batch, as a `products` row.

    Ties on version (the same change delivered twice) go to the latest ts, then to the rest of
    the row, so the pick never depends on arrival order. `price` stays a double: the column's
    DECIMAL(12,2) rounds it on write.
    """
    latest = latest_per_key(
        changes.select(*CHANGE_COLUMNS),
        ["product_id"],
        [F.col("version").desc(), F.col("ts").desc()],
    )
    deleted = F.col("op") == F.lit("delete")
    image = F.when(deleted, F.col("before")).otherwise(F.col("after"))
    return latest.select(
        "product_id",
        *[image.getField(name).alias(name) for name in STATE_FIELDS],
        "version",
        deleted.alias("deleted"),
        F.col("ts").alias("updated_at"),
    )


def product_history(changes: DataFrame) -> DataFrame:
    """Every change, one row each, with both images flattened to `before_*` and `after_*`.

    Flat columns rather than two structs: notebooks and the dashboard read the table through
    delta-rs into pandas, where a struct becomes a column of dicts; flat columns keep their
    types, read as `after_price - before_price` in SQL, get their own min/max statistics, and a
    new state field is an additive change (two nullable columns) for either Delta writer. No
    information is lost: every image field is required, so an absent image is exactly the row
    whose `before_*` (or `after_*`) are all null, which `op` states anyway.
    """
    images = [
        F.col(f"{image}.{name}").alias(f"{image}_{name}")
        for image in ("before", "after")
        for name in STATE_FIELDS
    ]
    return changes.select("change_id", "product_id", "version", "op", "source", "ts", *images)
