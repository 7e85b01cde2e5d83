"""Processing acknowledgements: one monitoring event per event a job has durably processed.

Joinable by event id with the producers' acks on `platform.monitoring`, so that the path of
every event can be followed (the product seed's monitoring view).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pulse.events.schema import EventSchema


def processing_acks(
    events: DataFrame, schema: EventSchema, component: str, processed_at: Column | None = None
) -> DataFrame:
    """Monitoring events (kind `processing_ack`) for valid events of `schema` with Kafka origin."""
    now = processed_at if processed_at is not None else F.current_timestamp()
    event_time = F.col(schema.time_field)
    latency = (now.cast("double") - event_time.cast("double")) * 1000
    return events.select(
        F.concat(F.lit(f"ack-{component}-"), F.col(schema.id_field)).alias("id"),
        now.alias("ts"),
        F.lit(component).alias("component"),
        F.lit("processing_ack").alias("kind"),
        F.col("kafka_topic").alias("topic"),
        F.col(schema.id_field).alias("event_id"),
        F.col("kafka_partition").cast("long").alias("partition"),
        F.col("kafka_offset").alias("offset"),
        F.lit(1).cast("long").alias("count"),
        F.greatest(latency, F.lit(0.0)).alias("latency_ms"),
    )
