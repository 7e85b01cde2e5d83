"""Every topic into the Delta lake; bad records into dead letters.

One query over all of Pulse's input topics. Each batch goes to the bronze table (raw records,
partitioned by topic and date), one typed silver table per domain and, for every record that
fails parsing or validation, the Delta `quarantine` table and the `platform.deadletter` topic
with its reason and origin. This job owns the dead letters: the other jobs skip bad records.
Its trigger (`streaming.lake_trigger_seconds`) is slower than the live one: fewer, larger Delta
commits, and the live queries keep the cores between them.
"""

from __future__ import annotations

import re

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pulse.config import PulseConfig
from pulse.queries import QuerySpec
from pulse.sinks.base import Derived
from pulse.sinks.delta import DeltaAppend
from pulse.sinks.kafka import KafkaOutput
from pulse.streams import topic_records
from pulse.transforms.lake import bronze, dead_letter_messages, dead_letters, silver, topic_schemas

# Topics Pulse writes from its own results: not inputs of the lake.
OUTPUT_DOMAINS = ("deadletter", "emoji_aggregated")


def queries(spark: SparkSession, conf: PulseConfig) -> list[QuerySpec]:
    """The lake job's one query."""
    schemas = topic_schemas(conf.topics)
    read = [t.name for d, t in conf.topics.all().items() if d not in OUTPUT_DOMAINS]
    pattern = "|".join(re.escape(name) for name in sorted(read))
    trigger = conf.streaming.lake_trigger_seconds
    records = topic_records(
        spark,
        conf,
        pattern,
        trigger,
        pattern=True,
        max_batch_records=conf.streaming.lake_max_batch_records,
    )
    lake = conf.lake.path.rstrip("/")

    def silver_of(topic: str) -> Derived:
        schema = schemas[topic]
        sink = DeltaAppend(f"silver_{schema.domain}", f"{lake}/silver/{schema.domain}", ("date",))
        return Derived(sink, lambda batch: silver(batch.where(F.col("topic") == topic), schema))

    sinks = [
        Derived(DeltaAppend("bronze", f"{lake}/bronze", ("topic", "date")), bronze),
        *[silver_of(topic) for topic in sorted(schemas)],
        Derived(
            DeltaAppend("quarantine", f"{lake}/quarantine", ("topic",)),
            lambda b: dead_letters(b, schemas),
        ),
        Derived(
            KafkaOutput("deadletter", conf.kafka, conf.topics.deadletter.name, "key"),
            lambda b: dead_letter_messages(dead_letters(b, schemas)),
        ),
    ]
    return [QuerySpec("lake", records, sinks, trigger_seconds=trigger)]
