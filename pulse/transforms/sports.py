"""Sports scores: the scoreboard of each match and the running totals of each player's stats, on
one micro-batch with no Spark state: a batch's scoreboard is its highest sequence per match and
the sinks keep the higher sequence (`match_scores` guard, Redis `version_field`), so the stored
state is the highest of all batches, also after a replay; stat deltas are summed per batch and
added to `player_stats` under the batch ledger.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

SCOREBOARD_STATE = (
    "home_team",
    "away_team",
    "home_score",
    "away_score",
    "period",
    "status",
    "sequence",
)
SCOREBOARD_COLUMNS = ("match_id", *SCOREBOARD_STATE, "updated_at")
PLAYER_STAT_COLUMNS = ("match_id", "player_id", "team", "stat", "total")


def scoreboard(events: pa.Table) -> pa.Table:
    """Per match, the state carried by its event with the highest `sequence`.

    Every sports event carries the whole scoreboard, so the newest one by sequence is the
    truth: an event that arrives late or out of order never rolls a score back, and a repeated
    event changes nothing. Ties on sequence (a producer bug) fall to the later `ts`, then the
    larger `event_id`, so that the result never depends on arrival order.
    Output: `SCOREBOARD_COLUMNS`, `updated_at` being the `ts` of that event. Run on each
    batch, the sinks must keep the higher sequence: that makes the stored state the one of the
    highest sequence across all batches.
    """
    if events.num_rows == 0:
        return _BOARD_SCHEMA.empty_table()
    ordered = events.sort_by(
        [
            ("match_id", "ascending"),
            ("sequence", "descending"),
            ("ts", "descending"),
            ("event_id", "descending"),
        ]
    )
    matches = ordered["match_id"].combine_chunks()
    first = pc.invert(pc.fill_null(pc.equal(matches[1:], matches[:-1]), False))
    latest = ordered.filter(pa.concat_arrays([pa.array([True]), first]))
    return pa.table(
        [latest[name] for name in SCOREBOARD_COLUMNS[:-1]] + [latest["ts"]],
        schema=_BOARD_SCHEMA,
    )


_BOARD_SCHEMA = pa.schema(
    [
        ("match_id", pa.string()),
        ("home_team", pa.string()),
        ("away_team", pa.string()),
        ("home_score", pa.int64()),
        ("away_score", pa.int64()),
        ("period", pa.int64()),
        ("status", pa.string()),
        ("sequence", pa.int64()),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)


def player_stat_deltas(events: pa.Table) -> pa.Table:
    """One batch's stat deltas summed per (match_id, player_id, stat): `PLAYER_STAT_COLUMNS`,
    `total` being this batch's sum, for an additive upsert into `player_stats`.

    `events` are sports events already counted once each (pulse.transforms.horizon: deltas
    are not idempotent, so a repeated event must never reach here). Events without stats add
    nothing. `team` is the largest seen, so the result never depends on arrival order.

    >>> events = pa.table({"match_id": ["m1", "m1"], "player_stats": [
    ...     [{"player_id": "p1", "team": "A", "stat": "goals", "delta": 1}],
    ...     [{"player_id": "p1", "team": "A", "stat": "goals", "delta": 2}]]})
    >>> player_stat_deltas(events).to_pylist()
    [{'match_id': 'm1', 'player_id': 'p1', 'team': 'A', 'stat': 'goals', 'total': 3}]
    """
    stats = events["player_stats"].combine_chunks()
    flat = pc.list_flatten(stats)
    if len(flat) == 0:
        return _STAT_SCHEMA.empty_table()
    matches = events["match_id"].combine_chunks().take(pc.list_parent_indices(stats))
    rows = pa.table(
        {
            "match_id": matches,
            "player_id": flat.field("player_id"),
            "stat": flat.field("stat"),
            "team": flat.field("team"),
            "delta": flat.field("delta").cast(pa.int64()),
        }
    ).filter(pc.is_valid(flat))
    summed = rows.group_by(["match_id", "player_id", "stat"]).aggregate(
        [("team", "max"), ("delta", "sum")]
    )
    return pa.table(
        [
            summed["match_id"],
            summed["player_id"],
            summed["team_max"],
            summed["stat"],
            summed["delta_sum"],
        ],
        schema=_STAT_SCHEMA,
    ).sort_by([("match_id", "ascending"), ("player_id", "ascending"), ("stat", "ascending")])


_STAT_SCHEMA = pa.schema(
    [
        ("match_id", pa.string()),
        ("player_id", pa.string()),
        ("team", pa.string()),
        ("stat", pa.string()),
        ("total", pa.int64()),
    ]
)
