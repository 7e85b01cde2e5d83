"""Media events enriched; the product catalog kept current.

One query over the media and product topics, its batch read raw once and computed on the driver
(docs/ARCHITECTURE.md, "The enrich query"). The products' history (Delta `product_history`) is
the lake's (`pulse.pipelines.lake`): a Delta merge every second held up every batch here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from pulse import livestate, outputs
from pulse.config import PulseConfig
from pulse.events import SCHEMAS
from pulse.queries import QuerySpec
from pulse.segments import SegmentCache
from pulse.sinks.base import BatchContext, Derived
from pulse.sinks.kafka import KafkaOutput
from pulse.sinks.mysql import MySQLUpsert
from pulse.sinks.postgres import PostgresUpsert
from pulse.sinks.redis import RedisState
from pulse.streams import BatchInput, topic_records
from pulse.transforms.acks import processing_acks
from pulse.transforms.decode import decode
from pulse.transforms.media import EVENTS_COLUMNS, enrich_media
from pulse.transforms.products import PRODUCTS_COLUMNS, product_state

QUERY = "enrich"
DOMAINS = ("media", "product")


@dataclass(frozen=True)
class EnrichBatch:
    """Everything one batch gives its sinks, computed once."""

    media: pa.Table  # EVENTS_COLUMNS
    products: pa.Table  # PRODUCTS_COLUMNS
    acks: pa.Table  # processing acks of the product changes


def queries(spark: SparkSession, conf: PulseConfig) -> list[QuerySpec]:
    """The enrich job's one query, on `streaming.enrich_trigger_seconds`."""
    trigger = conf.streaming.enrich_trigger_seconds
    topics = {getattr(conf.topics, domain).name: domain for domain in DOMAINS}
    segments = SegmentCache(conf.postgres, conf.enrich.segments_refresh_seconds)
    batches = BatchInput(conf, QUERY, ",".join(topics))

    def prepare(frame: DataFrame, ctx: BatchContext) -> EnrichBatch:
        events = decode(batches.read(ctx).records, topics)
        changes = events["product"]
        return EnrichBatch(
            media=enrich_media(events["media"], dict(segments.rows()) if events["media"] else {}),
            products=product_state(changes),
            acks=processing_acks(changes, SCHEMAS["product"], "enrich", datetime.now(UTC)),
        )

    sinks = [
        Derived(
            PostgresUpsert("events", conf.postgres, outputs.EVENTS.upsert(EVENTS_COLUMNS)),
            lambda batch: batch.media,
        ),
        Derived(
            RedisState(
                "event_state",
                conf.redis,
                livestate.EVENT,
                EVENTS_COLUMNS[1:],
                ttl_seconds=conf.redis.event_ttl_seconds,
            ),
            lambda batch: batch.media,
        ),
        Derived(
            MySQLUpsert(
                "products",
                conf.mysql,
                outputs.PRODUCTS.upsert(PRODUCTS_COLUMNS, newer_by="version"),
            ),
            lambda batch: batch.products,
        ),
        Derived(
            KafkaOutput("acks", conf.kafka, conf.topics.monitoring.name, key_column="component"),
            lambda batch: batch.acks,
        ),
    ]
    records = topic_records(spark, conf, ",".join(topics), trigger)
    return [QuerySpec(QUERY, records, sinks, trigger_seconds=trigger, prepare=prepare)]
