"""The scoreboard and player stat totals, compared as DataFrames with chispa."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from pulse.events.domains import SPORTS
from pulse.events.spark import struct_type
from pulse.transforms.horizon import Horizon, admit
from pulse.transforms.sports import player_stat_deltas, scoreboard

pytestmark = pytest.mark.spark

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)
SCOREBOARD = (
    "match_id string, home_team string, away_team string, home_score long, away_score long, "
    "period long, status string, sequence long, updated_at timestamp"
)
TOTALS = "match_id string, player_id string, team string, stat string, total long"

Stat = tuple[str, str, str, int]


def event(
    event_id: str,
    match: str,
    sequence: int,
    score: tuple[int, int],
    *,
    status: str = "live",
    stats: list[Stat] | None = None,
    second: int = 0,
) -> tuple[Any, ...]:
    """A valid sports event row; `second` defaults to the sequence, the usual order."""
    ts = T0 + timedelta(seconds=second or sequence)
    home, away = score
    return (event_id, match, sequence, "goal", "Lions", "Tigers", home, away, 1, status, stats, ts)


def frame(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, struct_type(SPORTS))


def as_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """The JSON form of an `event` row, as the producers publish it."""
    names = [field.name for field in SPORTS.fields]
    payload = dict(zip(names, row, strict=True))
    payload["ts"] = payload["ts"].isoformat().replace("+00:00", "Z")
    stats = payload.pop("player_stats")
    if stats is not None:
        keys = ("player_id", "team", "stat", "delta")
        payload["player_stats"] = [dict(zip(keys, stat, strict=True)) for stat in stats]
    return payload


MATCH = [
    event("s1", "m1", 1, (0, 0), status="scheduled"),
    event("s2", "m1", 2, (1, 0)),
    event("s3", "m1", 3, (1, 1)),
    event("s4", "m1", 4, (2, 1), status="finished"),
    event("s5", "m2", 1, (0, 0)),
    event("s6", "m2", 2, (0, 1)),
]


def test_shuffled_events_give_the_same_scoreboard_as_ordered_ones(spark):
    shuffled = MATCH.copy()
    random.Random(7).shuffle(shuffled)

    ordered_board = scoreboard(frame(spark, MATCH))
    shuffled_board = scoreboard(frame(spark, shuffled))

    expected = spark.createDataFrame(
        [
            ("m1", "Lions", "Tigers", 2, 1, 1, "finished", 4, T0 + timedelta(seconds=4)),
            ("m2", "Lions", "Tigers", 0, 1, 1, "live", 2, T0 + timedelta(seconds=2)),
        ],
        SCOREBOARD,
    )
    assert_df_equality(ordered_board, expected, ignore_nullable=True, ignore_row_order=True)
    assert_df_equality(shuffled_board, expected, ignore_nullable=True, ignore_row_order=True)


def test_an_equal_sequence_is_settled_by_the_later_event_time(spark):
    rows = [event("a", "m1", 5, (1, 0), second=9), event("b", "m1", 5, (9, 9), second=3)]
    board = scoreboard(frame(spark, rows)).select("home_score", "sequence")
    expected = spark.createDataFrame([(1, 5)], "home_score long, sequence long")
    assert_df_equality(board, expected, ignore_nullable=True)


def stat_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Sports events as the player-stats query collects them: id, time, match, stats."""
    return pa.Table.from_pylist(
        [
            {
                "event_id": r["event_id"],
                "ts": r["ts"],
                "match_id": r["match_id"],
                "player_stats": r["player_stats"],
            }
            for r in rows
        ],
        schema=pa.schema(
            [
                ("event_id", pa.string()),
                ("ts", pa.timestamp("us", tz="UTC")),
                ("match_id", pa.string()),
                (
                    "player_stats",
                    pa.list_(
                        pa.struct(
                            [
                                ("player_id", pa.string()),
                                ("team", pa.string()),
                                ("stat", pa.string()),
                                ("delta", pa.int32()),
                            ]
                        )
                    ),
                ),
            ]
        ),
    )


def as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    """An `event` row as a dict, stats as dicts: what `stat_table` takes."""
    payload = dict(zip([field.name for field in SPORTS.fields], row, strict=True))
    stats = payload["player_stats"]
    keys = ("player_id", "team", "stat", "delta")
    payload["player_stats"] = (
        None if stats is None else [dict(zip(keys, s, strict=True)) for s in stats]
    )
    return payload


def test_player_stat_deltas_sum_each_players_deltas_once_per_event():
    rows = [
        event(
            "s1", "m1", 1, (1, 0), stats=[("p9", "home", "goals", 1), ("p9", "home", "shots", 2)]
        ),
        event(
            "s1", "m1", 1, (1, 0), stats=[("p9", "home", "goals", 1), ("p9", "home", "shots", 2)]
        ),
        event(
            "s2", "m1", 2, (1, 0), stats=[("p9", "home", "shots", 1), ("p4", "away", "saves", 1)]
        ),
        event("s3", "m1", 3, (1, 0)),  # no stats
        event("s4", "m1", 4, (1, 0), stats=[]),
        event("s5", "m2", 1, (0, 0), stats=[("p9", "home", "goals", 1)]),
    ]
    once = admit(stat_table([as_dict(r) for r in rows]), Horizon.empty(), delay_us=600_000_000)
    totals = {
        (r["match_id"], r["player_id"], r["team"], r["stat"]): r["total"]
        for r in player_stat_deltas(once.fresh).to_pylist()
    }
    assert once.repeats == 1
    assert totals == {
        ("m1", "p9", "home", "goals"): 1,
        ("m1", "p9", "home", "shots"): 3,
        ("m1", "p4", "away", "saves"): 1,
        ("m2", "p9", "home", "goals"): 1,
    }


def test_a_replayed_event_in_a_later_batch_adds_nothing_and_a_late_score_never_wins(spark):
    goal = [("p9", "home", "goals", 1)]
    first = [event("s1", "m1", 1, (0, 0)), event("s3", "m1", 3, (2, 0), stats=goal)]
    # s2 arrives late and out of order; s3 is published a second time.
    second = [event("s2", "m1", 2, (1, 0), stats=goal), event("s3", "m1", 3, (2, 0), stats=goal)]
    horizon = Horizon.empty()
    added = []
    for batch in (first, second):
        once = admit(stat_table([as_dict(r) for r in batch]), horizon, delay_us=600_000_000)
        horizon = once.horizon
        added.append([r["total"] for r in player_stat_deltas(once.fresh).to_pylist()])
    assert added == [[1], [1]]  # the sink adds them: 2 goals, s3 counted once

    boards = [scoreboard(frame(spark, batch)).collect() for batch in (first, second)]
    assert [(b[0].home_score, b[0].sequence) for b in boards] == [(2, 3), (2, 3)]
