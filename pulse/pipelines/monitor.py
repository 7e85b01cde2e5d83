"""Monitoring of every topic: one query on `streaming.monitor_trigger_seconds`, rollups per
`monitor.rollup_window_seconds` (one window per batch), arrivals per
`monitor.arrivals_window_seconds`, the jobs' batch reports and the acks, computed on the
driver ("Monitoring" in docs/ARCHITECTURE.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from pulse import livestate, outputs
from pulse.config import PostgresConfig, PulseConfig
from pulse.queries import QuerySpec
from pulse.sinks.base import BatchContext, Derived
from pulse.sinks.postgres import PostgresUpsert
from pulse.sinks.redis import RedisState
from pulse.streams import BatchInput, topic_records
from pulse.transforms.decode import decode_tables
from pulse.transforms.monitoring import (
    ACK_COLUMNS,
    ARRIVAL_COLUMNS,
    BATCH_COLUMNS,
    ROLLUP_COLUMNS,
    ROLLUP_SCHEMA,
    ack_rows,
    batch_reports,
    latest_reports,
    topic_arrivals,
    topic_rollups,
)

QUERY = "monitor"


@dataclass(frozen=True)
class MonitorBatch:
    """Everything one batch gives its sinks, computed once."""

    rollups: pa.Table  # ROLLUP_COLUMNS
    arrivals: pa.Table  # ARRIVAL_COLUMNS, to add to what earlier batches counted
    reports: pa.Table  # BATCH_COLUMNS
    latest: pa.Table  # BATCH_COLUMNS, the newest report per query
    acks: pa.Table  # ACK_COLUMNS


def arrivals_sink(conf: PostgresConfig) -> PostgresUpsert:
    """`topic_arrivals`: each batch's arrival counts added to the windows' totals (a backlog's
    records go to the windows they arrived in), under the sink's ledger, so exactly once."""
    return PostgresUpsert(
        "arrivals",
        conf,
        outputs.TOPIC_ARRIVALS.upsert(ARRIVAL_COLUMNS),
        merge=(
            ("records", "topic_arrivals.records + EXCLUDED.records"),
            ("last_arrival", "GREATEST(topic_arrivals.last_arrival, EXCLUDED.last_arrival)"),
        ),
    )


def queries(spark: SparkSession, conf: PulseConfig) -> list[QuerySpec]:
    """The monitor job's one query."""
    trigger = conf.streaming.monitor_trigger_seconds
    pattern = "|".join(re.escape(t.name) for t in conf.topics.all().values())
    monitoring = {conf.topics.monitoring.name: "monitoring"}
    records = topic_records(spark, conf, pattern, trigger, pattern=True)
    batches = BatchInput(conf, QUERY, pattern, pattern=True)

    def prepare(frame: DataFrame, ctx: BatchContext) -> MonitorBatch:
        batch = batches.read(ctx)
        raw = batch.records
        events = decode_tables(raw, monitoring)["monitoring"]
        reports = batch_reports(events)
        rollups = ROLLUP_SCHEMA.empty_table()
        if raw.num_rows:
            # The batch's own time, as Spark logged it (its `current_timestamp()`): every rollup
            # of a batch falls in that batch's window, also when the batch is replayed.
            rollups = topic_rollups(
                raw,
                window_seconds=conf.monitor.rollup_window_seconds,
                processed_at=batch.started_at,
            )
        return MonitorBatch(
            rollups=rollups,
            arrivals=topic_arrivals(raw, window_seconds=conf.monitor.arrivals_window_seconds),
            reports=reports,
            latest=latest_reports(reports),
            acks=ack_rows(events),
        )

    sinks = [
        Derived(
            PostgresUpsert(
                "rollups",
                conf.postgres,
                outputs.MONITORING_ROLLUPS.upsert(ROLLUP_COLUMNS),
            ),
            lambda batch: batch.rollups,
        ),
        Derived(arrivals_sink(conf.postgres), lambda batch: batch.arrivals),
        Derived(
            RedisState("topic_gauges", conf.redis, livestate.TOPIC_GAUGE, ROLLUP_COLUMNS),
            lambda batch: batch.rollups,
        ),
        Derived(
            PostgresUpsert(
                "batches",
                conf.postgres,
                outputs.QUERY_BATCHES.upsert(BATCH_COLUMNS),
            ),
            lambda batch: batch.reports,
        ),
        Derived(
            RedisState("query_gauges", conf.redis, livestate.QUERY_GAUGE, BATCH_COLUMNS[1:]),
            lambda batch: batch.latest,
        ),
        Derived(
            PostgresUpsert("acks", conf.postgres, outputs.EVENT_ACKS.upsert(ACK_COLUMNS)),
            lambda batch: batch.acks,
        ),
    ]
    return [QuerySpec(QUERY, records, sinks, trigger_seconds=trigger, prepare=prepare)]
