"""The streaming input the jobs share: the raw records of their topics, from the earliest offset."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from pulse.config import PulseConfig
from pulse.kafka import read_kafka
from pulse.kafka.read import BATCH_SECONDS


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
