"""The `foreachBatch` contract end to end: retries that fail the batch, and a real query."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from confluent_kafka import Producer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pulse.config import PulseConfig
from pulse.kafka import read_kafka
from pulse.kafka.admin import ensure_topics
from pulse.kafka.producer import ProduceError
from pulse.sinks.base import BatchContext, RetryPolicy, Sink, batch_writer, checkpoint_id
from pulse.sinks.kafka import KafkaOutput
from pulse.sinks.mysql import MySQLUpsert
from pulse.sinks.postgres import PostgresUpsert
from pulse.sinks.redis import RedisState
from pulse.sinks.upsert import Upsert
from pulse.stores import StoreUnavailable
from tests.sinks.conftest import rows, unique

pytestmark = pytest.mark.spark

# Each store's sink pointed at a port nothing listens on, and the error its attempts end with.
UNREACHABLE: dict[str, tuple[Callable[[PulseConfig, int], Sink], type[Exception]]] = {
    "postgres": (
        lambda conf, port: PostgresUpsert(
            "pg",
            conf.postgres.model_copy(update={"port": port, "socket_dir": None}),
            Upsert("match_scores", ("match_id",), ("status",)),
        ),
        StoreUnavailable,
    ),
    "mysql": (
        lambda conf, port: MySQLUpsert(
            "my",
            conf.mysql.model_copy(update={"port": port, "socket": None}),
            Upsert("products", ("product_id",), ("name",)),
        ),
        StoreUnavailable,
    ),
    "redis": (
        lambda conf, port: RedisState(
            "rd",
            conf.redis.model_copy(update={"url": f"redis://127.0.0.1:{port}/0"}),
            key="x:{id}",
            fields=("name",),
        ),
        redis.ConnectionError,
    ),
    "kafka": (
        lambda conf, port: KafkaOutput(
            "kf",
            conf.kafka.model_copy(update={"bootstrap": f"127.0.0.1:{port}"}),
            "nowhere",
            key_column="id",
            timeout_seconds=1,
        ),
        ProduceError,
    ),
}


def fake_checkpoint(path: Path) -> Path:
    """A checkpoint directory with the `metadata` file Spark writes when a query first starts."""
    path.mkdir()
    (path / "metadata").write_text(json.dumps({"id": str(uuid.uuid4())}) + "\n")
    return path


@pytest.mark.parametrize("store", sorted(UNREACHABLE))
def test_a_failing_sink_is_retried_then_fails_the_batch(
    spark, conf, store, free_port, tmp_path, caplog
) -> None:
    make_sink, error = UNREACHABLE[store]
    sink = make_sink(conf, free_port)
    told: list[str] = []  # what the query's health hears, attempt by attempt
    writer = batch_writer(
        unique("q"),
        fake_checkpoint(tmp_path / "ck"),
        [sink],
        retry=RetryPolicy(attempts=3, first_delay_seconds=0.01),
        watch=told.append,
    )
    batch = spark.createDataFrame([("a", "A")], "match_id string, status string").selectExpr(
        "match_id", "match_id AS product_id", "match_id AS id", "status", "status AS name"
    )

    with caplog.at_level(logging.WARNING, logger="pulse.sinks"), pytest.raises(error):
        writer(batch, 0)

    retries = [r.getMessage() for r in caplog.records if f"-> {sink.name} failed" in r.message]
    assert [message.split("(attempt ")[1][:6] for message in retries] == ["1 of 3", "2 of 3"]
    assert len(told) == 3 and all(line.startswith(f"{sink.name}: ") for line in told), told


@pytest.mark.broker
def test_a_streaming_query_writes_each_batch_once_through_batch_writer(
    spark, conf, topic_name, tmp_path, pg
) -> None:
    ensure_topics(conf.kafka, {topic_name: 2})
    match = unique("m")
    producer = Producer({"bootstrap.servers": conf.kafka.bootstrap})
    for sequence in range(1, 31):
        event = {"match_id": f"{match}-{sequence % 3}", "status": "live", "sequence": sequence}
        producer.produce(topic_name, key=event["match_id"], value=json.dumps(event))
    assert producer.flush(30) == 0
    query_name = unique("q")
    checkpoint = tmp_path / "ck"
    sink = PostgresUpsert(
        "scores",
        conf.postgres,
        Upsert(
            "match_scores",
            ("match_id",),
            ("home_team", "away_team", "status", "sequence"),
            newer_by="sequence",
        ),
    )

    def latest_per_match(frame: DataFrame, ctx: BatchContext) -> DataFrame:
        """What a job's transform does: parse, then keep the newest state of each match."""
        parsed = frame.select(
            F.from_json(
                F.col("value").cast("string"), "match_id string, status string, sequence long"
            ).alias("e")
        ).select("e.*")
        return (
            parsed.groupBy("match_id")
            .agg(F.max_by(F.struct("status", "sequence"), "sequence").alias("s"))
            .select("match_id", F.lit("A").alias("home_team"), F.lit("B").alias("away_team"), "s.*")
        )

    writer = batch_writer(query_name, checkpoint, [sink], prepare=latest_per_match)
    stream = read_kafka(
        spark, conf.kafka, subscribe=topic_name, startingOffsets="earliest", maxOffsetsPerTrigger=15
    )
    try:
        query = (
            stream.writeStream.foreachBatch(writer)
            .trigger(availableNow=True)
            .option("checkpointLocation", str(checkpoint))
            .queryName(query_name)
            .start()
        )
        query.awaitTermination(120)
        assert not query.isActive, "the availableNow query did not finish within 120 s"
        assert query.exception() is None

        assert checkpoint_id(checkpoint) == query.id
        assert rows(
            pg,
            "SELECT match_id, status, sequence FROM match_scores WHERE match_id LIKE %s "
            "ORDER BY match_id",
            match + "%",
        ) == [(f"{match}-0", "live", 30), (f"{match}-1", "live", 28), (f"{match}-2", "live", 29)]
        ledger = rows(
            pg, "SELECT sink, checkpoint_id, batch_id FROM sink_ledger WHERE query = %s", query_name
        )
        last = query.lastProgress["batchId"]
        assert ledger == [("scores", query.id, last)]
        assert last == 1  # 30 records, at most 15 per batch

        # Spark replays the last batch after a crash: through the same writer it is a no-op.
        pg.cursor().execute(
            "UPDATE match_scores SET status = 'edited' WHERE match_id LIKE %s", (match + "%",)
        )
        replayed = {"match_id": f"{match}-0", "status": "replayed", "sequence": 99}
        writer(spark.createDataFrame([(json.dumps(replayed).encode(),)], "value binary"), last)
        statuses = rows(pg, "SELECT status FROM match_scores WHERE match_id LIKE %s", match + "%")
        assert statuses == [("edited",)] * 3
    finally:
        pg.cursor().execute("DELETE FROM match_scores WHERE match_id LIKE %s", (match + "%",))
        pg.cursor().execute("DELETE FROM sink_ledger WHERE query = %s", (query_name,))
