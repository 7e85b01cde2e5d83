"""`PostgresUpsert` against the machine's PostgreSQL (database `test`, real Pulse tables)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import psycopg2.errors
import psycopg2.extensions
import pyarrow as pa
import pytest
from pyspark.sql import DataFrame, SparkSession

from pulse import outputs
from pulse.config import PulseConfig
from pulse.sinks.base import BatchContext
from pulse.sinks.errors import DuplicateKeyError, SinkDefinitionError
from pulse.sinks.postgres import COPY_ROWS, PostgresUpsert
from pulse.sinks.upsert import Upsert
from pulse.stores import StoreUnavailable, postgres_connect
from pulse.transforms.monitoring import ACK_COLUMNS, ACK_SCHEMA
from tests.polling import wait_for
from tests.sinks.conftest import rows, unique

pytestmark = pytest.mark.spark

SCORES = (
    "match_id string, home_team string, away_team string, home_score long, away_score long, "
    "period long, status string, sequence long"
)
SCORE_COLUMNS = ("home_team", "away_team", "home_score", "away_score", "period", "status")


@pytest.fixture
def match(pg: psycopg2.extensions.connection) -> Iterator[str]:
    """A match id of this test's own; its rows are deleted afterwards."""
    match_id = unique("m")
    yield match_id
    pg.cursor().execute("DELETE FROM match_scores WHERE match_id LIKE %s", (match_id + "%",))
    pg.cursor().execute("DELETE FROM emoji_windows WHERE match_id = %s", (match_id,))


def scores(spark: SparkSession, *rows: tuple) -> DataFrame:
    return spark.createDataFrame(list(rows), SCORES)


def scoreboard(conf: PulseConfig, newer_by: str | None = None) -> PostgresUpsert:
    return PostgresUpsert(
        "scores",
        conf.postgres,
        Upsert("match_scores", ("match_id",), (*SCORE_COLUMNS, "sequence"), newer_by=newer_by),
    )


def stored(pg: psycopg2.extensions.connection, match_id: str) -> list[tuple]:
    return rows(
        pg,
        "SELECT home_score, away_score, status, sequence FROM match_scores WHERE match_id = %s",
        match_id,
    )


def ledger(pg: psycopg2.extensions.connection, ctx: BatchContext) -> list[tuple]:
    return rows(
        pg,
        "SELECT checkpoint_id, batch_id FROM sink_ledger WHERE query = %s ORDER BY checkpoint_id",
        ctx.query,
    )


def test_rows_are_inserted_then_updated_by_key(spark, conf, ctx, pg, match) -> None:
    sink = scoreboard(conf)

    sink.write(scores(spark, (match, "A", "B", 0, 0, 1, "live", 1)), ctx)
    sink.write(scores(spark, (match, "A", "B", 2, 1, 2, "live", 2)), replace(ctx, batch_id=1))

    assert stored(pg, match) == [(2, 1, "live", 2)]
    assert ledger(pg, ctx) == [(ctx.checkpoint_id, 1)]


def test_a_replayed_batch_writes_nothing_twice(spark, conf, ctx, pg, match) -> None:
    sink = scoreboard(conf)
    sink.write(scores(spark, (match, "A", "B", 1, 0, 1, "live", 1)), ctx)
    pg.cursor().execute("UPDATE match_scores SET home_score = 99 WHERE match_id = %s", (match,))

    # The replay recomputes the batch (here: to other values); nothing of it may land.
    sink.write(scores(spark, (match, "A", "B", 5, 5, 1, "live", 1)), ctx)

    assert stored(pg, match) == [(99, 0, "live", 1)]
    assert ledger(pg, ctx) == [(ctx.checkpoint_id, 0)]


def test_a_batch_below_the_ledger_is_skipped(spark, conf, ctx, pg, match) -> None:
    sink = scoreboard(conf)
    sink.write(scores(spark, (match, "A", "B", 3, 0, 1, "live", 3)), replace(ctx, batch_id=3))

    sink.write(scores(spark, (match, "A", "B", 2, 0, 1, "live", 2)), replace(ctx, batch_id=2))

    assert stored(pg, match) == [(3, 0, "live", 3)]
    assert ledger(pg, ctx) == [(ctx.checkpoint_id, 3)]


def test_a_new_checkpoint_on_old_tables_does_not_skip_data(spark, conf, ctx, pg, match) -> None:
    sink = scoreboard(conf)
    sink.write(scores(spark, (match, "A", "B", 1, 0, 1, "live", 1)), replace(ctx, batch_id=7))
    fresh = BatchContext(ctx.query, ctx.checkpoint_id + "-fresh", batch_id=0)

    sink.write(scores(spark, (match, "A", "B", 4, 0, 1, "live", 4)), fresh)

    assert stored(pg, match) == [(4, 0, "live", 4)]
    assert ledger(pg, ctx) == [(ctx.checkpoint_id, 7), (fresh.checkpoint_id, 0)]


