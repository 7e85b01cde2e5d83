"""Product changes reduced to catalogue state, and flattened into history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pulse.events.domains import PRODUCT
from pulse.events.spark import struct_type
from pulse.transforms.products import product_history, product_state

pytestmark = pytest.mark.spark

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 20, 15, 1, tzinfo=UTC)
T2 = datetime(2026, 11, 22, 20, 15, 2, tzinfo=UTC)

SHOE = ("Trail shoe", "footwear", 89.9, "EUR", 12)
SHOE_SOLD = ("Trail shoe", "footwear", 89.9, "EUR", 11)
SHOE_CHEAPER = ("Trail shoe", "footwear", 79.0, "EUR", 11)
MUG = ("Oak mug", "home", 8.5, "GBP", 3)

PRODUCTS = T.StructType(
    [
        T.StructField("product_id", T.StringType()),
        T.StructField("name", T.StringType()),
        T.StructField("category", T.StringType()),
        T.StructField("price", T.DoubleType()),
        T.StructField("currency", T.StringType()),
        T.StructField("stock", T.LongType()),
        T.StructField("version", T.LongType()),
        T.StructField("deleted", T.BooleanType()),
        T.StructField("updated_at", T.TimestampType()),
    ]
)


def changes(spark: SparkSession, *rows: tuple) -> DataFrame:
    """(change_id, product_id, version, op, source, before, after, ts)."""
    return spark.createDataFrame(list(rows), struct_type(PRODUCT))


def products(spark: SparkSession, *rows: tuple) -> DataFrame:
    return spark.createDataFrame(list(rows), PRODUCTS)


def test_the_highest_version_of_each_product_wins_whatever_the_arrival_order(spark):
    actual = product_state(
        changes(
            spark,
            ("c3", "sku-1", 3, "update", "api", SHOE_SOLD, SHOE_CHEAPER, T2),
            ("c1", "sku-1", 1, "create", "cdc", None, SHOE, T0),
            ("c2", "sku-1", 2, "update", "cdc", SHOE, SHOE_SOLD, T1),
            ("c4", "sku-2", 1, "create", "api", None, MUG, T1),
        )
    )
    assert_df_equality(
        actual,
        products(
            spark,
            ("sku-1", "Trail shoe", "footwear", 79.0, "EUR", 11, 3, False, T2),
            ("sku-2", "Oak mug", "home", 8.5, "GBP", 3, 1, False, T1),
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_an_older_version_with_a_later_timestamp_never_wins(spark):
    actual = product_state(
        changes(
            spark,
            ("c2", "sku-1", 2, "update", "api", SHOE, SHOE_SOLD, T0),
            ("c1", "sku-1", 1, "create", "cdc", None, SHOE, T2),
        )
    )
    assert_df_equality(
        actual,
        products(spark, ("sku-1", "Trail shoe", "footwear", 89.9, "EUR", 11, 2, False, T0)),
        ignore_nullable=True,
    )


def test_a_delete_is_marked_deleted_with_the_state_before_it(spark):
    actual = product_state(
        changes(
            spark,
            ("c1", "sku-1", 1, "create", "api", None, SHOE, T0),
            ("c2", "sku-1", 2, "delete", "api", SHOE, None, T1),
        )
    )
    assert_df_equality(
        actual,
        products(spark, ("sku-1", "Trail shoe", "footwear", 89.9, "EUR", 12, 2, True, T1)),
        ignore_nullable=True,
    )


def test_a_delete_without_a_before_image_leaves_the_state_null(spark):
    actual = product_state(changes(spark, ("c9", "sku-1", 9, "delete", "cdc", None, None, T1)))
    assert_df_equality(
        actual,
        products(spark, ("sku-1", None, None, None, None, None, 9, True, T1)),
        ignore_nullable=True,
    )


def test_product_state_ignores_extra_columns_such_as_the_kafka_origin(spark):
    frame = changes(spark, ("c1", "sku-1", 1, "create", "api", None, MUG, T0)).withColumn(
        "kafka_offset", F.lit(7)
    )
    actual = product_state(frame)
    assert_df_equality(
        actual,
        products(spark, ("sku-1", "Oak mug", "home", 8.5, "GBP", 3, 1, False, T0)),
        ignore_nullable=True,
    )


def test_history_keeps_every_change_with_both_images_flattened(spark):
    actual = product_history(
        changes(
            spark,
            ("c1", "sku-1", 1, "create", "cdc", None, SHOE, T0),
            ("c2", "sku-1", 2, "update", "api", SHOE, SHOE_SOLD, T1),
            ("c3", "sku-1", 3, "delete", "api", SHOE_SOLD, None, T2),
        )
    )
    # fmt: off
    rows = [
        ("c1", "sku-1", 1, "create", "cdc", T0,
         None, None, None, None, None,
         "Trail shoe", "footwear", 89.9, "EUR", 12),
        ("c2", "sku-1", 2, "update", "api", T1,
         "Trail shoe", "footwear", 89.9, "EUR", 12,
         "Trail shoe", "footwear", 89.9, "EUR", 11),
        ("c3", "sku-1", 3, "delete", "api", T2,
         "Trail shoe", "footwear", 89.9, "EUR", 11,
         None, None, None, None, None),
    ]
    # fmt: on
    expected = spark.createDataFrame(
        rows,
        "change_id string, product_id string, version long, op string, source string,"
        " ts timestamp,"
        " before_name string, before_category string, before_price double,"
        " before_currency string, before_stock long,"
        " after_name string, after_category string, after_price double,"
        " after_currency string, after_stock long",
    )
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)
