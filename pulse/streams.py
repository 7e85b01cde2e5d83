"""The streaming input the jobs share: the raw records of their topics, from the earliest offset.

Spark plans each query's batches over `topic_records` and keeps their offsets; the driver reads
each batch's records with `BatchInput` (`pulse.kafka.batch`), without a Spark job per batch."""

from __future__ import annotations

import weakref

from pyspark.sql import DataFrame, SparkSession

from pulse.config import PulseConfig
from pulse.kafka import read_kafka
from pulse.kafka.batch import Batch, BatchRecords
from pulse.kafka.read import BATCH_SECONDS, source_options
from pulse.kafka.recent import clear_shared
from pulse.progress import note_records
from pulse.queries import checkpoint_of
from pulse.sinks.base import BatchContext


def topic_records(
    spark: SparkSession,
    conf: PulseConfig,
    topics: str,
    trigger_seconds: float | None,
    *,
    pattern: bool = False,
    max_batch_records: int | None = None,
) -> DataFrame:
    """The raw records of `topics` (a name, or a regular expression with `pattern`) from the
    earliest offset on, in batches sized to finish within `trigger_seconds` (None: every batch
    takes what is there), of at most `max_batch_records` (default:
    `kafka.max_offsets_per_trigger`)."""
    options = {"subscribePattern" if pattern else "subscribe": topics}
    if max_batch_records is not None:
        options["maxOffsetsPerTrigger"] = str(max_batch_records)
    if trigger_seconds is not None:
        options[BATCH_SECONDS] = str(trigger_seconds)
    return read_kafka(spark, conf.kafka, startingOffsets="earliest", **options)


class BatchInput:
    """The records of each batch of query `query` over `topics` (as for `topic_records`), read
    on the driver from the offsets Spark logged for the batch."""

    def __init__(self, conf: PulseConfig, query: str, topics: str, *, pattern: bool = False):
        options = source_options(
            conf.kafka,
            **{"subscribePattern" if pattern else "subscribe": topics},
            startingOffsets="earliest",
        )
        self._records = BatchRecords(options, checkpoint_of(conf, query))
        _OPEN.add(self)

    def close(self) -> None:
        """Release its Kafka client (a later `read` opens another)."""
        self._records.close()

    def read(self, ctx: BatchContext) -> Batch:
        """Batch `ctx.batch_id`'s records; their count and age go to the batch's progress
        report."""
        batch = self._records.read(ctx.batch_id)
        note_records(ctx.query, ctx.batch_id, batch.records)
        return batch


# Every input made in this process: `pulse.testing` closes their clients after each run, so
# that a session hosting one run after another keeps no idle consumers of past runs.
_OPEN: weakref.WeakSet[BatchInput] = weakref.WeakSet()


def close_inputs() -> None:
    """Close the Kafka client of every `BatchInput` of this process, and forget the records
    they shared (the next run may read topics made again under the same names)."""
    for batch_input in list(_OPEN):
        batch_input.close()
    clear_shared()
