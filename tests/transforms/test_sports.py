"""The scoreboard and player stat totals of one batch, in Arrow."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from pulse.events.arrow import arrow_schema
from pulse.events.domains import SPORTS
from pulse.transforms.horizon import Horizon, admit
from pulse.transforms.sports import SCOREBOARD_COLUMNS, player_stat_deltas, scoreboard

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)

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


def frame(rows: list[tuple[Any, ...]]) -> pa.Table:
    """`event` rows as a typed Arrow table, as the live query builds its batch."""
    return pa.Table.from_pylist([as_dict(r) for r in rows], schema=arrow_schema(SPORTS))


MATCH = [
    event("s1", "m1", 1, (0, 0), status="scheduled"),
    event("s2", "m1", 2, (1, 0)),
    event("s3", "m1", 3, (1, 1)),
    event("s4", "m1", 4, (2, 1), status="finished"),
    event("s5", "m2", 1, (0, 0)),
    event("s6", "m2", 2, (0, 1)),
]


def board(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return scoreboard(frame(rows)).to_pylist()


def test_shuffled_events_give_the_same_scoreboard_as_ordered_ones():
    shuffled = MATCH.copy()
    random.Random(7).shuffle(shuffled)
    assert shuffled != MATCH
    # fmt: off
    expected = [
        dict(zip(SCOREBOARD_COLUMNS, row, strict=True))
        for row in [
            ("m1", "Lions", "Tigers", 2, 1, 1, "finished", 4, T0 + timedelta(seconds=4)),
            ("m2", "Lions", "Tigers", 0, 1, 1, "live", 2, T0 + timedelta(seconds=2)),
        ]
    ]
    # fmt: on
    assert sorted(board(MATCH), key=lambda r: r["match_id"]) == expected
    assert sorted(board(shuffled), key=lambda r: r["match_id"]) == expected


def test_an_equal_sequence_is_settled_by_the_later_event_time():
    rows = [event("a", "m1", 5, (1, 0), second=9), event("b", "m1", 5, (9, 9), second=3)]
    assert [(r["home_score"], r["sequence"]) for r in board(rows)] == [(1, 5)]
    assert [(r["home_score"], r["sequence"]) for r in board(rows[::-1])] == [(1, 5)]


def test_an_equal_sequence_and_time_is_settled_by_the_larger_event_id():
    rows = [event("a", "m1", 5, (1, 0), second=3), event("b", "m1", 5, (9, 9), second=3)]
    assert [r["home_score"] for r in board(rows)] == [9]
    assert [r["home_score"] for r in board(rows[::-1])] == [9]


def test_an_empty_batch_gives_an_empty_scoreboard():
    empty = scoreboard(frame([]))
    assert empty.num_rows == 0
    assert empty.column_names == list(SCOREBOARD_COLUMNS)


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


def test_a_replayed_event_in_a_later_batch_adds_nothing_and_a_late_score_never_wins():
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

    boards = [board(batch) for batch in (first, second)]
    assert [[(r["home_score"], r["sequence"]) for r in b] for b in boards] == [[(2, 3)], [(2, 3)]]
