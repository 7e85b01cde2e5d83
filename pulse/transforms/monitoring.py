"""Monitoring of one batch, on the driver: per-topic rollups of raw Kafka records (PostgreSQL
`monitoring_rollups`), arrivals per window of Kafka timestamps (`topic_arrivals`), the jobs'
batch reports (`query_batches`) and acks (`event_acks`); why windows of processing time:
"Monitoring" in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pulse.events.schema import parse_timestamp
from pulse.kafka.lag import consumer_lag

__all__ = [
    "ARRIVAL_COLUMNS",
    "ROLLUP_COLUMNS",
    "ack_rows",
    "batch_reports",
    "consumer_lag",
    "topic_arrivals",
    "topic_rollups",
]

_TIME = pa.timestamp("us", tz="UTC")
# The columns of `monitoring_rollups` that records give; lag and batch_duration_ms come from the
# query's progress.
ROLLUP_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("window_start", _TIME),
        ("records", pa.int64()),
        ("bytes", pa.int64()),
        ("latency_p50_ms", pa.float64()),
        ("latency_p95_ms", pa.float64()),
        ("latency_max_ms", pa.float64()),
    ]
)
ROLLUP_COLUMNS: tuple[str, ...] = tuple(ROLLUP_SCHEMA.names)
# `topic_arrivals`: records per topic per window of Kafka timestamps, summed over batches.
ARRIVAL_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("window_start", _TIME),
        ("records", pa.int64()),
        ("last_arrival", _TIME),
    ]
)
ARRIVAL_COLUMNS: tuple[str, ...] = tuple(ARRIVAL_SCHEMA.names)
BATCH_SCHEMA = pa.schema(
    [
        ("query", pa.string()),
        ("batch_id", pa.int64()),
        ("component", pa.string()),
        ("reported_at", _TIME),
        ("rows", pa.int64()),
        ("duration_ms", pa.float64()),
        ("rows_per_second", pa.float64()),
        ("late_rows", pa.int64()),
        ("lag", pa.int64()),
    ]
)
BATCH_COLUMNS: tuple[str, ...] = tuple(BATCH_SCHEMA.names)
ACK_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("kind", pa.string()),
        ("component", pa.string()),
        ("topic", pa.string()),
        ("acked_at", _TIME),
        ("latency_ms", pa.float64()),
    ]
)
ACK_COLUMNS: tuple[str, ...] = tuple(ACK_SCHEMA.names)


def topic_rollups(records: pa.Table, *, window_seconds: float, processed_at: datetime) -> pa.Table:
    """Per topic, in the processing-time window of `processed_at`: records, bytes (key and
    value), end-to-end latency p50/p95/max in ms (`processed_at` minus the event time).

    Latencies are kept as measured (a negative one is a producer's clock ahead of ours); the
    percentiles are nearest-rank, so each is a latency that was observed.

    >>> from datetime import UTC
    >>> at = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
    >>> raw = pa.table({"topic": ["t"], "key": [None], "value": [b'{"ts":"2026-01-01T00:00:02Z"}'],
    ...                 "timestamp": [at]})
    >>> topic_rollups(raw, window_seconds=2, processed_at=at).to_pylist()[0]["latency_max_ms"]
    1000.0
    """
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive (got {window_seconds})")
    width = round(window_seconds * 1_000_000)
    micros = round(processed_at.timestamp() * 1_000_000)
    window = datetime.fromtimestamp((micros - micros % width) / 1_000_000, processed_at.tzinfo)
    sizes: dict[str, int] = defaultdict(int)
    latencies: dict[str, list[float]] = defaultdict(list)
    columns = (records.column(name).to_pylist() for name in ("topic", "key", "value", "timestamp"))
    for topic, key, value, kafka_time in zip(*columns, strict=True):
        sizes[topic] += len(key or b"") + len(value or b"")
        moment = _event_time(value) or kafka_time
        latencies[topic].append((processed_at - moment).total_seconds() * 1000)
    rows = []
    for topic in sorted(latencies):
        measured = sorted(latencies[topic])
        rows.append(
            {
                "topic": topic,
                "window_start": window,
                "records": len(measured),
                "bytes": sizes[topic],
                "latency_p50_ms": _nearest_rank(measured, 0.5),
                "latency_p95_ms": _nearest_rank(measured, 0.95),
                "latency_max_ms": measured[-1],
            }
        )
    return pa.Table.from_pylist(rows, schema=ROLLUP_SCHEMA)


def topic_arrivals(records: pa.Table, *, window_seconds: float) -> pa.Table:
    """Per topic and window of the records' Kafka timestamps (when they arrived): how many of
    this batch's records arrived then, and the latest of their timestamps. A window's total is
    the sum over every batch, its last arrival the latest over every batch.

    >>> at = datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)
    >>> raw = pa.table({"topic": ["t", "t", "t"], "timestamp": [at, at, at.replace(second=7)]})
    >>> [(r["window_start"].second, r["records"])
    ...  for r in topic_arrivals(raw, window_seconds=5).to_pylist()]
    [(0, 2), (5, 1)]
    """
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive (got {window_seconds})")
    width = round(window_seconds * 1_000_000)
    counts: dict[tuple[str, int], int] = defaultdict(int)
    latest: dict[tuple[str, int], datetime] = {}
    topics, times = (records.column(name).to_pylist() for name in ("topic", "timestamp"))
    for topic, arrived in zip(topics, times, strict=True):
        micros = round(arrived.timestamp() * 1_000_000)
        window = (topic, micros - micros % width)
        counts[window] += 1
        latest[window] = max(arrived, latest.get(window, arrived))
    rows = [
        {"topic": topic, "window_start": datetime.fromtimestamp(start / 1_000_000, UTC),
         "records": count, "last_arrival": latest[(topic, start)]}
        for (topic, start), count in sorted(counts.items())
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=ARRIVAL_SCHEMA)


def batch_reports(events: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The jobs' per-batch progress reports (monitoring events of kind `batch`): `BATCH_COLUMNS`."""
    rows = []
    for event in events:
        if event.get("kind") != "batch":
            continue
        detail = _json_object(event.get("detail"))
        rows.append(
            {
                "query": _text(detail.get("query")) or event["component"],
                "batch_id": _whole(detail.get("batch_id"), -1),
                "component": event["component"],
                "reported_at": parse_timestamp(event["ts"]),
                "rows": event.get("count") or 0,
                "duration_ms": float(event.get("latency_ms") or 0.0),
                "rows_per_second": _real(detail.get("processed_rows_per_second")),
                "late_rows": _whole(detail.get("late_rows"), 0),
                "lag": _whole(detail.get("lag"), None),
            }
        )
    return pa.Table.from_pylist(rows, schema=BATCH_SCHEMA)


