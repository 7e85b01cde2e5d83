"""Monitoring rollups of every topic, batches and acks.

Per topic per window of `streaming.monitor_trigger_seconds` (one window per batch, see
pulse.transforms.monitoring): records, bytes and end-to-end
latency p50/p95/max (event time to processing) into PostgreSQL `monitoring_rollups` and Redis
gauges. From `platform.monitoring`: every job's per-batch reports (duration, rows, lag, late
events) into `query_batches` and Redis gauges, and the producers' and jobs' acks by event id
into `event_acks`.
"""

from __future__ import annotations

import re

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pulse.config import PulseConfig
from pulse.queries import QuerySpec
from pulse.sinks.base import BatchContext, Derived
from pulse.sinks.postgres import PostgresUpsert
from pulse.sinks.redis import RedisState
from pulse.sinks.values import collect_batch
from pulse.streams import domain_events, topic_records
from pulse.transforms.latest import latest_per_key
from pulse.transforms.monitoring import (
    ACK_COLUMNS,
    BATCH_COLUMNS,
    ROLLUP_COLUMNS,
    ack_rows,
    batch_reports,
    topic_rollups,
)


def queries(spark: SparkSession, conf: PulseConfig) -> list[QuerySpec]:
    """The monitor job's two queries, on `streaming.monitor_trigger_seconds`."""
    trigger = conf.streaming.monitor_trigger_seconds
    pattern = "|".join(re.escape(t.name) for t in conf.topics.all().values())
    records = topic_records(spark, conf, pattern, trigger, pattern=True)
    # current_timestamp() on the streaming frame is the micro-batch's own time: every rollup of a
    # batch falls in that batch's window (see pulse.transforms.monitoring).
    stamped = records.withColumn("processed_at", F.current_timestamp())

    def rollups(batch: DataFrame, ctx: BatchContext) -> pa.Table:
        return collect_batch(
            topic_rollups(
                batch,
                window_seconds=trigger,
                processed_at=F.col("processed_at"),
            )
        )

    topics = QuerySpec(
        "topic_rollups",
        stamped,
        [
            PostgresUpsert(
                "postgres",
                conf.postgres,
                "monitoring_rollups",
                ("topic", "window_start"),
                ROLLUP_COLUMNS,
            ),
            RedisState("redis", conf.redis, "gauge:topic:{topic}", ROLLUP_COLUMNS),
        ],
        trigger_seconds=trigger,
        prepare=rollups,
    )

    batches = QuerySpec(
        "monitoring_events",
        domain_events(spark, conf, "monitoring", trigger_seconds=trigger),
        [
            Derived(
                PostgresUpsert(
                    "batches",
                    conf.postgres,
                    "query_batches",
                    ("query", "batch_id", "reported_at"),
                    BATCH_COLUMNS,
                ),
                batch_reports,
            ),
            Derived(
                RedisState("gauges", conf.redis, "gauge:query:{query}", BATCH_COLUMNS[1:]),
                lambda batch: latest_per_key(
                    batch_reports(batch), ["query"], [F.col("reported_at").desc()]
                ),
            ),
            Derived(
                PostgresUpsert("acks", conf.postgres, "event_acks", ACK_COLUMNS[:3], ACK_COLUMNS),
                ack_rows,
            ),
        ],
        trigger_seconds=trigger,
    )
    return [topics, batches]
