"""Live matches: scoreboards and top emojis from Redis (what viewers see now), emoji trends
from PostgreSQL `emoji_windows` (what they reacted over the last minutes)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from pulse.livestate import EMOJI, MATCH, pattern
from pulse.reads.sources import RedisKeys, Sql

SCOREBOARD_COLUMNS = (
    "match_id", "home_team", "away_team", "home_score", "away_score", "period", "status",
    "sequence", "updated_at",
)  # fmt: skip
TOP_COLUMNS = ("match_id", "window_start", "rank", "emoji", "count", "units")
_NUMBERS = ("home_score", "away_score", "period", "sequence")


def scoreboards(redis: RedisKeys) -> pd.DataFrame:
    """Every match's scoreboard as the live job last wrote it (`match:{id}`), newest first."""
    return scoreboard_frame(redis.hashes(pattern(MATCH)))


def scoreboard_frame(hashes: Sequence[dict[str, str]]) -> pd.DataFrame:
    """Scoreboard hashes as rows: numbers as numbers, `updated_at` as a UTC time."""
    frame = pd.DataFrame.from_records(
        [{column: row.get(column) for column in SCOREBOARD_COLUMNS} for row in hashes],
        columns=SCOREBOARD_COLUMNS,
    )
    for column in _NUMBERS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True, errors="coerce")
    return frame.sort_values(["updated_at", "match_id"], ascending=[False, True], ignore_index=True)


def top_emojis(redis: RedisKeys) -> pd.DataFrame:
    """Each match's top emojis of its latest window (`emoji:{id}`), by match then rank."""
    return top_emoji_frame(redis.hashes(pattern(EMOJI)))


def top_emoji_frame(hashes: Sequence[dict[str, str]]) -> pd.DataFrame:
    """Latest-window hashes (`top` a JSON list of rank, emoji, count, units) as one row per
    (match, rank); a hash whose `top` is not such a list is left out, not guessed at."""
    rows = []
    for row in hashes:
        try:
            top = json.loads(row.get("top") or "[]")
        except json.JSONDecodeError:
            continue
        for entry in top if isinstance(top, list) else []:
            if isinstance(entry, dict):
                rows.append((row.get("match_id"), row.get("window_start"),
                             *(entry.get(k) for k in TOP_COLUMNS[2:])))  # fmt: skip
    frame = pd.DataFrame.from_records(rows, columns=TOP_COLUMNS)
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True, errors="coerce")
    return frame.sort_values(["match_id", "rank"], ignore_index=True)


def emoji_trend(pg: Sql, start: datetime, match_id: str | None = None) -> pd.DataFrame:
    """Emoji counts and units per window since `start`, of one match or of all together."""
    return pg.frame(
        "SELECT window_start, emoji, sum(count) AS count, sum(units) AS units"
        " FROM emoji_windows WHERE window_start >= %s AND (%s IS NULL OR match_id = %s)"
        " GROUP BY window_start, emoji ORDER BY window_start, emoji",
        (start, match_id, match_id),
    )
