"""`MySQLUpsert` against the machine's MariaDB (database `test`, real Pulse tables)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import mysql.connector
import pytest
from mysql.connector.abstracts import MySQLConnectionAbstract
from pyspark.sql import DataFrame, SparkSession

from pulse.config import PulseConfig
from pulse.sinks.base import BatchContext
from pulse.sinks.errors import DuplicateKeyError, SinkDefinitionError
from pulse.sinks.mysql import MySQLUpsert
from pulse.sinks.upsert import Upsert
from tests.sinks.conftest import rows, unique

pytestmark = pytest.mark.spark

PRODUCTS = (
    "product_id string, name string, category string, price decimal(12,2), currency string, "
    "stock long, version long, updated_at timestamp"
)
T0 = datetime(2026, 11, 22, 20, 15, 0, 250000, tzinfo=UTC)


@pytest.fixture
def product(my: MySQLConnectionAbstract) -> Iterator[str]:
    """A product id prefix of this test's own; its rows are deleted afterwards."""
    product_id = unique("p")
    yield product_id
    cur = my.cursor()
    cur.execute("DELETE FROM products WHERE product_id LIKE %s", (product_id + "%",))
    cur.close()


def products(spark: SparkSession, *rows: tuple) -> DataFrame:
    return spark.createDataFrame(list(rows), PRODUCTS)


def catalog(conf: PulseConfig, newer_by: str | None = None, rows_per_statement: int = 1000):
    return MySQLUpsert(
        "catalog",
        conf.mysql,
        Upsert(
            "products",
            ("product_id",),
            ("name", "category", "price", "currency", "stock", "updated_at", "version"),
            newer_by=newer_by,
            rows_per_statement=rows_per_statement,
        ),
    )


def stored(my: MySQLConnectionAbstract, product_id: str) -> list[tuple]:
    return rows(
        my,
        "SELECT name, price, stock, version FROM products WHERE product_id = %s",
        product_id,
    )


def ledger(my: MySQLConnectionAbstract, ctx: BatchContext) -> list[tuple]:
    return rows(
        my,
        "SELECT checkpoint_id, batch_id FROM sink_ledger WHERE query = %s ORDER BY checkpoint_id",
        ctx.query,
    )


def test_rows_are_inserted_then_updated_by_key(spark, conf, ctx, my, product) -> None:
    sink = catalog(conf)

    sink.write(products(spark, (product, "Mug", "home", Decimal("9.50"), "EUR", 3, 1, T0)), ctx)
    sink.write(
        products(spark, (product, "Mug L", "home", Decimal("11.00"), "EUR", 2, 2, T0)),
        replace(ctx, batch_id=1),
    )

    assert stored(my, product) == [("Mug L", Decimal("11.00"), 2, 2)]
    assert ledger(my, ctx) == [(ctx.checkpoint_id, 1)]


def test_timestamps_are_stored_as_utc(spark, conf, ctx, my, product) -> None:
    catalog(conf).write(
        products(spark, (product, "Mug", "home", Decimal("9.50"), "EUR", 3, 1, T0)), ctx
    )

    assert rows(my, "SELECT updated_at FROM products WHERE product_id = %s", product) == [
        (T0.replace(tzinfo=None),)
    ]


def test_a_replayed_batch_writes_nothing_twice(spark, conf, ctx, my, product) -> None:
    sink = catalog(conf)
    sink.write(products(spark, (product, "Mug", "home", Decimal("9.50"), "EUR", 3, 1, T0)), ctx)
    cur = my.cursor()
    cur.execute("UPDATE products SET stock = 99 WHERE product_id = %s", (product,))
    cur.close()

    sink.write(products(spark, (product, "Cup", "home", Decimal("1.00"), "EUR", 5, 1, T0)), ctx)

    assert stored(my, product) == [("Mug", Decimal("9.50"), 99, 1)]
    assert ledger(my, ctx) == [(ctx.checkpoint_id, 0)]