def latest_reports(reports: pa.Table) -> pa.Table:
    """The newest report of each query (for its Redis gauge)."""
    newest: dict[str, dict[str, Any]] = {}
    for row in reports.to_pylist():
        held = newest.get(row["query"])
        if held is None or (row["reported_at"], row["batch_id"]) > (
            held["reported_at"],
            held["batch_id"],
        ):
            newest[row["query"]] = row
    return pa.Table.from_pylist([newest[q] for q in sorted(newest)], schema=BATCH_SCHEMA)


def ack_rows(events: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Producer and processing acknowledgements, one row per (event id, kind, component): the
    latest by time."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for event in events:
        if event.get("kind") not in ("producer_ack", "processing_ack") or not event.get("event_id"):
            continue
        row = {
            "event_id": event["event_id"],
            "kind": event["kind"],
            "component": event["component"],
            "topic": event.get("topic"),
            "acked_at": parse_timestamp(event["ts"]),
            "latency_ms": event.get("latency_ms"),
        }
        key = (row["event_id"], row["kind"], row["component"])
        held = latest.get(key)
        if held is None or (row["acked_at"], str(row)) > (held["acked_at"], str(held)):
            latest[key] = row
    return pa.Table.from_pylist([latest[k] for k in sorted(latest)], schema=ACK_SCHEMA)


def _event_time(value: bytes | None) -> datetime | None:
    if not value:
        return None
    try:
        document = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    for name in ("ts", "timestamp"):
        text = document.get(name)
        if isinstance(text, str):
            try:
                return parse_timestamp(text)
            except ValueError:
                continue
    return None


def _nearest_rank(ordered: list[float], share: float) -> float:
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _json_object(text: Any) -> dict[str, Any]:
    try:
        document = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _whole(value: Any, default: int | None) -> int | None:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return default


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
