"""`DeltaAppend` through delta-rs, into Delta tables under the test's tmp_path; with `key`, as
for a change stream that may deliver a change twice."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pulse.sinks.base import BatchContext, Derived, Together
from pulse.sinks.delta import DeltaAppend, first_per_key, lake_table, spark_delta_available
from pulse.sinks.errors import SinkDefinitionError
from pulse.sinks.values import collect_batch

pytestmark = pytest.mark.spark

EVENTS = "id string, match_id string, ts timestamp, count long, payload binary"
T0 = datetime(2026, 11, 22, 20, 15, 0, 123456, tzinfo=UTC)


def events(spark: SparkSession, *ids: str) -> DataFrame:
    return spark.createDataFrame([(i, "m1", T0, 1, b"x") for i in ids], EVENTS)


def lake(tmp_path: Path) -> str:
    return str(tmp_path / "events")


def ids(path: str) -> list[str]:
    return sorted(DeltaTable(path).to_pyarrow_table().column("id").to_pylist())


def test_the_first_batch_creates_the_table_with_spark_compatible_types(
    spark, ctx, tmp_path
) -> None:
    batch = events(spark, "a", "b").withColumn("source", F.lit("test"))  # a NOT NULL column
    assert not batch.schema["source"].nullable

    DeltaAppend("lake", lake(tmp_path)).write(batch, ctx)

    table = DeltaTable(lake(tmp_path)).to_pyarrow_table()
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.column("ts").to_pylist() == [T0, T0]
    assert {field.name: field.nullable for field in table.schema} == dict.fromkeys(
        ["id", "match_id", "ts", "count", "payload", "source"], True
    )
    assert not spark_delta_available(spark)  # no Delta jars here: delta-rs wrote it


def test_batches_are_appended_with_their_app_transaction(spark, ctx, tmp_path) -> None:
    sink = DeltaAppend("lake", lake(tmp_path))

    sink.write(events(spark, "a"), ctx)
    sink.write(events(spark, "b"), replace(ctx, batch_id=1))

    assert ids(lake(tmp_path)) == ["a", "b"]
    app_id = f"{ctx.query}:lake:{ctx.checkpoint_id}"
    assert DeltaTable(lake(tmp_path)).transaction_version(app_id) == 1


def test_a_replayed_batch_writes_nothing_twice(spark, ctx, tmp_path) -> None:
    sink = DeltaAppend("lake", lake(tmp_path))
    sink.write(events(spark, "a", "b"), ctx)
    version = DeltaTable(lake(tmp_path)).version()

    sink.write(events(spark, "a", "b"), ctx)

    assert ids(lake(tmp_path)) == ["a", "b"]
    assert DeltaTable(lake(tmp_path)).version() == version


def test_a_batch_below_the_recorded_one_is_skipped(spark, ctx, tmp_path) -> None:
    sink = DeltaAppend("lake", lake(tmp_path))
    sink.write(events(spark, "a"), replace(ctx, batch_id=3))

    sink.write(events(spark, "b"), replace(ctx, batch_id=2))

    assert ids(lake(tmp_path)) == ["a"]


def test_a_new_checkpoint_on_old_tables_does_not_skip_data(spark, ctx, tmp_path) -> None:
    sink = DeltaAppend("lake", lake(tmp_path))
    sink.write(events(spark, "a"), replace(ctx, batch_id=5))
    fresh = BatchContext(ctx.query, ctx.checkpoint_id + "-fresh", batch_id=0)

    sink.write(events(spark, "b"), fresh)

    assert ids(lake(tmp_path)) == ["a", "b"]


def test_a_batch_another_writer_committed_meanwhile_is_seen(spark, ctx, tmp_path) -> None:
    # The table is kept open between batches; a commit it did not make (a second driver, or
    # the same batch written before a crash) must still be seen.
    sink = DeltaAppend("lake", lake(tmp_path))
    sink.write(events(spark, "a"), ctx)  # makes the table
    sink.write(events(spark, "b"), replace(ctx, batch_id=1))  # opens it, and keeps it open
    write_deltalake(
        lake(tmp_path),
        lake_table(collect_batch(events(spark, "c"))),
        mode="append",
        commit_properties=CommitProperties(
            app_transactions=[Transaction(f"{ctx.query}:lake:{ctx.checkpoint_id}", 2)]
        ),
    )

    sink.write(events(spark, "c"), replace(ctx, batch_id=2))

    assert ids(lake(tmp_path)) == ["a", "b", "c"]


def test_a_table_made_again_at_the_same_path_is_not_taken_for_the_old_one(
    spark, ctx, tmp_path
) -> None:
    sink = DeltaAppend("lake", lake(tmp_path))
    sink.write(events(spark, "a"), replace(ctx, batch_id=3))  # makes the table
    sink.write(events(spark, "a2"), replace(ctx, batch_id=4))  # opens it, and keeps it open
    shutil.rmtree(lake(tmp_path))

    sink.write(events(spark, "b"), replace(ctx, batch_id=0))
    sink.write(events(spark, "c"), replace(ctx, batch_id=1))

    assert ids(lake(tmp_path)) == ["b", "c"]


def test_partition_columns_are_declared_and_laid_out(spark, ctx, tmp_path) -> None:
    sink = DeltaAppend("lake", lake(tmp_path), partition_by=("match_id",))

    sink.write(events(spark, "a"), ctx)

    assert DeltaTable(lake(tmp_path)).metadata().partition_columns == ["match_id"]
    assert (tmp_path / "events" / "match_id=m1").is_dir()


def test_an_empty_batch_adds_no_version(spark, ctx, tmp_path) -> None:
    sink = DeltaAppend("lake", lake(tmp_path))
    sink.write(events(spark, "a"), ctx)

    sink.write(events(spark), replace(ctx, batch_id=1))

    assert DeltaTable(lake(tmp_path)).version() == 0


def keyed(tmp_path: Path) -> DeltaAppend:
    """The sink as product_history uses it: one row per id, whichever batch brings it."""
    return DeltaAppend("lake", lake(tmp_path), key=("id",))


def test_a_key_repeated_within_the_first_batch_lands_once(spark, ctx, tmp_path) -> None:
    keyed(tmp_path).write(events(spark, "a", "b", "a", "a"), ctx)

    assert ids(lake(tmp_path)) == ["a", "b"]


def test_a_key_the_table_holds_is_not_appended_again(spark, ctx, tmp_path) -> None:
    sink = keyed(tmp_path)
    sink.write(events(spark, "a", "b"), ctx)

    sink.write(events(spark, "b", "a", "b"), replace(ctx, batch_id=1))

    assert ids(lake(tmp_path)) == ["a", "b"]


def test_new_keys_of_a_later_batch_are_appended_once(spark, ctx, tmp_path) -> None:
    sink = keyed(tmp_path)
    sink.write(events(spark, "a"), ctx)

    sink.write(events(spark, "a", "c", "b", "c"), replace(ctx, batch_id=1))

    assert ids(lake(tmp_path)) == ["a", "b", "c"]
    app_id = f"{ctx.query}:lake:{ctx.checkpoint_id}"
    assert DeltaTable(lake(tmp_path)).transaction_version(app_id) == 1


def test_a_replayed_batch_is_skipped_before_the_merge(spark, ctx, tmp_path) -> None:
    sink = keyed(tmp_path)
    sink.write(events(spark, "a"), ctx)
    sink.write(events(spark, "b"), replace(ctx, batch_id=1))
    version = DeltaTable(lake(tmp_path)).version()

    # A key the table lacks: only the app transaction can keep it out.
    sink.write(events(spark, "b", "c"), replace(ctx, batch_id=1))

    assert ids(lake(tmp_path)) == ["a", "b"]
    assert DeltaTable(lake(tmp_path)).version() == version


def test_the_first_row_of_a_repeated_key_is_kept() -> None:
    table = pa.table({"id": ["a", "b", "a", "c", "b"], "n": [1, 2, 3, 4, 5]})

    assert first_per_key(table, ["id"]).to_pydict() == {"id": ["a", "b", "c"], "n": [1, 2, 4]}


def test_a_merge_bounded_by_time_still_finds_a_change_sent_again(ctx, tmp_path) -> None:
    """With `bounded_by`, the merge reads only the target rows in the batch's time range; a
    copy carries the time of its original, so a change re-sent long after is still found."""
    sink = DeltaAppend("lake", lake(tmp_path), key=("id",), bounded_by="ts")

    def batch(*rows: tuple[str, int]) -> pa.Table:
        return pa.table(
            {
                "id": [row[0] for row in rows],
                "ts": pa.array(
                    [T0.replace(minute=row[1]) for row in rows], pa.timestamp("us", tz="UTC")
                ),
            }
        )

    for number, minute in enumerate(range(10)):  # ten commits, ten files, a minute apart
        sink.write(batch((f"e{minute}", minute)), replace(ctx, batch_id=number))

    sink.write(batch(("e3", 3), ("e7", 7), ("new", 30)), replace(ctx, batch_id=10))

    assert ids(lake(tmp_path)) == sorted([f"e{minute}" for minute in range(10)] + ["new"])


def tables(tmp_path: Path, *names: str, partition_by: tuple[str, ...] = ()) -> Together:
    """The lake's way: several Delta tables written at once, each fed its own rows."""
    return Together(
        "delta",
        tuple(
            Derived(
                DeltaAppend(name, str(tmp_path / name), partition_by),
                lambda batch, name=name: batch[name],
            )
            for name in names
        ),
    )


def test_tables_written_together_each_get_their_rows_once(ctx, tmp_path) -> None:
    group = tables(tmp_path, "one", "two", "three")
    batch = {name: pa.table({"id": [f"{name}-a", f"{name}-b"]}) for name in ("one", "two", "three")}

    group.write(batch, ctx)
    group.write(batch, ctx)  # a replay

    for name in ("one", "two", "three"):
        assert ids(str(tmp_path / name)) == [f"{name}-a", f"{name}-b"]


def test_a_member_that_fails_fails_the_group_and_a_retry_completes_it(ctx, tmp_path) -> None:
    batch = {"one": pa.table({"id": ["a"]}), "two": pa.table({"id": ["b"]})}
    broken = Together(
        "delta",
        (
            tables(tmp_path, "one").sinks[0],
            Derived(DeltaAppend("two", str(tmp_path / "two"), ("missing",)), lambda b: b["two"]),
        ),
    )
    with pytest.raises(SinkDefinitionError, match="missing"):
        broken.write(batch, ctx)
    assert ids(str(tmp_path / "one")) == ["a"]

    tables(tmp_path, "one", "two").write(batch, ctx)

    assert ids(str(tmp_path / "one")) == ["a"]
    assert ids(str(tmp_path / "two")) == ["b"]
