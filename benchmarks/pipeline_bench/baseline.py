"""The baseline Pulse replaces: one Python process that consumes the emoji topic and writes each
event to PostgreSQL and Redis itself (the seed's consumer), and its batched variant.

Both read the same private emoji topic the job read, from its beginning (confluent-kafka,
assign), decode each event as JSON, and for each event upsert a row by `event_id` into
PostgreSQL (`INSERT ... ON CONFLICT (event_id) DO NOTHING`, autocommit) and increment the live
count of its (match, 2-second window) in Redis (`HINCRBY baseline:emoji:<match>:<window>
<emoji> 1`). They differ only in round trips:

- per event: one statement and one Redis command per event, as the seed did;
- batched: `execute_values` of 1000 rows per statement and one Redis pipeline per 1000 events.

The clock runs from the first `consume` to the last write, so reading and decoding are in the
figure, as they are in the job's. Each runs in a process of its own (spawned), with the job
stopped: the baseline gets the machine's two cores without Spark or a producer beside it, which
favours it; the ratios against Pulse are conservative for that reason.

Neither is exactly once (a crash between PostgreSQL and Redis double counts on restart):
that is the seed's design, measured as it was.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from psycopg2.extras import execute_values

from pulse.config import load_config
from pulse.stores import postgres_connect, redis_client

Variant = Literal["per-event", "batched"]
PAGE = 1000
_CTX = multiprocessing.get_context("spawn")

_TABLE = """
CREATE TABLE IF NOT EXISTS baseline_emoji_events (
    event_id text        PRIMARY KEY,
    user_id  text        NOT NULL,
    match_id text        NOT NULL,
    emoji    text        NOT NULL,
    ts       timestamptz NOT NULL
)
"""
_INSERT = (
    "INSERT INTO baseline_emoji_events (event_id, user_id, match_id, emoji, ts) "
    "VALUES {} ON CONFLICT (event_id) DO NOTHING"
)


@dataclass(frozen=True)
class BaselineResult:
    """How fast one variant wrote `events` events."""

    variant: Variant
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds


def run_baseline(
    env: dict[str, str], variant: Variant, count: int, timeout: float = 300.0
) -> BaselineResult:
    """Run one variant over the first `count` events of the emoji topic, in its own process."""
    results = _CTX.Queue()
    process = _CTX.Process(
        target=_consume, args=(env, variant, count, results), name=f"baseline-{variant}"
    )
    process.start()
    try:
        outcome = results.get(timeout=timeout)
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)
    if isinstance(outcome, str):
        raise RuntimeError(f"baseline {variant} failed: {outcome}")
    return BaselineResult(variant, count, outcome)


def _consume(env: dict[str, str], variant: Variant, count: int, results: Any) -> None:
    """The child process: set up outside the clock, then consume and write `count` events."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends us after Ctrl-C
    try:
        results.put(_timed(env, variant, count))
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def _timed(env: dict[str, str], variant: Variant, count: int) -> float:
    conf = load_config(environ=env)
    window = conf.emoji.window_seconds
    conn = postgres_connect(conf.postgres)
    conn.autocommit = True  # one statement, one transaction: the seed's way
    cur = conn.cursor()
    cur.execute(_TABLE)
    cur.execute("TRUNCATE baseline_emoji_events")
    store = redis_client(conf.redis)
    for key in store.scan_iter(match="baseline:*", count=1000):
        store.delete(key)
    topic = conf.topics.emoji.name
    consumer = Consumer(
        {
            **conf.kafka.client_params(),
            "group.id": "pulse-bench-baseline",  # required by librdkafka; never joined
            "enable.auto.commit": False,
            "queued.min.messages": 1_000_000,  # else librdkafka pauses at 100k queued
        }
    )
    partitions = range(conf.topics.emoji.partitions)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    single = _INSERT.format("(%s, %s, %s, %s, %s)")
    rows: list[tuple[str, str, str, str, datetime]] = []
    counts: list[tuple[str, str]] = []
    done = 0
    started = time.perf_counter()
    try:
        while done < count:
            for message in consumer.consume(min(PAGE, count - done), 5.0):
                if message.error() is not None:
                    raise RuntimeError(f"consume: {message.error()}")
                event = json.loads(message.value())
                ts = datetime.fromisoformat(event["ts"])
                slot = int(ts.timestamp() // window * window)
                key = f"baseline:emoji:{event['match_id']}:{slot}"
                row = (event["event_id"], event["user_id"], event["match_id"], event["emoji"], ts)
                if variant == "per-event":
                    cur.execute(single, row)
                    store.hincrby(key, event["emoji"], 1)
                else:
                    rows.append(row)
                    counts.append((key, event["emoji"]))
                    if len(rows) == PAGE:
                        _write_page(cur, store, rows, counts)
                done += 1
        if rows:
            _write_page(cur, store, rows, counts)
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
        store.close()
        conn.close()
    return seconds


def _write_page(cur: Any, store: Any, rows: list[Any], counts: list[tuple[str, str]]) -> None:
    execute_values(cur, _INSERT.format("%s"), rows, page_size=PAGE)
    pipe = store.pipeline(transaction=False)
    for key, emoji in counts:
        pipe.hincrby(key, emoji, 1)
    pipe.execute()
    rows.clear()
    counts.clear()
