"""Sports scores: the scoreboard of each match and the running totals of each player's stats.

Both are streaming-safe aggregations for output mode "update": each batch carries the absolute
state of every match or player it touched, so sinks upsert (`match_scores`, `player_stats`)
and a replayed batch rewrites the same values.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pulse.transforms.eventtime import deduplicated, interval

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


def scoreboard(events: DataFrame) -> DataFrame:
    """Per match, the state carried by its event with the highest `sequence`.

    Every sports event carries the whole scoreboard, so the newest one by sequence is the
    truth: an event that arrives late or out of order never rolls a score back, and a repeated
    event changes nothing. Ties on sequence (a producer bug) fall to the later `ts`, then the
    larger `event_id`, so that the result never depends on arrival order.
    Output: `SCOREBOARD_COLUMNS`, `updated_at` being the `ts` of that event. No watermark:
    one small state row per match for the life of the query; the `match_scores` upsert should
    still keep the higher sequence, in case a query starts again from a fresh checkpoint.
    """
    state = F.struct(*SCOREBOARD_STATE, F.col("ts").alias("updated_at"))
    order = F.struct("sequence", "ts", "event_id")
    latest = events.groupBy("match_id").agg(F.max_by(state, order).alias("latest"))
    return latest.select(
        "match_id", *[F.col(f"latest.{name}").alias(name) for name in SCOREBOARD_COLUMNS[1:]]
    )


def player_stat_totals(events: DataFrame, *, watermark_seconds: float) -> DataFrame:
    """Sum the `player_stats` deltas per (match_id, player_id, stat).

    Deltas are not idempotent, so events are first deduplicated by `event_id` within the
    watermark (the largest `ts` seen minus `watermark_seconds`): a replayed or re-published
    event is counted once. The price: an event older than the watermark is dropped as late, so
    the watermark must be longer than any delay the sports feed can have.
    State is one row per (match, player, stat), never evicted (small).
    `team` is taken as the largest seen (a player has one team per match; `max` keeps the result
    deterministic). Output: `PLAYER_STAT_COLUMNS`.
    """
    delay = interval(watermark_seconds, name="watermark_seconds", allow_zero=True)
    unique = deduplicated(events, id_column="event_id", time_column="ts", delay=delay)
    # explode drops events without stats (null or empty list), which is what we want here.
    deltas = unique.select("match_id", F.explode("player_stats").alias("s")).select(
        "match_id", "s.player_id", "s.team", "s.stat", "s.delta"
    )
    totals = deltas.groupBy("match_id", "player_id", "stat").agg(
        F.max("team").alias("team"), F.sum("delta").alias("total")
    )
    return totals.select(*PLAYER_STAT_COLUMNS)
