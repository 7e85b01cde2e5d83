"""Media events enriched; the product catalog kept current.

Media events get a quality tier, device class, duration bucket and the user's segment (from a
PostgreSQL dimension re-read on an interval) and go to PostgreSQL `events` (upsert by id) and
Redis `event:<id>` with a TTL. Product changes go to MySQL `products` (an older version never
overwrites a newer one; deletes kept as tombstones), to the Delta `product_history` (each
`change_id` once: the CDC relay may re-send changes after a crash, see pulse.sinks.delta), and a
processing ack per change to `platform.monitoring`.
"""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from pulse.config import PulseConfig
from pulse.events import SCHEMAS
from pulse.queries import QuerySpec
from pulse.segments import SegmentCache
from pulse.sinks.base import BatchContext, Derived
from pulse.sinks.delta import DeltaAppend
from pulse.sinks.kafka import KafkaOutput
from pulse.sinks.mysql import MySQLUpsert
from pulse.sinks.postgres import PostgresUpsert
from pulse.sinks.redis import RedisState
from pulse.sinks.values import collect_batch
from pulse.streams import domain_events
from pulse.transforms.acks import processing_acks
from pulse.transforms.media import EVENTS_COLUMNS, enrich_media
from pulse.transforms.products import PRODUCTS_COLUMNS, product_history, product_state

SEGMENTS = T.StructType(
    [T.StructField("user_id", T.StringType()), T.StructField("segment", T.StringType())]
)


def queries(spark: SparkSession, conf: PulseConfig) -> list[QuerySpec]:
    """The enrich job's two queries, on the live trigger (`streaming.trigger_seconds`)."""
    trigger = conf.streaming.trigger_seconds
    segments = SegmentCache(conf.postgres, conf.enrich.segments_refresh_seconds)

    def enriched(batch: DataFrame, ctx: BatchContext) -> pa.Table:
        dimension = batch.sparkSession.createDataFrame(segments.rows(), SEGMENTS)
        return collect_batch(enrich_media(batch, dimension))

    media = QuerySpec(
        "media_events",
        domain_events(spark, conf, "media", trigger_seconds=trigger),
        [
            PostgresUpsert("postgres", conf.postgres, "events", ("id",), EVENTS_COLUMNS),
            RedisState(
                "redis",
                conf.redis,
                "event:{id}",
                EVENTS_COLUMNS[1:],
                ttl_seconds=conf.redis.event_ttl_seconds,
            ),
        ],
        trigger_seconds=trigger,
        prepare=enriched,
    )

    products = QuerySpec(
        "products",
        domain_events(spark, conf, "product", trigger_seconds=trigger),
        [
            Derived(
                MySQLUpsert(
                    "mysql",
                    conf.mysql,
                    "products",
                    ("product_id",),
                    PRODUCTS_COLUMNS,
                    guard_column="version",
                ),
                product_state,
            ),
            Derived(
                DeltaAppend(
                    "history", f"{conf.lake.path.rstrip('/')}/product_history", key=("change_id",)
                ),
                product_history,
            ),
            Derived(
                KafkaOutput(
                    "acks", conf.kafka, conf.topics.monitoring.name, key_column="component"
                ),
                lambda batch: processing_acks(batch, SCHEMAS["product"], "enrich"),
            ),
        ],
        trigger_seconds=trigger,
    )
    return [media, products]
