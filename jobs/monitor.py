"""spark-submit jobs/monitor.py — monitoring rollups of every topic, batches and acks.

Per topic per 2 seconds: records, bytes and end-to-end latency p50/p95/max (event time to
processing) into PostgreSQL `monitoring_rollups` and Redis gauges. From `platform.monitoring`:
every job's per-batch reports (duration, rows, lag, late events) into `query_batches` and
Redis gauges, and the producers' and jobs' acks by event id into `event_acks`.
"""

import re

from pyspark.sql import functions as F

from pulse.kafka import read_kafka
from pulse.queries import QuerySpec, open_job, run
from pulse.sinks.base import Derived
from pulse.sinks.postgres import PostgresUpsert
from pulse.sinks.redis import RedisState
from pulse.streams import domain_events
from pulse.transforms.latest import latest_per_key
from pulse.transforms.monitoring import (
    ACK_COLUMNS,
    BATCH_COLUMNS,
    ROLLUP_COLUMNS,
    ack_rows,
    batch_reports,
    topic_rollups,
)

args, conf, spark = open_job("monitor", __doc__)

pattern = "|".join(re.escape(t.name) for t in conf.topics.all().values())
records = read_kafka(spark, conf.kafka, subscribePattern=pattern, startingOffsets="earliest")
# current_timestamp() on the streaming frame is the micro-batch's own time: every rollup of a
# batch falls in that batch's window (see pulse.transforms.monitoring).
stamped = records.withColumn("processed_at", F.current_timestamp())


def rollups(batch):
    window = conf.streaming.trigger_seconds
    return topic_rollups(batch, window_seconds=window, processed_at=F.col("processed_at"))


topics = QuerySpec(
    "topic_rollups",
    stamped,
    [
        Derived(
            PostgresUpsert(
                "postgres", conf.postgres, "monitoring_rollups", ROLLUP_COLUMNS[:2], ROLLUP_COLUMNS
            ),
            rollups,
        ),
        Derived(RedisState("redis", conf.redis, "gauge:topic:{topic}", ROLLUP_COLUMNS), rollups),
    ],
)

reports = domain_events(spark, conf, "monitoring")
batches = QuerySpec(
    "monitoring_events",
    reports,
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
)
raise SystemExit(run(spark, [topics, batches], conf, available_now=args.available_now))
