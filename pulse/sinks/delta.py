"""`DeltaAppend`: each batch appended to a Delta table once, marked with an app transaction
(`<query>:<sink>:<checkpoint_id>`, version = batch id), through delta-rs locally or Spark's
Delta writer on a cluster; with `key`, an insert-only merge so a row sent again lands once.
Both writers, and why a merge rather than a streaming dedupe: "Delta" in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError
from pyspark.sql import DataFrame, SparkSession

from pulse.sinks.base import Batch, BatchContext
from pulse.sinks.values import collect_batch, require_columns
from pulse.spark import jvm_class_available

if TYPE_CHECKING:  # delta-spark's Python face works only with its jars: imported where used
    from delta.tables import DeltaTable as SparkDeltaTable

log = logging.getLogger("pulse.sinks")

SPARK_DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"

# Delta's session settings that make a MERGE idempotent, as the writer options do an append
# (delta-io/delta#1555): a (txnAppId, txnVersion) already committed is skipped.
SPARK_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
SPARK_TXN_VERSION = "spark.databricks.delta.write.txnVersion"

_ROW = "_pulse_row"


@dataclass(frozen=True)
class DeltaAppend:
    """Append each batch to the Delta table at `path` (created by the first batch); with `key`,
    only the rows whose key the table does not hold yet, one per key."""

    name: str
    path: str
    partition_by: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    bounded_by: str | None = None  # with `key`: a column the same in every copy of a row

    def write(self, frame: Batch, ctx: BatchContext) -> None:
        """Append the batch with its app transaction, unless the table already holds it."""
        app_id = f"{ctx.query}:{self.name}:{ctx.checkpoint_id}"
        if isinstance(frame, DataFrame) and spark_delta_available(frame.sparkSession):
            self._write_with_spark(frame, app_id, ctx.batch_id)
            return
        if isinstance(frame, pa.Table) and frame.num_rows == 0:
            return  # nothing to commit: not even the table's log needs reading
        lake = existing_table(self.path)
        seen = lake.transaction_version(app_id) if lake is not None else None
        if seen is not None and seen >= ctx.batch_id:
            log.info(
                "sink=%s query=%s checkpoint=%s batch=%d skipped: %s holds up to batch %d",
                self.name,
                ctx.query,
                ctx.checkpoint_id,
                ctx.batch_id,
                self.path,
                seen,
            )
            return
        table = lake_table(collect_batch(frame))
        if table.num_rows == 0:
            return  # an empty commit would only add a version to the log
        require_columns(table, (*self.partition_by, *self.key), self.name)
        commit = CommitProperties(app_transactions=[Transaction(app_id, ctx.batch_id)])
        rows = self._write_with_delta_rs(lake, table, commit)
        log.debug(
            "sink=%s query=%s batch=%d path=%s rows=%d appended",
            self.name,
            ctx.query,
            ctx.batch_id,
            self.path,
            rows,
        )

    def _write_with_delta_rs(
        self, lake: DeltaTable | None, table: pa.Table, commit: CommitProperties
    ) -> int:
        """Append `table` (with `key`: merge its new keys into `lake`); the rows added."""
        if self.key:
            table = first_per_key(table, self.key)
        if self.key and lake is not None:
            merger = lake.merge(
                table,
                key_predicate(self.key) + range_predicate(table, self.bounded_by),
                source_alias="source",
                target_alias="target",
                commit_properties=commit,
            )
            return merger.when_not_matched_insert_all().execute()["num_target_rows_inserted"]
        write_deltalake(
            self.path if lake is None else lake,  # the open table: no second read of its log
            table,
            mode="append",
            partition_by=list(self.partition_by) or None,
            commit_properties=commit,
        )
        return table.num_rows

    def _write_with_spark(self, frame: DataFrame, app_id: str, batch_id: int) -> None:
        """Spark's Delta writer; it skips a (txnAppId, txnVersion) it has committed before.
        With `key`, once the table exists, Spark's Delta MERGE instead (`_merge_with_spark`)."""
        if self.key:
            frame = frame.dropDuplicates(list(self.key))
            from delta.tables import DeltaTable as SparkDeltaTable  # only usable with the jars

            if SparkDeltaTable.isDeltaTable(frame.sparkSession, self.path):
                target = SparkDeltaTable.forPath(frame.sparkSession, self.path)
                self._merge_with_spark(target, frame, app_id, batch_id)
                return
        writer = (
            frame.write.format("delta")
            .option("txnAppId", app_id)
            .option("txnVersion", batch_id)
            .mode("append")
        )
        if self.partition_by:
            writer = writer.partitionBy(*self.partition_by)
        writer.save(self.path)

    def _merge_with_spark(
        self, target: SparkDeltaTable, frame: DataFrame, app_id: str, batch_id: int
    ) -> None:
        """Insert the batch's new keys, the app transaction given through the session settings
        (a MERGE takes no writer options). `frame.sparkSession` is the query's own session and
        its sinks write one after another, so the settings reach no other write. Untested here,
        like the Spark append: the build machines have no Delta jars."""
        spark = frame.sparkSession
        spark.conf.set(SPARK_TXN_APP_ID, app_id)
        spark.conf.set(SPARK_TXN_VERSION, str(batch_id))
        try:
            merge = target.alias("target").merge(frame.alias("source"), key_predicate(self.key))
            merge.whenNotMatchedInsertAll().execute()
        finally:
            spark.conf.unset(SPARK_TXN_APP_ID)
            spark.conf.unset(SPARK_TXN_VERSION)


