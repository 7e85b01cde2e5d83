"""The scoreboard and player stat totals, compared as DataFrames with chispa."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from pulse.events.domains import SPORTS
from pulse.events.spark import struct_type
from pulse.transforms.sports import player_stat_totals, scoreboard
from tests.transforms.streams import run_stream

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


def test_player_stat_totals_sum_each_players_deltas_once_per_event(spark):
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
    actual = player_stat_totals(frame(spark, rows), watermark_seconds=600)
    expected = spark.createDataFrame(
        [
            ("m1", "p9", "home", "goals", 1),
            ("m1", "p9", "home", "shots", 3),
            ("m1", "p4", "away", "saves", 1),
            ("m2", "p9", "home", "goals", 1),
        ],
        TOTALS,
    )
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_stream_never_rolls_a_score_back_and_counts_a_replayed_event_once(spark, tmp_path: Path):
    goal = [("p9", "home", "goals", 1)]
    batches = [
        [as_json(event("s1", "m1", 1, (0, 0))), as_json(event("s3", "m1", 3, (2, 0), stats=goal))],
        # s2 arrives late and out of order; s3 is published a second time.
        [
            as_json(event("s2", "m1", 2, (1, 0), stats=goal)),
            as_json(event("s3", "m1", 3, (2, 0), stats=goal)),
        ],
    ]
    boards = run_stream(spark, struct_type(SPORTS), batches, scoreboard, tmp_path / "board")
    totals = run_stream(
        spark,
        struct_type(SPORTS),
        batches,
        lambda events: player_stat_totals(events, watermark_seconds=600),
        tmp_path / "totals",
    )

    scores = {b: [(r.home_score, r.sequence) for r in rows] for b, rows in boards.batches.items()}
    goals = {b: [r.total for r in rows] for b, rows in totals.batches.items()}
    assert scores == {0: [(2, 3)], 1: [(2, 3)]}
    assert goals == {0: [1], 1: [2]}
