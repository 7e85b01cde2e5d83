"""Monitoring of one batch, on the driver: per-topic rollups of raw Kafka records (PostgreSQL
`monitoring_rollups`), arrivals per window of Kafka timestamps (`topic_arrivals`), the jobs'
batch reports (`query_batches`) and acks (`event_acks`); why windows of processing time:
"Monitoring" in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pulse.events.bulk import TIMESTAMP_FORM
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
        # Kafka to the batch's end, of its records (pulse.progress.with_rows_read).
        ("latency_p50_ms", pa.float64()),
        ("latency_p95_ms", pa.float64()),
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
    waited = pc.subtract(pa.scalar(micros, pa.int64()), event_times(records).cast(pa.int64()))
    measured = pa.table(
        {
            "topic": records.column("topic"),
            "bytes": pc.add(_lengths(records.column("key")), _lengths(records.column("value"))),
            # As `timedelta.total_seconds() * 1000`, to the last bit.
            "latency": pc.multiply(pc.divide(waited.cast(pa.float64(), safe=False), 1e6), 1000.0),
        }
    ).sort_by([("topic", "ascending"), ("latency", "ascending")])
    totals = measured.group_by("topic", use_threads=False).aggregate(
        [("bytes", "sum"), ("latency", "count")]
    )
    counts = totals.column("latency_count").to_pylist()
    starts = [sum(counts[:k]) for k in range(len(counts))]
    latency = measured.column("latency")
    rows = [
        {
            "topic": topic,
            "window_start": window,
            "records": count,
            "bytes": size,
            **{
                name: latency[start + _rank(count, share)].as_py()
                for name, share in (("latency_p50_ms", 0.5), ("latency_p95_ms", 0.95))
            },
            "latency_max_ms": latency[start + count - 1].as_py(),
        }
        for topic, size, count, start in zip(
            totals.column("topic").to_pylist(),
            totals.column("bytes_sum").to_pylist(),
            counts,
            starts,
            strict=True,
        )
    ]
    return pa.Table.from_pylist(rows, schema=ROLLUP_SCHEMA)


def topic_arrivals(records: pa.Table, *, window_seconds: float) -> pa.Table:
    """Per topic and window of the records' Kafka timestamps (when they arrived): how many of
    this batch's records arrived then, and the latest of their timestamps. A window's total is
    the sum over every batch, its last arrival the latest over every batch.

    >>> from datetime import UTC
    >>> at = datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)
    >>> raw = pa.table({"topic": ["t", "t", "t"], "timestamp": [at, at, at.replace(second=7)]})
    >>> [(r["window_start"].second, r["records"])
    ...  for r in topic_arrivals(raw, window_seconds=5).to_pylist()]
    [(0, 2), (5, 1)]
    """
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive (got {window_seconds})")
    width = round(window_seconds * 1_000_000)
    arrived = records.column("timestamp").cast(_TIME)
    micros = arrived.cast(pa.int64())
    table = pa.table(
        {
            "topic": records.column("topic"),
            "window": pc.multiply(pc.divide(micros, width), width),  # integer division
            "arrived": arrived,
        }
    )
    grouped = (
        table.group_by(["topic", "window"], use_threads=False)
        .aggregate([("arrived", "count"), ("arrived", "max")])
        .sort_by([("topic", "ascending"), ("window", "ascending")])
    )
    return pa.table(
        {
            "topic": grouped.column("topic"),
            "window_start": grouped.column("window").cast(_TIME),
            "records": grouped.column("arrived_count"),
            "last_arrival": grouped.column("arrived_max"),
        },
        schema=ARRIVAL_SCHEMA,
    )


def batch_reports(events: pa.Table) -> pa.Table:
    """The jobs' per-batch progress reports, from the monitoring events (a table of their
    `arrow_schema`, `pulse.transforms.decode.decode_tables`) of kind `batch`: `BATCH_COLUMNS`.
    A few a batch, one per query's batch: read per row."""
    rows = []
    for event in events.filter(pc.equal(events.column("kind"), "batch")).to_pylist():
        detail = _json_object(event["detail"])
        rows.append(
            {
                "query": _text(detail.get("query")) or event["component"],
                "batch_id": _whole(detail.get("batch_id"), -1),
                "component": event["component"],
                "reported_at": event["ts"],
                "rows": event["count"] or 0,
                "duration_ms": float(event["latency_ms"] or 0.0),
                "rows_per_second": _real(detail.get("processed_rows_per_second")),
                "late_rows": _whole(detail.get("late_rows"), 0),
                "lag": _whole(detail.get("lag"), None),
                "latency_p50_ms": _real(detail.get("latency_p50_ms")),
                "latency_p95_ms": _real(detail.get("latency_p95_ms")),
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


def ack_rows(events: pa.Table) -> pa.Table:
    """Producer and processing acknowledgements, from the monitoring events (as for
    `batch_reports`), one row per (event id, kind, component): the latest by time (then by
    topic and latency, so that a tie keeps the same row whatever the order). In Arrow: at eight
    times the default traffic a batch holds 6,000 of them."""
    acked = pc.and_(
        pc.is_in(events.column("kind"), pa.array(["producer_ack", "processing_ack"])),
        pc.fill_null(pc.not_equal(events.column("event_id"), ""), False),
    )
    acks = events.filter(acked)
    rows = pa.table(
        [acks.column(name) for name in ("event_id", "kind", "component", "topic", "ts")]
        + [acks.column("latency_ms")],
        schema=ACK_SCHEMA,
    ).sort_by([*((key, "ascending") for key in _ACK_KEY), *_LATEST_FIRST])
    if rows.num_rows < 2:
        return rows
    first = pa.array([True] + [False] * (rows.num_rows - 1))
    for key in _ACK_KEY:
        values = rows.column(key).combine_chunks()
        changed = pc.not_equal(values.slice(1), values.slice(0, rows.num_rows - 1))
        first = pc.or_(first, pa.concat_arrays([pa.array([True]), changed]))
    return rows.filter(first)


_ACK_KEY = ("event_id", "kind", "component")
_LATEST_FIRST = (("acked_at", "descending"), ("topic", "descending"), ("latency_ms", "descending"))


def event_times(records: pa.Table) -> pa.Array:
    """Each record's event time: the first `"ts"` (else `"timestamp"`) text in its JSON value
    that is a timestamp, else its Kafka timestamp. Found by pattern, not by parsing each value:
    a monitoring figure over every record of every topic (pulse.events.bulk reads the wire form).

    >>> from datetime import UTC
    >>> raw = pa.table({"value": [b'{"ts":"2026-01-01T00:00:02Z"}', b"x"],
    ...                 "timestamp": [datetime(2026, 1, 1, tzinfo=UTC)] * 2})
    >>> [moment.second for moment in event_times(raw).to_pylist()]
    [2, 0]
    """
    values = records.column("value").combine_chunks()
    found = _times_of(values, "ts")
    # `"timestamp"` is searched only where no `"ts"` is: each pattern is a pass over every
    # value, the largest part of the monitor's batch at eight times the default traffic.
    missing = pc.is_null(found)
    if pc.any(missing).as_py():
        later = _times_of(values.filter(missing), "timestamp")
        found = pc.replace_with_mask(found, missing, later)
    return pc.coalesce(found, records.column("timestamp").combine_chunks().cast(_TIME))


def _times_of(values: pa.Array, name: str) -> pa.Array:
    """The time in the first `"<name>": "<text>"` of each value (null where none reads)."""
    text = pc.struct_field(pc.extract_regex(values, _TEXT_OF.format(name=name)), "t")
    return _timestamps(text.cast(pa.string(), safe=False))


_TEXT_OF = r'"{name}"\s*:\s*"(?P<t>[^"\\]*)"'


def _timestamps(text: pa.Array) -> pa.Array:
    """`text` parsed as timestamps: the wire form in bulk, any other by `parse_timestamp`
    (null where neither reads it)."""
    wire = pc.fill_null(pc.match_substring_regex(text, TIMESTAMP_FORM), False)
    parsed = pc.if_else(wire, text, pa.scalar(None, pa.string())).cast(_TIME)
    odd = pc.and_(pc.is_valid(text), pc.invert(wire))
    if not pc.any(odd).as_py():
        return parsed
    moments = parsed.to_pylist()
    for row in pc.indices_nonzero(odd).to_pylist():
        try:
            moments[row] = parse_timestamp(text[row].as_py())
        except ValueError:
            continue
    return pa.array(moments, _TIME)


def _lengths(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.fill_null(pc.binary_length(column.cast(pa.binary())), 0).cast(pa.int64())


def _rank(count: int, share: float) -> int:
    """The nearest-rank index of `share` among `count` ordered values."""
    return max(0, math.ceil(share * count) - 1)


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
