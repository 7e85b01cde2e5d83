"""spark-submit jobs/lake.py — every topic into the Delta lake; bad records into dead letters.

One query over all of Pulse's topics. Each batch goes to the bronze table (raw records,
partitioned by topic and date), one typed silver table per domain and, for every record that
fails parsing or validation, the Delta `quarantine` table and the `platform.deadletter` topic
with its reason and origin. This job owns the dead letters: the other jobs skip bad records.
"""

import re

from pyspark.sql import functions as F

from pulse.kafka import read_kafka
from pulse.queries import QuerySpec, open_job, run
from pulse.sinks.base import Derived
from pulse.sinks.delta import DeltaAppend
from pulse.sinks.kafka import KafkaOutput
from pulse.transforms.lake import (
    bronze,
    dead_letter_messages,
    dead_letters,
    silver,
    topic_schemas,
)

args, conf, spark = open_job("lake", __doc__)

schemas = topic_schemas(conf.topics)
read = [t.name for d, t in conf.topics.all().items() if d not in ("deadletter", "emoji_aggregated")]
pattern = "|".join(re.escape(name) for name in sorted(read))
records = read_kafka(spark, conf.kafka, subscribePattern=pattern, startingOffsets="earliest")
lake = conf.lake.path.rstrip("/")


def silver_of(topic: str):
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
raise SystemExit(
    run(spark, [QuerySpec("lake", records, sinks)], conf, available_now=args.available_now)
)