def test_an_older_version_never_overwrites_a_newer_one(spark, conf, ctx, pg, match) -> None:
    sink = scoreboard(conf, newer_by="sequence")
    sink.write(scores(spark, (match, "A", "B", 2, 0, 1, "live", 5)), ctx)

    sink.write(scores(spark, (match, "A", "B", 1, 0, 1, "live", 3)), replace(ctx, batch_id=1))
    older = stored(pg, match)
    sink.write(scores(spark, (match, "A", "B", 3, 1, 2, "final", 7)), replace(ctx, batch_id=2))

    assert older == [(2, 0, "live", 5)]
    assert stored(pg, match) == [(3, 1, "final", 7)]
    assert ledger(pg, ctx) == [(ctx.checkpoint_id, 2)]


def test_a_failing_batch_leaves_neither_rows_nor_ledger(spark, conf, ctx, pg, match) -> None:
    sink = scoreboard(conf)
    good = (f"{match}-a", "A", "B", 1, 0, 1, "live", 1)
    bad = (f"{match}-b", None, "B", 1, 0, 1, "live", 1)  # home_team is NOT NULL

    with pytest.raises(psycopg2.errors.NotNullViolation):
        sink.write(scores(spark, good, bad), ctx)

    assert stored(pg, f"{match}-a") == []
    assert ledger(pg, ctx) == []


def test_duplicate_keys_in_one_batch_are_refused_naming_table_and_key(
    spark, conf, ctx, pg, match
) -> None:
    sink = scoreboard(conf)
    batch = scores(
        spark, (match, "A", "B", 1, 0, 1, "live", 1), (match, "A", "B", 2, 0, 1, "live", 2)
    )

    with pytest.raises(DuplicateKeyError, match=rf"match_scores.*match_id.*{match}"):
        sink.write(batch, ctx)

    assert stored(pg, match) == []
    assert ledger(pg, ctx) == []


def test_a_multi_column_key_with_timestamps_is_upserted_in_utc(spark, conf, ctx, pg, match) -> None:
    start = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)
    end = datetime(2026, 11, 22, 20, 15, 2, tzinfo=UTC)
    sink = PostgresUpsert(
        "windows",
        conf.postgres,
        Upsert(
            "public.emoji_windows",
            ("match_id", "emoji", "window_start"),
            ("window_end", "count", "units"),
        ),
    )
    schema = "match_id string, emoji string, window_start timestamp, window_end timestamp, " + (
        "count long, units long"
    )
    batch = spark.createDataFrame(
        [(match, "🔥", start, end, 1500, 2), (match, "👍", start, end, 10, 1)], schema
    )

    sink.write(batch, ctx)

    assert rows(
        pg,
        "SELECT emoji, window_start, window_end, count, units FROM emoji_windows "
        "WHERE match_id = %s ORDER BY count",
        match,
    ) == [("👍", start, end, 10, 1), ("🔥", start, end, 1500, 2)]


def many_scores(match: str, teams: list[str], repeat_key: bool = False) -> pa.Table:
    """A batch of `COPY_ROWS` + 5 scoreboards (copied, not sent as VALUES), home teams cycling
    through `teams`, every third period null; with `repeat_key`, the last row repeats a key."""
    count = COPY_ROWS + 5
    ids = [f"{match}-{i}" for i in range(count)]
    if repeat_key:
        ids[-1] = ids[0]
    return pa.table(
        {
            "match_id": ids,
            "home_team": [teams[i % len(teams)] for i in range(count)],
            "away_team": ["B"] * count,
            "home_score": list(range(count)),
            "away_score": [0] * count,
            "period": [None if i % 3 == 0 else i for i in range(count)],
            "status": ["live"] * count,
            "sequence": list(range(count)),
        }
    )


def test_a_large_batch_is_copied_and_reads_back_value_for_value(conf, ctx, pg, match) -> None:
    teams = ['A "quoted", comma', "line\nbreak", "", "🔥", "back\\slash", "plain"]

    scoreboard(conf).write(many_scores(match, teams), ctx)

    assert rows(
        pg,
        "SELECT match_id, home_team, period FROM match_scores WHERE match_id LIKE %s "
        "ORDER BY home_score",
        match + "-%",
    ) == [
        (f"{match}-{i}", teams[i % len(teams)], None if i % 3 == 0 else i)
        for i in range(COPY_ROWS + 5)
    ]
    assert ledger(pg, ctx) == [(ctx.checkpoint_id, 0)]


def test_a_large_batch_with_a_repeated_key_is_refused_naming_it(conf, ctx, pg, match) -> None:
    with pytest.raises(DuplicateKeyError, match=rf"match_scores.*match_id.*{match}-0"):
        scoreboard(conf).write(many_scores(match, ["A"], repeat_key=True), ctx)

    assert rows(pg, "SELECT count(*) FROM match_scores WHERE match_id LIKE %s", match + "-%") == [
        (0,)
    ]
    assert ledger(pg, ctx) == []


