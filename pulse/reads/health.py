"""Pipeline health: input rate, end-to-end latency, batches against the trigger, dead letters.

From the monitor job's PostgreSQL tables (`topic_arrivals` and `monitoring_rollups` per topic
per window, `query_batches` per micro-batch of every query) and the lake job's Delta
`quarantine`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa

from pulse.outputs import MONITORING_ROLLUPS, QUERY_BATCHES, TOPIC_ARRIVALS
from pulse.reads.lake import at_or_after, read_table
from pulse.reads.sources import Sql

DEAD_LETTER_COLUMNS = ("reason", "topic", "dead_letters")
# The offending value in a reason ("... (got 'abc')", "malformed JSON: {...", and the older
# "... of the wrong type: 42"): dropped when grouping, so that one kind of fault is one bar, not
# one bar per bad value.
_OFFENDING_VALUE = re.compile(
    r"(\s*\(got .*\)|(?<=wrong type):.*|(?<=malformed JSON)( \(.*?\))?: .*)$", re.DOTALL
)


# The headline's input rate: what arrived in the latest windows counted so far, this many.
INPUT_SPAN_WINDOWS = 6
# The live paths' promise (docs/ARCHITECTURE.md, "Latency"): an event in its live sink within
# this many seconds at p95; and the jobs that keep it (emoji, scores and game deliveries; media).
# The lake and the monitor promise their trigger + 2 s.
LIVE_P95_SECONDS = 2.5
LIVE_JOBS = ("live", "enrich")


def input_rates(pg: Sql, start: datetime, window_seconds: float) -> pd.DataFrame:
    """Per topic and window since `start`, of Kafka timestamps: the events that arrived, the
    latest arrival counted and the events per second. The input, whenever the monitor
    processed it; a window still being read has a partial count."""
    return pg.frame(
        "SELECT topic, window_start, records, last_arrival,"
        " records / %s::float8 AS events_per_second"
        f" FROM {TOPIC_ARRIVALS.name} WHERE window_start >= %s ORDER BY window_start, topic",
        (window_seconds, start),
    )


def input_rate(rates: pd.DataFrame, window_seconds: float) -> float | None:
    """All topics' input in events/s over the latest `INPUT_SPAN_WINDOWS` windows counted: their
    events over the time from the first one's start to the latest arrival counted (so that the
    window still being read counts for the part of it that was read). None before any."""
    if rates.empty:
        return None
    head = rates["window_start"].max()
    first = max(
        rates["window_start"].min(),
        head - pd.Timedelta(seconds=(INPUT_SPAN_WINDOWS - 1) * window_seconds),
    )
    # At least a window: the first records alone, a moment after a window's start, are no rate.
    seconds = max((rates["last_arrival"].max() - first).total_seconds(), window_seconds)
    return float(rates.loc[rates["window_start"] >= first, "records"].sum() / seconds)


def latencies(pg: Sql, start: datetime) -> pd.DataFrame:
    """The age of records when the monitor read them (event time to its batch: its trigger
    included), p50 and p95 per topic per window, long: topic, window_start, percentile ('p50'
    or 'p95'), latency_ms. Every topic's, also those no other query reads; each query's own
    latency is in `batches`."""
    return pg.frame(
        "SELECT r.topic, r.window_start, p.percentile, p.latency_ms"
        f" FROM {MONITORING_ROLLUPS.name} r,"
        " LATERAL (VALUES ('p50', r.latency_p50_ms), ('p95', r.latency_p95_ms))"
        " AS p(percentile, latency_ms)"
        " WHERE r.window_start >= %s AND p.latency_ms IS NOT NULL"
        " ORDER BY r.window_start, r.topic, p.percentile",
        (start,),
    )


def batches(pg: Sql, start: datetime) -> pd.DataFrame:
    """Every micro-batch of every query since `start`: its job (component), duration, rows,
    consumer lag, late rows, and the latency of its records from Kafka to its end (p50, p95;
    null for a batch that read none)."""
    return pg.frame(
        "SELECT query, component, batch_id, reported_at, duration_ms, rows, lag, late_rows,"
        " latency_p50_ms, latency_p95_ms"
        f" FROM {QUERY_BATCHES.name} WHERE reported_at >= %s ORDER BY reported_at, query",
        (start,),
    )


def dead_letters(quarantine_path: str, start: datetime) -> pd.DataFrame:
    """Dead letters since `start` by kind of reason and topic, most frequent first."""
    letters = read_table(quarantine_path, ("reason", "topic"), at_or_after("failed_at", start))
    if letters is None or letters.num_rows == 0:
        return pd.DataFrame(columns=DEAD_LETTER_COLUMNS)
    counted = letters.group_by(["reason", "topic"]).aggregate([("reason", "count")])
    frame = pa.table(
        {
            "reason": counted["reason"],
            "topic": counted["topic"],
            "dead_letters": counted["reason_count"],
        }
    ).to_pandas()
    return by_reason_kind(frame)


def by_reason_kind(letters: pd.DataFrame) -> pd.DataFrame:
    """Counts per (reason, topic) summed per kind of reason: the reason without the value that
    broke it. Most frequent first."""
    kinds = letters.assign(reason=letters["reason"].str.replace(_OFFENDING_VALUE, "", regex=True))
    summed = kinds.groupby(["reason", "topic"], as_index=False)["dead_letters"].sum()
    return summed.sort_values(
        ["dead_letters", "reason"], ascending=[False, True], ignore_index=True
    )


@dataclass(frozen=True)
class Headline:
    """The four numbers at the top of the health page (None: nothing measured yet)."""

    events_per_second: float | None
    latency_p95_ms: float | None
    lag: float | None
    slowest_batch_ms: float | None


def headline(inputs: pd.DataFrame, window_seconds: float, batches: pd.DataFrame) -> Headline:
    """The input rate (`input_rate` of `inputs`, windows of `window_seconds`); among each
    query's latest report, the worst p95 latency of the live paths' (`LIVE_JOBS`), the largest
    lag and the slowest batch.

    The latency is each batch's own (Kafka to its end) of its latest batch that read records:
    what the live page's users wait, and what `LIVE_P95_SECONDS` promises."""
    events = input_rate(inputs, window_seconds)
    p95 = lag = slowest = None
    live = batches[batches["component"].isin(LIVE_JOBS)].dropna(subset=["latency_p95_ms"])
    if not live.empty:
        p95 = float(live.sort_values("reported_at").groupby("query")["latency_p95_ms"].last().max())
    if not batches.empty:
        last = batches.sort_values("reported_at").groupby("query").last()
        slowest = float(last["duration_ms"].max())
        lags = batches.dropna(subset=["lag"]).sort_values("reported_at").groupby("query")["lag"]
        lag = float(lags.last().max()) if len(lags) else None
    return Headline(events, p95, lag, slowest)
