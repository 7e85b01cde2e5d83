"""`DeltaAppend`: each batch appended to a Delta table once, marked with an app transaction.

The app id is `<query>:<sink>:<checkpoint_id>` and its version the batch id, recorded in the
same commit as the data (Delta's `txn` action), so the table itself knows which batches it
holds; a fresh checkpoint (batch ids from 0 again) gets a new app id and is not skipped.

Two writers, one table format:

- Locally (no Delta jars: Maven Central cannot be reached here) delta-rs' `write_deltalake`.
  delta-rs records the app transaction but does not refuse a version it has seen, so the sink
  reads `transaction_version(app_id)` first and skips the batch when it is at or past it. The
  batch is collected with `toArrow()`; timestamps are `timestamp[us, tz=UTC]`, strings and
  binaries the plain Arrow types, and every column nullable, as Spark's Delta writer makes
  them, so a table may be written by either writer.
- With Spark's Delta classes on the classpath (a cluster submit with delta-spark's jars),
  Spark's own writer with `txnAppId`/`txnVersion`, which skips a seen version by itself. That
  path cannot run on the build machines and is untested here; it is kept to a few lines.

One writer per app id is assumed (one query owns its checkpoint), so the read-then-write of
the local path does not race.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError
from pyspark.sql import DataFrame, SparkSession

from pulse.sinks.base import BatchContext
from pulse.sinks.values import collect_batch, require_columns
from pulse.spark import jvm_class_available

log = logging.getLogger("pulse.sinks")

SPARK_DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"


@dataclass(frozen=True)
class DeltaAppend:
    """Append each batch to the Delta table at `path` (created by the first batch)."""

    name: str
    path: str
    partition_by: tuple[str, ...] = ()

    def write(self, frame: DataFrame, ctx: BatchContext) -> None:
        """Append the batch with its app transaction, unless the table already holds it."""
        app_id = f"{ctx.query}:{self.name}:{ctx.checkpoint_id}"
        if spark_delta_available(frame.sparkSession):
            self._write_with_spark(frame, app_id, ctx.batch_id)
            return
        seen = transaction_version(self.path, app_id)
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
        require_columns(table, self.partition_by, self.name)
        write_deltalake(
            self.path,
            table,
            mode="append",
            partition_by=list(self.partition_by) or None,
            commit_properties=CommitProperties(
                app_transactions=[Transaction(app_id, ctx.batch_id)]
            ),
        )
        log.debug(
            "sink=%s query=%s batch=%d path=%s rows=%d appended",
            self.name,
            ctx.query,
            ctx.batch_id,
            self.path,
            table.num_rows,
        )

    def _write_with_spark(self, frame: DataFrame, app_id: str, batch_id: int) -> None:
        """Spark's Delta writer; it skips a (txnAppId, txnVersion) it has committed before."""
        writer = (
            frame.write.format("delta")
            .option("txnAppId", app_id)
            .option("txnVersion", batch_id)
            .mode("append")
        )
        if self.partition_by:
            writer = writer.partitionBy(*self.partition_by)
        writer.save(self.path)


def transaction_version(path: str, app_id: str) -> int | None:
    """The last batch the table at `path` recorded for `app_id`; None if none or no table."""
    try:
        return DeltaTable(path).transaction_version(app_id)
    except TableNotFoundError:
        return None


def lake_table(table: pa.Table) -> pa.Table:
    """The batch with every column nullable, as Spark's Delta writer declares new tables, so
    that a later batch holding a null appends to the same schema."""
    schema = pa.schema([field.with_nullable(True) for field in table.schema])
    return table if schema == table.schema else table.cast(schema)


def spark_delta_available(spark: SparkSession) -> bool:
    """Whether the JVM can load Delta's Spark classes (delta-spark's jars were supplied)."""
    return jvm_class_available(spark, SPARK_DELTA_EXTENSION)
