"""Every topic into the Delta lake; the products' history; bad records into dead letters.

One query over all of Pulse's input topics, on its own slower trigger, its batch read raw once
and computed on the driver (`pulse.transforms.lake`; docs/ARCHITECTURE.md, "Where a batch is
computed").

`product_history` is written here, from the product changes the lake decodes anyway, and not by
the enrich query: a Delta merge a second there took 0.25-0.45 s of each 1 s batch at the
default traffic, and every media and product batch waited for it. It is a lake table, with the
lake's promise (its trigger + 2 s)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession

from pulse.config import PulseConfig
from pulse.queries import QuerySpec
from pulse.sinks.base import BatchContext, Derived, Sink, Together
from pulse.sinks.delta import DeltaAppend
from pulse.sinks.kafka import KafkaOutput
from pulse.streams import BatchInput, topic_records
from pulse.transforms.lake import LakeLayers, dead_letter_messages, lake_layers, topic_schemas
from pulse.transforms.products import product_history

QUERY = "lake"


def queries(spark: SparkSession, conf: PulseConfig) -> list[QuerySpec]:
    """The lake job's one query, over the topic of every registered domain (the topics of
    Pulse's own outputs are no domain's, so not inputs of the lake)."""
    schemas = topic_schemas(conf.topics)
    pattern = "|".join(re.escape(name) for name in sorted(schemas))
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

    batches = BatchInput(conf, QUERY, pattern, pattern=True)

    def prepare(frame: DataFrame, ctx: BatchContext) -> LakeLayers:
        return lake_layers(batches.read(ctx).records, schemas, now=datetime.now(UTC))

    def silver_of(topic: str) -> Derived:
        domain = schemas[topic].domain
        sink = DeltaAppend(f"silver_{domain}", f"{lake}/silver/{domain}", ("date",))
        return Derived(sink, lambda layers: layers.silver[topic])

    changes = conf.topics.product.name
    history = DeltaAppend(
        "history",
        f"{lake}/product_history",
        key=("change_id",),
        bounded_by="ts",  # a change sent again carries its own time
    )
    tables = (
        Derived(DeltaAppend("bronze", f"{lake}/bronze", ("topic", "date")), lambda b: b.bronze),
        *[silver_of(topic) for topic in sorted(schemas)],
        Derived(history, lambda layers: product_history(layers.silver[changes])),
        Derived(DeltaAppend("quarantine", f"{lake}/quarantine", ("topic",)), lambda b: b.letters),
    )
    sinks: list[Sink] = [
        Together("delta", tables),
        Derived(
            KafkaOutput("deadletter", conf.kafka, conf.topics.deadletter.name, "key"),
            lambda layers: dead_letter_messages(layers.letters),
        ),
    ]
    return [QuerySpec(QUERY, records, sinks, trigger_seconds=trigger, prepare=prepare)]