def test_a_copied_batch_keeps_nulls_empty_strings_and_non_finite_floats(conf, ctx, pg) -> None:
    ids = [unique("e") for _ in range(COPY_ROWS)]
    topics = [None, "", "emoji.reactions"]
    latencies = [float("nan"), float("inf"), None, 2.5]
    at = datetime(2026, 11, 22, 20, 15, 0, 123456, tzinfo=UTC)
    acks = pa.table(
        {
            "event_id": ids,
            "kind": ["producer_ack"] * len(ids),
            "component": ["ingest"] * len(ids),
            "topic": [topics[i % 3] for i in range(len(ids))],
            "acked_at": [at] * len(ids),
            "latency_ms": [latencies[i % 4] for i in range(len(ids))],
        },
        schema=ACK_SCHEMA,
    )
    sink = PostgresUpsert("acks", conf.postgres, outputs.EVENT_ACKS.upsert(ACK_COLUMNS))
    try:
        sink.write(acks, ctx)
        stored_acks = rows(
            pg,
            "SELECT event_id, topic, acked_at, latency_ms::text FROM event_acks "
            "WHERE event_id = ANY(%s)",
            ids,
        )
    finally:
        pg.cursor().execute("DELETE FROM event_acks WHERE event_id = ANY(%s)", (ids,))

    # As PostgreSQL prints them: a null, an empty string and NaN each kept as what it was.
    shown = ["NaN", "Infinity", None, "2.5"]
    assert sorted(stored_acks, key=lambda row: ids.index(row[0])) == [
        (event_id, topics[i % 3], at, shown[i % 4]) for i, event_id in enumerate(ids)
    ]


def test_an_empty_batch_writes_nothing(spark, conf, ctx, pg) -> None:
    scoreboard(conf).write(scores(spark), ctx)

    assert ledger(pg, ctx) == []


def test_a_column_missing_from_the_batch_is_named(spark, conf, ctx, pg, match) -> None:
    batch = scores(spark, (match, "A", "B", 1, 0, 1, "live", 1)).drop("status")

    with pytest.raises(SinkDefinitionError, match="no column status"):
        scoreboard(conf).write(batch, ctx)


def test_identifiers_are_quoted(conf, pg) -> None:
    sink = PostgresUpsert("odd", conf.postgres, Upsert("s.t", ('we"ird',), ("x",)))

    text = sink.statement().as_string(pg)

    assert text == (
        'INSERT INTO "s"."t" ("we""ird", "x") VALUES %s ON CONFLICT ("we""ird") '
        'DO UPDATE SET "x" = EXCLUDED."x"'
    )


@dataclass
class WaitingWrite:
    """A write of batch 1 in a thread, waiting for the ledger row that `holder` (an earlier
    attempt, still in its transaction) keeps locked."""

    sink: PostgresUpsert
    holder: psycopg2.extensions.connection
    thread: threading.Thread
    errors: list[BaseException]


def waiting_write(spark, conf, ctx, pg, match) -> WaitingWrite:
    sink = scoreboard(conf)
    sink.write(scores(spark, (match, "A", "B", 1, 0, 1, "live", 1)), ctx)
    batch = scores(spark, (match, "A", "B", 2, 0, 1, "live", 2))
    batch.count()  # computed before the race, so the attempt below reaches the ledger at once
    holder = postgres_connect(conf.postgres)
    holder.cursor().execute(
        "SELECT batch_id FROM sink_ledger WHERE query = %s AND sink = %s FOR UPDATE",
        (ctx.query, sink.name),
    )
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            sink.write(batch, replace(ctx, batch_id=1))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=attempt)
    thread.start()
    wait_for(lambda: bool(_waiting(pg, ctx)), 30, "the write to wait for the ledger row")
    return WaitingWrite(sink, holder, thread, errors)


def test_a_second_attempt_waits_for_the_first_and_then_skips(spark, conf, ctx, pg, match) -> None:
    second = waiting_write(spark, conf, ctx, pg, match)

    second.holder.cursor().execute(
        "UPDATE sink_ledger SET batch_id = 1 WHERE query = %s AND sink = %s",
        (ctx.query, second.sink.name),
    )
    second.holder.commit()
    second.holder.close()
    second.thread.join(30)

    assert not second.thread.is_alive()
    assert second.errors == []
    assert stored(pg, match) == [(1, 0, "live", 1)]  # the second attempt wrote nothing


def test_a_connection_the_server_closes_mid_batch_names_postgres(spark, conf, ctx, pg, match):
    """An outage that meets a batch mid-write (the server ends its session) is reported as the
    store being unreachable, as a refused connection is: `pulse status` names postgres."""
    write = waiting_write(spark, conf, ctx, pg, match)

    for (pid,) in _waiting(pg, ctx):
        rows(pg, "SELECT pg_terminate_backend(%s)", pid)
    write.thread.join(30)
    write.holder.rollback()
    write.holder.close()

    assert not write.thread.is_alive()
    assert [type(e) for e in write.errors] == [StoreUnavailable]
    assert (write.errors[0].store, write.errors[0].problem) == ("postgres", "unreachable")
    assert stored(pg, match) == [(1, 0, "live", 1)]  # nothing of the batch was committed


def _waiting(pg: psycopg2.extensions.connection, ctx: BatchContext) -> list[tuple]:
    """The sessions waiting on a lock in a statement that names this test's query (their pid)."""
    return rows(
        pg,
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE '%%sink_ledger%%' AND strpos(query, %s) > 0",
        ctx.query,
    )
