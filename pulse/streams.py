"""The streaming inputs the jobs share: a domain's valid events, straight from its topic."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from pulse.config import PulseConfig
from pulse.events import SCHEMAS
from pulse.kafka import read_kafka
from pulse.kafka.read import BATCH_SECONDS
from pulse.transforms.parse import parse_events, valid_events


def domain_events(
    spark: SparkSession, conf: PulseConfig, domain: str, *, trigger_seconds: float
) -> DataFrame:
    """The valid events of `domain` as a streaming frame, from the earliest offset on, in
    batches sized to finish within `trigger_seconds` (see `pulse.kafka.planning.Admission`).

    Invalid records are left out here: the lake job owns the dead letters for every topic.
    """
    records = topic_records(spark, conf, getattr(conf.topics, domain).name, trigger_seconds)
    return valid_events(parse_events(records, SCHEMAS[domain]))


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