def test_a_batch_below_the_ledger_is_skipped(spark, conf, ctx, my, product) -> None:
    sink = catalog(conf)
    sink.write(
        products(spark, (product, "Mug", "home", Decimal("9.50"), "EUR", 3, 4, T0)),
        replace(ctx, batch_id=4),
    )

    sink.write(
        products(spark, (product, "Cup", "home", Decimal("1.00"), "EUR", 5, 3, T0)),
        replace(ctx, batch_id=3),
    )

    assert stored(my, product) == [("Mug", Decimal("9.50"), 3, 4)]


def test_a_new_checkpoint_on_old_tables_does_not_skip_data(spark, conf, ctx, my, product) -> None:
    sink = catalog(conf)
    sink.write(
        products(spark, (product, "Mug", "home", Decimal("9.50"), "EUR", 3, 1, T0)),
        replace(ctx, batch_id=9),
    )
    fresh = BatchContext(ctx.query, ctx.checkpoint_id + "-fresh", batch_id=0)

    sink.write(products(spark, (product, "Cup", "home", Decimal("1.00"), "EUR", 5, 2, T0)), fresh)

    assert stored(my, product) == [("Cup", Decimal("1.00"), 5, 2)]
    assert ledger(my, ctx) == [(ctx.checkpoint_id, 9), (fresh.checkpoint_id, 0)]


def test_an_older_version_never_overwrites_a_newer_one(spark, conf, ctx, my, product) -> None:
    sink = catalog(conf, newer_by="version")
    sink.write(products(spark, (product, "Mug", "home", Decimal("9.50"), "EUR", 3, 5, T0)), ctx)

    sink.write(
        products(spark, (product, "Old", "home", Decimal("1.00"), "EUR", 1, 4, T0)),
        replace(ctx, batch_id=1),
    )
    older = stored(my, product)
    sink.write(
        products(spark, (product, "Mug XL", "home", Decimal("12.00"), "EUR", 7, 6, T0)),
        replace(ctx, batch_id=2),
    )

    assert older == [("Mug", Decimal("9.50"), 3, 5)]
    # Every column moved with the version: the newer_by column is assigned after the others.
    assert stored(my, product) == [("Mug XL", Decimal("12.00"), 7, 6)]


def test_batches_larger_than_one_statement_are_written_whole(spark, conf, ctx, my, product) -> None:
    batch = products(
        spark,
        *[(f"{product}-{i:03d}", "Mug", "home", Decimal(i), "EUR", i, 1, T0) for i in range(250)],
    )

    catalog(conf, rows_per_statement=100).write(batch, ctx)

    assert rows(
        my, "SELECT COUNT(*), SUM(stock) FROM products WHERE product_id LIKE %s", product + "-%"
    ) == [(250, Decimal(sum(range(250))))]


def test_a_failing_batch_leaves_neither_rows_nor_ledger(spark, conf, ctx, my, product) -> None:
    good = (f"{product}-a", "Mug", "home", Decimal("9.50"), "EUR", 3, 1, T0)
    bad = (f"{product}-b", "Mug", "home", Decimal("9.50"), "EURO", 3, 1, T0)  # CHAR(3)

    with pytest.raises(mysql.connector.Error, match="currency"):
        catalog(conf).write(products(spark, good, bad), ctx)

    assert stored(my, f"{product}-a") == []
    assert ledger(my, ctx) == []


def test_duplicate_keys_in_one_batch_are_refused_naming_table_and_key(
    spark, conf, ctx, my, product
) -> None:
    row = (product, "Mug", "home", Decimal("9.50"), "EUR", 3, 1, T0)

    with pytest.raises(DuplicateKeyError, match=rf"products.*product_id.*{product}"):
        catalog(conf).write(products(spark, row, row), ctx)

    assert ledger(my, ctx) == []


def test_a_newer_by_column_must_be_written(conf) -> None:
    with pytest.raises(SinkDefinitionError, match="newer_by column revision"):
        MySQLUpsert(
            "c", conf.mysql, Upsert("products", ("product_id",), ("name",), newer_by="revision")
        )


def test_the_newer_by_column_is_assigned_last(conf) -> None:
    sink = MySQLUpsert(
        "c",
        conf.mysql,
        Upsert("products", ("product_id",), ("version", "name"), newer_by="version"),
    )

    statement = sink.statement()

    assignments = statement.split("ON DUPLICATE KEY UPDATE ")[1]
    assert assignments.index("`name` = IF(") < assignments.index("`version` = IF(")
