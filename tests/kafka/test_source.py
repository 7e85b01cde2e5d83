"""`read_kafka` through Pulse's Python source, inside Spark, against the real broker."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from confluent_kafka import Producer
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, Row

from pulse.config import PulseConfig
from pulse.kafka import read_kafka
from pulse.kafka.admin import delete_topics, ensure_topics
from pulse.kafka.options import SourceOptions
from pulse.kafka.planning import to_json
from pulse.kafka.source import KafkaStreamReader, kafka_schema
from tests.polling import wait_for

pytestmark = [pytest.mark.spark, pytest.mark.broker]

OFFICIAL_COLUMNS = ["key", "value", "topic", "partition", "offset", "timestamp", "timestampType"]


def produce(
    conf: PulseConfig, topic: str, count: int, partitions: int, first: int = 0
) -> list[dict]:
    """Produce `count` keyed records spread over the partitions; return what was sent."""
    producer = Producer(
        {"bootstrap.servers": conf.kafka.bootstrap, "linger.ms": 5, "compression.type": "lz4"}
    )
    sent = []
    for i in range(first, first + count):
        record = {
            "key": f"k{i}".encode(),
            "value": json.dumps({"n": i}).encode(),
            "partition": i % partitions,
        }
        producer.produce(topic, **record, headers=[("n", str(i).encode())])
        sent.append(record)
    assert producer.flush(30) == 0
    return sent


class Batches:
    """Rows per batch id, as an idempotent sink keeps them: a replayed batch replaces itself."""

    def __init__(self) -> None:
        self.by_id: dict[int, list[Row]] = {}

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        self.by_id[batch_id] = frame.collect()

    @property
    def rows(self) -> list[Row]:
        return [row for batch in self.by_id.values() for row in batch]


def run_available_now(frame: DataFrame, checkpoint: Path) -> Batches:
    """Run the query until everything available now is read; return its batches."""
    batches = Batches()
    query = (
        frame.writeStream.foreachBatch(batches)
        .trigger(availableNow=True)
        .option("checkpointLocation", str(checkpoint))
        .start()
    )
    query.awaitTermination(120)
    assert not query.isActive, "an availableNow query did not finish within 120 s"
    return batches


def test_a_four_partition_topic_delivers_exactly_the_produced_records(
    spark, conf, topic_name, tmp_path
):
    ensure_topics(conf.kafka, {topic_name: 4})
    sent = produce(conf, topic_name, 2000, partitions=4)

    frame = read_kafka(spark, conf.kafka, subscribe=topic_name, startingOffsets="earliest")
    rows = run_available_now(frame, tmp_path / "ck").rows

    assert frame.schema == kafka_schema(include_headers=False)
    assert frame.columns == OFFICIAL_COLUMNS
    assert len(rows) == len(sent)
    assert sorted((r.key, r.value, r.partition) for r in rows) == sorted(
        (s["key"], s["value"], s["partition"]) for s in sent
    )
    by_partition: dict[int, list[int]] = {}
    for row in rows:
        by_partition.setdefault(row.partition, []).append(row.offset)
    assert {p: sorted(o) for p, o in by_partition.items()} == {
        p: list(range(500)) for p in range(4)
    }
    assert all(r.topic == topic_name and r.timestampType == 0 and r.timestamp for r in rows)


def test_a_restarted_query_resumes_from_its_checkpoint_without_loss_or_repeat(
    spark, conf, topic_name, tmp_path
):
    ensure_topics(conf.kafka, {topic_name: 4})
    produce(conf, topic_name, 1000, partitions=4)
    checkpoint = tmp_path / "ck"
    frame = read_kafka(
        spark,
        conf.kafka,
        subscribe=topic_name,
        startingOffsets="earliest",
        maxOffsetsPerTrigger=300,
    )
    first = Batches()
    query = (
        frame.writeStream.foreachBatch(first)
        .trigger(processingTime="500 milliseconds")
        .option("checkpointLocation", str(checkpoint))
        .start()
    )
    wait_for(lambda: len(first.by_id) >= 2, 60, "two batches")
    query.stop()
    produce(conf, topic_name, 1000, partitions=4, first=1000)

    second = run_available_now(frame, checkpoint)

    # A batch cut short by stop() is replayed under the same id: keep the replay, as sinks do.
    combined = {**first.by_id, **second.by_id}
    values = sorted(json.loads(r.value)["n"] for batch in combined.values() for r in batch)
    assert values == list(range(2000))


def test_max_offsets_per_trigger_caps_every_batch_across_partitions(
    spark, conf, topic_name, tmp_path
):
    ensure_topics(conf.kafka, {topic_name: 4})
    produce(conf, topic_name, 1000, partitions=4)

    frame = read_kafka(
        spark,
        conf.kafka,
        subscribe=topic_name,
        startingOffsets="earliest",
        maxOffsetsPerTrigger=150,
    )
    batches = run_available_now(frame, tmp_path / "ck")

    sizes = [len(batches.by_id[i]) for i in sorted(batches.by_id)]
    assert sum(sizes) == 1000
    assert max(sizes) == 150
    assert all(0 < size <= 150 for size in sizes)
    first_batch_partitions = {row.partition for row in batches.by_id[min(batches.by_id)]}
    assert first_batch_partitions == {0, 1, 2, 3}


def test_subscribe_pattern_picks_up_a_topic_created_after_the_start(
    spark, conf, topic_name, tmp_path
):
    ensure_topics(conf.kafka, {f"{topic_name}.a": 2})
    produce(conf, f"{topic_name}.a", 10, partitions=2)
    batches = Batches()
    frame = read_kafka(
        spark, conf.kafka, subscribePattern=rf"{topic_name}\..*", startingOffsets="earliest"
    )
    query = (
        frame.writeStream.foreachBatch(batches)
        .trigger(processingTime="500 milliseconds")
        .option("checkpointLocation", str(tmp_path / "ck"))
        .start()
    )
    try:
        wait_for(lambda: len(batches.rows) >= 10, 60, "the first topic's records")
        ensure_topics(conf.kafka, {f"{topic_name}.b": 3})
        produce(conf, f"{topic_name}.b", 30, partitions=3)
        wait_for(lambda: len(batches.rows) >= 40, 60, "the new topic's records")
    finally:
        query.stop()
    topics = [row.topic for row in batches.rows]
    assert topics.count(f"{topic_name}.a") == 10
    assert topics.count(f"{topic_name}.b") == 30


def test_starting_offsets_json_is_honoured(spark, conf, topic_name, tmp_path):
    ensure_topics(conf.kafka, {topic_name: 2})
    produce(conf, topic_name, 40, partitions=2)  # 20 per partition
    starting = json.dumps({topic_name: {"0": 15, "1": -2}})

    frame = read_kafka(spark, conf.kafka, subscribe=topic_name, startingOffsets=starting)
    rows = run_available_now(frame, tmp_path / "ck").rows

    assert sorted(r.offset for r in rows if r.partition == 0) == list(range(15, 20))
    assert sorted(r.offset for r in rows if r.partition == 1) == list(range(20))


def test_starting_offsets_latest_reads_only_what_comes_after(spark, conf, topic_name, tmp_path):
    ensure_topics(conf.kafka, {topic_name: 2})
    produce(conf, topic_name, 40, partitions=2)

    frame = read_kafka(spark, conf.kafka, subscribe=topic_name, startingOffsets="latest")
    assert run_available_now(frame, tmp_path / "ck").rows == []


def _recreate_with_fewer_records(conf: PulseConfig, topic: str) -> None:
    delete_topics(conf.kafka, [topic])
    wait_for(
        lambda: ensure_topics(conf.kafka, {topic: 1}) == [topic], 10, "the topic to be recreated"
    )
    produce(conf, topic, 5, partitions=1, first=100)


def test_fail_on_data_loss_stops_the_query_with_a_clear_message(spark, conf, topic_name, tmp_path):
    ensure_topics(conf.kafka, {topic_name: 1})
    produce(conf, topic_name, 50, partitions=1)
    frame = read_kafka(spark, conf.kafka, subscribe=topic_name, startingOffsets="earliest")
    run_available_now(frame, tmp_path / "ck")
    _recreate_with_fewer_records(conf, topic_name)

    with pytest.raises(StreamingQueryException, match=rf"{topic_name}\[0\]: offset 50 is gone"):
        run_available_now(frame, tmp_path / "ck")


def test_without_fail_on_data_loss_the_query_skips_to_what_is_there(
    spark, conf, topic_name, tmp_path
):
    ensure_topics(conf.kafka, {topic_name: 1})
    produce(conf, topic_name, 50, partitions=1)
    frame = read_kafka(
        spark, conf.kafka, subscribe=topic_name, startingOffsets="earliest", failOnDataLoss=False
    )
    run_available_now(frame, tmp_path / "ck")
    _recreate_with_fewer_records(conf, topic_name)

    rows = run_available_now(frame, tmp_path / "ck").rows

    assert sorted(json.loads(r.value)["n"] for r in rows) == [100, 101, 102, 103, 104]


def test_a_data_loss_skip_is_logged(conf, topic_name, caplog):
    ensure_topics(conf.kafka, {topic_name: 1})
    produce(conf, topic_name, 3, partitions=1)
    reader = KafkaStreamReader(
        SourceOptions.parse(
            {
                "kafka.bootstrap.servers": conf.kafka.bootstrap,
                "subscribe": topic_name,
                "failOnDataLoss": "false",
            }
        )
    )
    try:
        with caplog.at_level(logging.WARNING, logger="pulse.kafka.source"):
            end = reader.latestOffset(to_json({(topic_name, 0): 90}), reader.getDefaultReadLimit())
    finally:
        reader.stop()
    assert end == {topic_name: {"0": 3}}
    assert f"{topic_name}[0]: offset 90 is gone" in caplog.text


def test_both_kafka_clients_give_the_same_rows(spark, conf, topic_name, tmp_path):
    ensure_topics(conf.kafka, {topic_name: 3})
    produce(conf, topic_name, 900, partitions=3)  # lz4-compressed batches
    # Start inside record batches too: a client must not return records before its offset.
    starting = json.dumps({topic_name: {"0": 17, "1": -2, "2": 150}})

    def rows_with(client: str) -> list[tuple]:
        frame = read_kafka(
            spark,
            **{"kafka.bootstrap.servers": conf.kafka.bootstrap, "kafka.client": client},
            subscribe=topic_name,
            startingOffsets=starting,
            includeHeaders=True,
        )
        rows = run_available_now(frame, tmp_path / client).rows
        return sorted(tuple(r) for r in rows)

    confluent, pure_python = rows_with("confluent"), rows_with("kafka-python")
    assert len(confluent) == 900 - 17 - 150
    assert confluent == pure_python


def test_headers_are_delivered_when_asked(spark, conf, topic_name, tmp_path):
    ensure_topics(conf.kafka, {topic_name: 1})
    produce(conf, topic_name, 3, partitions=1)

    frame = read_kafka(
        spark, conf.kafka, subscribe=topic_name, startingOffsets="earliest", includeHeaders=True
    )
    rows = run_available_now(frame, tmp_path / "ck").rows

    assert frame.columns == [*OFFICIAL_COLUMNS, "headers"]
    assert sorted((r.headers[0].key, r.headers[0].value) for r in rows) == [
        ("n", b"0"),
        ("n", b"1"),
        ("n", b"2"),
    ]


def test_a_bad_option_fails_before_the_query_starts(spark, conf):
    with pytest.raises(Exception, match="'maxOffsetsPerTrigger' must be a positive integer"):
        read_kafka(spark, conf.kafka, subscribe="x", maxOffsetsPerTrigger=0)
