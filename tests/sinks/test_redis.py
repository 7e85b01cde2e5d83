"""`RedisState` against the machine's Redis: hashes, TTLs, guarded scripts and pub/sub."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis
from pyspark.sql import DataFrame, SparkSession

from pulse.config import PulseConfig
from pulse.sinks.base import BatchContext
from pulse.sinks.errors import SinkDefinitionError
from pulse.sinks.redis import RedisState
from tests.polling import wait_for
from tests.sinks.conftest import text_hash

pytestmark = pytest.mark.spark

SCORES = "match_id string, home_score long, status string, sequence long, updated_at timestamp"
T0 = datetime(2026, 11, 22, 20, 15, 0, 500000, tzinfo=UTC)
FIELDS = ("match_id", "home_score", "status", "sequence", "updated_at")


def scores(spark: SparkSession, *rows: tuple) -> DataFrame:
    return spark.createDataFrame(list(rows), SCORES)


def scoreboard(conf: PulseConfig, ctx: BatchContext, **options: Any) -> RedisState:
    """Hashes `<query>:match:<id>` (so the test's keys are its own), published per match."""
    return RedisState(
        name="scoreboard",
        conf=conf.redis,
        key=f"{ctx.query}:match:{{match_id}}",
        fields=FIELDS,
        **options,
    )


class Channel:
    """A real subscription, confirmed before anything is written."""

    def __init__(self, client: redis.Redis, pattern: str) -> None:
        self.pubsub = client.pubsub()
        self.pubsub.psubscribe(pattern)
        wait_for(self._confirmed, 10, f"the subscription to {pattern}")
        self.messages: list[dict[str, Any]] = []

    def _confirmed(self) -> bool:
        message = self.pubsub.get_message(timeout=0.1)
        return message is not None and message["type"] == "psubscribe"

    def receive(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Wait for `count` messages in all; fail after `timeout` seconds."""

        def enough() -> bool:
            message = self.pubsub.get_message(timeout=0.1)
            if message is not None and message["type"] == "pmessage":
                self.messages.append(
                    {"channel": message["channel"].decode(), **json.loads(message["data"])}
                )
            return len(self.messages) >= count

        wait_for(enough, timeout, f"{count} messages")
        return self.messages

    def quiet(self, seconds: float = 0.3) -> bool:
        """Whether no further message arrives within `seconds`."""
        message = self.pubsub.get_message(timeout=seconds)
        while message is not None and message["type"] != "pmessage":
            message = self.pubsub.get_message(timeout=seconds)
        return message is None

    def close(self) -> None:
        self.pubsub.close()


def test_rows_become_hashes_of_absolute_text_values_with_a_ttl(spark, conf, ctx, rd) -> None:
    sink = scoreboard(conf, ctx, ttl_seconds=600)

    sink.write(scores(spark, ("m1", 2, "live", 4, T0), ("m2", 0, None, 1, T0)), ctx)

    assert text_hash(rd, f"{ctx.query}:match:m1") == {
        "match_id": "m1",
        "home_score": "2",
        "status": "live",
        "sequence": "4",
        "updated_at": "2026-11-22T20:15:00.500000Z",
    }
    assert "status" not in text_hash(rd, f"{ctx.query}:match:m2")  # null: no field
    assert 590 < rd.ttl(f"{ctx.query}:match:m1") <= 600


def test_a_null_value_removes_the_field_it_replaces(spark, conf, ctx, rd) -> None:
    sink = scoreboard(conf, ctx)
    sink.write(scores(spark, ("m1", 2, "live", 4, T0)), ctx)

    sink.write(scores(spark, ("m1", 3, None, 5, T0)), replace(ctx, batch_id=1))

    assert text_hash(rd, f"{ctx.query}:match:m1")["home_score"] == "3"
    assert "status" not in text_hash(rd, f"{ctx.query}:match:m1")


def test_messages_carry_batch_id_and_seq(spark, conf, ctx, rd) -> None:
    sink = scoreboard(conf, ctx, channel=f"{ctx.query}:match:{{match_id}}:live")
    channel = Channel(rd, f"{ctx.query}:match:*")
    try:
        sink.write(
            scores(spark, ("m2", 1, "live", 2, T0), ("m1", 3, "live", 7, T0)),
            replace(ctx, batch_id=4),
        )
        messages = channel.receive(2)
    finally:
        channel.close()

    assert sorted(messages, key=lambda m: m["seq"]) == [
        {
            "channel": f"{ctx.query}:match:m1:live",
            "match_id": "m1",
            "home_score": 3,
            "status": "live",
            "sequence": 7,
            "updated_at": "2026-11-22T20:15:00.500000Z",
            "batch_id": 4,
            "seq": 0,
        },
        {
            "channel": f"{ctx.query}:match:m2:live",
            "match_id": "m2",
            "home_score": 1,
            "status": "live",
            "sequence": 2,
            "updated_at": "2026-11-22T20:15:00.500000Z",
            "batch_id": 4,
            "seq": 1,
        },
    ]


def test_a_replayed_batch_writes_nothing_twice(spark, conf, ctx, rd) -> None:
    sink = scoreboard(conf, ctx, channel=f"{ctx.query}:match:{{match_id}}")
    channel = Channel(rd, f"{ctx.query}:match:*")
    try:
        sink.write(scores(spark, ("m1", 1, "live", 1, T0)), ctx)
        channel.receive(1)

        sink.write(scores(spark, ("m1", 9, "live", 1, T0)), ctx)

        assert channel.quiet()
    finally:
        channel.close()
    assert text_hash(rd, f"{ctx.query}:match:m1")["home_score"] == "1"
    assert rd.hget("pulse:ledger", f"{ctx.query}|scoreboard|{ctx.checkpoint_id}") == b"0"


def test_a_batch_below_the_guard_is_skipped(spark, conf, ctx, rd) -> None:
    sink = scoreboard(conf, ctx)
    sink.write(scores(spark, ("m1", 5, "live", 5, T0)), replace(ctx, batch_id=5))

    sink.write(scores(spark, ("m1", 4, "live", 4, T0)), replace(ctx, batch_id=4))

    assert text_hash(rd, f"{ctx.query}:match:m1")["home_score"] == "5"


def test_a_new_checkpoint_on_old_tables_does_not_skip_data(spark, conf, ctx, rd) -> None:
    sink = scoreboard(conf, ctx)
    sink.write(scores(spark, ("m1", 1, "live", 1, T0)), replace(ctx, batch_id=8))
    fresh = BatchContext(ctx.query, ctx.checkpoint_id + "-fresh", batch_id=0)

    sink.write(scores(spark, ("m1", 2, "live", 2, T0)), fresh)

    assert text_hash(rd, f"{ctx.query}:match:m1")["home_score"] == "2"
    assert rd.hget("pulse:ledger", f"{ctx.query}|scoreboard|{fresh.checkpoint_id}") == b"0"


def test_an_older_version_never_overwrites_a_newer_one(spark, conf, ctx, rd) -> None:
    sink = scoreboard(
        conf, ctx, version_field="sequence", channel=f"{ctx.query}:match:{{match_id}}"
    )
    channel = Channel(rd, f"{ctx.query}:match:*")
    try:
        sink.write(scores(spark, ("m1", 3, "live", 7, T0)), ctx)
        sink.write(scores(spark, ("m1", 2, "live", 6, T0)), replace(ctx, batch_id=1))
        older = text_hash(rd, f"{ctx.query}:match:m1")
        # Two states of one match in one batch: the newer one wins, whatever the row order.
        sink.write(
            scores(spark, ("m1", 5, "final", 9, T0), ("m1", 4, "live", 8, T0)),
            replace(ctx, batch_id=2),
        )
        messages = channel.receive(3)
        assert channel.quiet()
    finally:
        channel.close()

    assert (older["home_score"], older["sequence"]) == ("3", "7")
    assert text_hash(rd, f"{ctx.query}:match:m1")["sequence"] == "9"
    assert [(m["batch_id"], m["sequence"]) for m in messages] == [(0, 7), (2, 8), (2, 9)]


def test_a_batch_interrupted_between_chunks_resumes_without_repeating_them(
    spark, conf, ctx, rd
) -> None:
    sink = scoreboard(conf, ctx, channel=f"{ctx.query}:match:{{match_id}}", chunk_rows=2)
    batch = scores(spark, *[(f"m{i}", i, "live", i, T0) for i in range(5)])
    rd.set(f"{ctx.query}:match:m3", "not a hash")  # the second chunk (m2, m3) fails at m3
    channel = Channel(rd, f"{ctx.query}:match:*")
    try:
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            sink.write(batch, ctx)
        first = [m["seq"] for m in channel.receive(3)]  # m0 and m1, then m2 before the error
        rd.delete(f"{ctx.query}:match:m3")

        sink.write(batch, ctx)
        messages = channel.receive(6)
        assert channel.quiet()
    finally:
        channel.close()

    assert first == [0, 1, 2]
    # The first chunk is not sent again; m2 is, with its seq, for clients to drop.
    assert [m["seq"] for m in messages[3:]] == [2, 3, 4]
    assert messages[2] == messages[3]
    assert rd.hget("pulse:ledger", f"{ctx.query}|scoreboard|{ctx.checkpoint_id}") == b"0"
    assert rd.hget("pulse:ledger", f"{ctx.query}|scoreboard|{ctx.checkpoint_id}#chunk") is None


def test_values_are_rendered_as_json_renders_them(spark, conf, ctx, rd) -> None:
    sink = RedisState(
        "values", conf.redis, key=f"{ctx.query}:v:{{id}}", fields=("flag", "price", "ratio")
    )
    batch = spark.createDataFrame(
        [("a", True, Decimal("9.50"), 0.25)],
        "id string, flag boolean, price decimal(12,2), ratio double",
    )

    sink.write(batch, ctx)

    assert text_hash(rd, f"{ctx.query}:v:a") == {"flag": "true", "price": "9.50", "ratio": "0.25"}


def test_a_version_field_must_be_one_of_the_fields(conf) -> None:
    with pytest.raises(SinkDefinitionError, match="version field sequence"):
        RedisState("s", conf.redis, key="match:{match_id}", fields=("a",), version_field="sequence")
