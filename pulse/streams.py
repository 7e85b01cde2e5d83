"""The streaming inputs the jobs share: a domain's valid events, straight from its topic."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from pulse.config import PulseConfig
from pulse.events import SCHEMAS
from pulse.kafka import read_kafka
from pulse.transforms.parse import parse_events, valid_events


def domain_events(spark: SparkSession, conf: PulseConfig, domain: str) -> DataFrame:
    """The valid events of `domain` as a streaming frame, from the earliest offset on.

    Invalid records are left out here: the lake job owns the dead letters for every topic.
    """
    topic = getattr(conf.topics, domain).name
    records = read_kafka(spark, conf.kafka, subscribe=topic, startingOffsets="earliest")
    return valid_events(parse_events(records, SCHEMAS[domain]))
