"""Live matches: scoreboards and top emojis from Redis (what viewers see now), emoji trends
from PostgreSQL `emoji_windows` (what they reacted over the last minutes)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from pulse.livestate import EMOJI, MATCH, pattern
from pulse.outputs import EMOJI_WINDOWS
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
        f" FROM {EMOJI_WINDOWS.name} WHERE window_start >= %s AND (%s IS NULL OR match_id = %s)"
        " GROUP BY window_start, emoji ORDER BY window_start, emoji",
        (start, match_id, match_id),
    )


def recount_windows(
    windows: pd.DataFrame, events: pd.DataFrame, window_seconds: float, watermark_seconds: float
) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """The live job's window counts (`emoji_windows`: match_id, emoji, window_start, count)
    beside a recount of the lake's events (`silver/emoji`: event_id, match_id, emoji, ts), for
    the windows both jobs have completed; and the cutoff.

    The two jobs run on their own clocks (the lake every 3 s, the live job every second). Events
    come in event-time order give or take the watermark (later ones are late, and the live job
    drops them), so a window is complete in a job once the job has seen an event a watermark
    past the window's end. The cutoff is the earlier of the two jobs' latest event times, less
    the watermark: windows ending after it are left out, not counted as different. Each event
    id counts once.

    >>> at = pd.Timestamp("2026-01-01T00:00:00Z")
    >>> later = at + pd.Timedelta(seconds=20)
    >>> windows = pd.DataFrame({"match_id": ["m", "m"], "emoji": ["🔥", "🔥"],
    ...                         "window_start": [at, later], "count": [1, 1]})
    >>> events = pd.DataFrame({"event_id": ["e1", "e1", "e2"], "match_id": ["m"] * 3,
    ...                        "emoji": ["🔥"] * 3, "ts": [at, at, later]})
    >>> compared, cutoff = recount_windows(windows, events, 2, 10)
    >>> compared[["count", "recount"]].values.tolist(), str(cutoff)
    ([[1, 1]], '2026-01-01 00:00:10+00:00')
    """
    width = pd.Timedelta(seconds=window_seconds)
    if windows.empty or events.empty:
        return pd.DataFrame(columns=["count", "recount"]), None
    lake_until = events["ts"].max()
    live_until = windows["window_start"].max() + width
    cutoff = min(lake_until, live_until) - pd.Timedelta(seconds=watermark_seconds)
    unique = events.drop_duplicates("event_id")
    starts = unique["ts"].dt.floor(f"{window_seconds:g}s")
    recount = (
        unique.assign(window_start=starts)
        .groupby(["match_id", "emoji", "window_start"])
        .size()
        .rename("recount")
    )
    keyed = windows.set_index(["match_id", "emoji", "window_start"])["count"]
    joined = pd.concat([keyed, recount], axis=1)
    ends = joined.index.get_level_values("window_start") + width
    return joined[ends <= cutoff], cutoff
