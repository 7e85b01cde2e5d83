"""Emoji reactions: counts per (match, emoji, event-time window), units, and the top-N per match.

`emoji_windows` runs on the streaming frame of valid emoji events and is meant for output mode
"update" with `foreachBatch`: every batch carries the absolute count of each window it touched,
so a sink that upserts by (match_id, emoji, window_start) is exact, also after a replayed batch.
`top_emojis` runs inside `foreachBatch`, on the (static) frame of one batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pulse.transforms.eventtime import InvalidParameter, deduplicated, interval

WINDOW_COLUMNS = ("match_id", "emoji", "window_start", "window_end", "count", "units")
TOP_COLUMNS = ("match_id", "window_start", "rank", "emoji", "count", "units")


def emoji_windows(
    events: DataFrame, *, window_seconds: float, watermark_seconds: float, ratio: int
) -> DataFrame:
    """Count each (match_id, emoji) per tumbling event-time window of `window_seconds`.

    Input: valid emoji events (event_id, user_id, match_id, emoji, ts), streaming or static.
    Output: `WINDOW_COLUMNS`, with `units = ceil(count / ratio)`.

    Events are deduplicated by `event_id` within the watermark (`dropDuplicatesWithinWatermark`),
    so a producer retry or a re-published record is counted once. The watermark is the
    largest `ts` seen so far minus `watermark_seconds`. An event older than the watermark of the
    previous micro-batch is late: the deduplication drops it and reports it in that operator's
    `numRowsDroppedByWatermark` (see `rows_dropped_as_late`); a later event that is not that old
    updates its window, and the batch carries the window's new absolute count. Spark evicts a
    window's state with the same watermark that judges lateness one batch later, so a window is
    never re-emitted with a partial count after its state is gone.
    """
    width = interval(window_seconds, name="window_seconds")
    delay = interval(watermark_seconds, name="watermark_seconds", allow_zero=True)
    _check_ratio(ratio)
    unique = deduplicated(events, id_column="event_id", time_column="ts", delay=delay)
    counts = unique.groupBy("match_id", "emoji", F.window("ts", width).alias("window")).agg(
        F.count(F.lit(1)).alias("count")
    )
    return counts.select(
        "match_id",
        "emoji",
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        "count",
        units(F.col("count"), ratio).alias("units"),
    )


def units(count: Column, ratio: int) -> Column:
    """`ceil(count / ratio)` in integer arithmetic: every started block of `ratio` is one unit.

    Integer `div` and `%` instead of a float division: doubles lose exactness above 2**53,
    and `count + ratio - 1` could overflow near the largest long; this form does neither.
    """
    _check_ratio(ratio)
    whole = F.call_function("div", count, F.lit(ratio))
    started = F.when(count % F.lit(ratio) > 0, F.lit(1)).otherwise(F.lit(0))
    return (whole + started).cast("long")


def top_emojis(windows: DataFrame, n: int) -> DataFrame:
    """Per match, the top `n` emojis of its latest window by count (ties: by emoji), ranked 1..n.

    `windows` is a static frame with `WINDOW_COLUMNS`, typically one `foreachBatch` batch of
    `emoji_windows`; "latest" is the latest window of each match present in that frame.
    Output: `TOP_COLUMNS`.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidParameter("n", n, "must be a whole number, at least 1")
    per_match = Window.partitionBy("match_id")
    ordered = Window.partitionBy("match_id").orderBy(F.col("count").desc(), F.col("emoji"))
    latest = windows.withColumn("latest_start", F.max("window_start").over(per_match)).where(
        F.col("window_start") == F.col("latest_start")
    )
    ranked = latest.withColumn("rank", F.row_number().over(ordered))
    return ranked.where(F.col("rank") <= n).select(*TOP_COLUMNS)


def rows_dropped_as_late(progress: Mapping[str, Any]) -> int:
    """The late events of one `StreamingQueryProgress` of `emoji_windows` (as a dict).

    Summed over all state operators: the deduplication is the operator that drops late events,
    and Spark lists it after the aggregation, so `stateOperators[0]` alone reports 0. A row that
    one operator drops never reaches the next one, so the sum counts each event once.
    """
    operators = progress.get("stateOperators") or []
    return sum(int(operator.get("numRowsDroppedByWatermark", 0)) for operator in operators)


def _check_ratio(ratio: int) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 1:
        raise InvalidParameter("ratio", ratio, "must be a whole number, at least 1")


def top_by_match(windows: DataFrame, n: int) -> DataFrame:
    """One row per match: its latest window and the top `n` emojis as JSON (for Redis).

    Columns: match_id, window_start, top (a JSON list of {rank, emoji, count, units}).
    """
    top = top_emojis(windows, n)
    entry = F.struct("rank", "emoji", "count", "units")
    return top.groupBy("match_id", "window_start").agg(
        F.to_json(F.array_sort(F.collect_list(entry))).alias("top")
    )
