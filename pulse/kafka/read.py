"""`read_kafka`: one call that returns a streaming DataFrame of Kafka records.

Where Spark's official Kafka connector is on the classpath (a cluster submit with
`--packages org.apache.spark:spark-sql-kafka-0-10_2.13:<version>`) it is used; otherwise Pulse's
own Python source. Both take the official option names and return the official schema.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from pyspark.sql import DataFrame, SparkSession

from pulse.config import KafkaConfig
from pulse.kafka.options import SourceOptions
from pulse.kafka.source import FORMAT, KafkaSource
from pulse.spark import jvm_class_available

log = logging.getLogger("pulse.kafka")

OFFICIAL_PROVIDER = "org.apache.spark.sql.kafka010.KafkaSourceProvider"
Connector = Literal["auto", "official", "python"]

BATCH_SECONDS = "pulse.batchSeconds"

_registered: set[int] = set()


def read_kafka(
    spark: SparkSession,
    kafka: KafkaConfig | None = None,
    *,
    connector: Connector = "auto",
    **options: Any,
) -> DataFrame:
    """A streaming DataFrame of Kafka records (`key`, `value`, `topic`, `partition`, ...).

    `options` are the official source's (`subscribe`, `startingOffsets`, ...; dotted names such
    as `kafka.bootstrap.servers` go in as `**{"kafka.bootstrap.servers": ...}`). Given a
    `KafkaConfig`, its bootstrap servers, client, security settings and `maxOffsetsPerTrigger`
    are the defaults.
    """
    merged = _merged(kafka, options)
    SourceOptions.parse(merged)  # fail here, with the option named, not deep inside a query
    if connector == "official" or (connector == "auto" and official_connector_available(spark)):
        # Pulse's own options mean nothing to the official connector.
        official = {
            key: value
            for key, value in merged.items()
            if key not in ("kafka.client", BATCH_SECONDS)
        }
        return spark.readStream.format("kafka").options(**official).load()
    _register(spark)
    return spark.readStream.format(FORMAT).options(**merged).load()


def source_options(kafka: KafkaConfig | None = None, **options: Any) -> SourceOptions:
    """The options `read_kafka` would read with, parsed: for a driver that reads a batch's
    records itself (`pulse.kafka.batch`)."""
    return SourceOptions.parse(_merged(kafka, options))


def _merged(kafka: KafkaConfig | None, options: Mapping[str, Any]) -> dict[str, str]:
    return {**_from_config(kafka), **{key: _option_text(value) for key, value in options.items()}}


def official_connector_available(spark: SparkSession) -> bool:
    """Whether the JVM can load Spark's official Kafka source (its jars were supplied)."""
    return jvm_class_available(spark, OFFICIAL_PROVIDER)


def _register(spark: SparkSession) -> None:
    if id(spark) not in _registered:
        spark.dataSource.register(KafkaSource)
        _registered.add(id(spark))


def _from_config(kafka: KafkaConfig | None) -> dict[str, str]:
    if kafka is None:
        return {}
    defaults = {
        f"kafka.{key}": value
        for key, value in kafka.client_params().items()
        if not (key == "security.protocol" and value == "PLAINTEXT")
    }
    defaults["kafka.client"] = kafka.client
    defaults["maxOffsetsPerTrigger"] = str(kafka.max_offsets_per_trigger)
    return defaults


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
