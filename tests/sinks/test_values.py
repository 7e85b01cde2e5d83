"""Batch values on the driver: Arrow types, JSON and text renderings, duplicate keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from pulse.sinks.errors import DuplicateKeyError
from pulse.sinks.values import (
    collect_batch,
    iso_datetime,
    json_columns,
    json_value,
    plain_type,
    reject_duplicate_keys,
    text_value,
)

T0 = datetime(2026, 11, 22, 20, 15, 0, 500000, tzinfo=UTC)


def test_zoned_timestamps_become_utc_microseconds_and_large_types_plain() -> None:
    assert plain_type(pa.timestamp("ns", tz="Europe/Paris")) == pa.timestamp("us", tz="UTC")
    assert plain_type(pa.timestamp("ms")) == pa.timestamp("us")
    assert plain_type(pa.large_string()) == pa.string()
    assert plain_type(pa.large_binary()) == pa.binary()
    assert plain_type(pa.large_list(pa.large_string())) == pa.list_(pa.string())
    assert plain_type(pa.struct([("t", pa.timestamp("us", tz="+02:00"))])) == pa.struct(
        [("t", pa.timestamp("us", tz="UTC"))]
    )


@pytest.mark.spark
def test_a_session_in_another_zone_still_hands_over_utc(spark) -> None:
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        table = collect_batch(spark.createDataFrame([(T0,)], "ts timestamp"))
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)

    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.column("ts").to_pylist() == [T0]
    assert table.column("ts").to_pylist()[0].utcoffset() == timedelta(0)


def test_json_values_are_portable() -> None:
    paris = timezone(timedelta(hours=1))
    assert json_value(T0) == "2026-11-22T20:15:00.500000Z"
    assert json_value(datetime(2026, 11, 22, 21, 15, tzinfo=paris)) == "2026-11-22T20:15:00.000000Z"
    assert json_value(datetime(2026, 11, 22, 20, 15)) == "2026-11-22T20:15:00.000000"  # no zone
    assert json_value(date(2026, 11, 22)) == "2026-11-22"
    assert json_value(Decimal("9.50")) == "9.50"
    assert json_value(float("nan")) is None
    assert json_value(b"\x00\xff") == "AP8="
    assert json_value({"a": [Decimal("1.0"), None]}) == {"a": ["1.0", None]}


def test_text_values_render_as_json_does() -> None:
    values = (True, 3, 0.5, "x", T0, Decimal("2.00"), [1, 2], None)
    assert [text_value(json_value(v)) for v in values] == [
        "true",
        "3",
        "0.5",
        "x",
        "2026-11-22T20:15:00.500000Z",
        "2.00",
        "[1,2]",
        "null",
    ]


def test_arrow_columns_render_as_python_values_do() -> None:
    """The fast, column-wise path and the per-value path give the same JSON."""
    paris = timezone(timedelta(hours=1))
    columns = {
        "ts": pa.array([T0, None], pa.timestamp("us", tz="UTC")),
        "paris": pa.array([T0, None], pa.timestamp("ms", tz="Europe/Paris")),
        "ntz": pa.array([datetime(2026, 11, 22, 20, 15), None], pa.timestamp("us")),
        "price": pa.array([Decimal("9.50"), None], pa.decimal128(12, 2)),
        "n": pa.array([3, None], pa.int64()),
        "ratio": pa.array([0.25, float("nan")], pa.float64()),
        "day": pa.array([date(2026, 11, 22), None], pa.date32()),
        "tags": pa.array([["a"], None], pa.list_(pa.string())),
    }
    table = pa.table(columns)

    rendered = json_columns(table, table.column_names)

    assert rendered == {
        name: [json_value(value) for value in column.to_pylist()]
        for name, column in columns.items()
    }
    assert rendered["paris"][0] == iso_datetime(T0.astimezone(paris)) == json_value(T0)


def test_duplicate_keys_are_reported_with_their_value() -> None:
    rows = [("m1", "a", 1), ("m1", "b", 2), ("m1", "a", 3)]

    with pytest.raises(DuplicateKeyError, match=r"table t: 1 keys \(id, kind\).*id='m1', kind='a'"):
        reject_duplicate_keys(rows, [0, 1], "t", ["id", "kind"])

    reject_duplicate_keys(rows, [0, 2], "t", ["id", "n"])  # unique: no error