# The tables `existing_table` keeps open, by path, with the identity of their first commit.
_OPEN: dict[str, tuple[DeltaTable, tuple[int, int]]] = {}


def existing_table(path: str) -> DeltaTable | None:
    """The Delta table at `path` as of its latest commit, or None before its first commit.

    Kept open across batches: opening a table replays its log since the last checkpoint
    (product_history after 10 minutes at four times the default traffic, 670 versions: 40-150
    ms a batch, a third of the enrich query's sinks), where `update_incremental` reads only the
    commits since the last batch (3 ms). A table whose first commit is no longer the file it
    was (the directory removed and the table made again) is opened afresh.
    """
    held = _OPEN.pop(path, None)
    if held is not None and held[1] == _first_commit(path):
        try:
            held[0].update_incremental()
        except DeltaError:  # whatever it met, a fresh open decides
            pass
        else:
            _OPEN[path] = held
            return held[0]
    try:
        table = DeltaTable(path)
    except TableNotFoundError:
        return None
    identity = _first_commit(path)
    if identity is not None:
        _OPEN[path] = (table, identity)
    return table


def _first_commit(path: str) -> tuple[int, int] | None:
    """The inode and change time of the table's first commit file; None when that cannot be
    told (a table in an object store, or a log whose first commit was cleaned up): such a
    table is opened every batch."""
    try:
        found = os.stat(os.path.join(path, "_delta_log", "0" * 20 + ".json"))
    except (OSError, ValueError):
        return None
    return found.st_ino, found.st_ctime_ns


def lake_table(table: pa.Table) -> pa.Table:
    """The batch with every column nullable, as Spark's Delta writer declares new tables, so
    that a later batch holding a null appends to the same schema."""
    schema = pa.schema([field.with_nullable(True) for field in table.schema])
    return table if schema == table.schema else table.cast(schema)


def first_per_key(table: pa.Table, key: Sequence[str]) -> pa.Table:
    """One row per `key`, the first of the batch: a repeat is the same change sent again, so
    which copy stays does not matter, and a merge would insert every copy of a new key."""
    rows = table.select(list(key)).append_column(_ROW, pa.array(range(table.num_rows)))
    firsts = rows.group_by(list(key)).aggregate([(_ROW, "min")]).sort_by(f"{_ROW}_min")
    if firsts.num_rows == table.num_rows:
        return table
    return table.take(firsts.column(f"{_ROW}_min"))


def key_predicate(key: Sequence[str]) -> str:
    """The merge condition `target.k = source.k AND ...`, the same SQL for delta-rs and Spark."""
    return " AND ".join(f"target.`{column}` = source.`{column}`" for column in key)


def range_predicate(table: pa.Table, column: str | None) -> str:
    """` AND target.c >= min AND target.c <= max` over the batch's values of `column` (nothing
    without one): a copy of a batch row has the same value, so no match is lost."""
    if column is None or table.num_rows == 0:
        return ""
    low, high = pc.min_max(table.column(column)).values()
    if not low.is_valid:
        return ""
    return (
        f" AND target.`{column}` >= {sql_literal(low)} AND target.`{column}` <= {sql_literal(high)}"
    )


def sql_literal(value: pa.Scalar) -> str:
    """A scalar as a SQL literal: timestamps in ISO-8601 with their zone, text quoted."""
    python = value.as_py()
    if isinstance(python, datetime):
        return f"'{python.isoformat()}'"
    if isinstance(python, str):
        return "'" + python.replace("'", "''") + "'"
    return str(python)


def spark_delta_available(spark: SparkSession) -> bool:
    """Whether the JVM can load Delta's Spark classes (delta-spark's jars were supplied)."""
    return jvm_class_available(spark, SPARK_DELTA_EXTENSION)
