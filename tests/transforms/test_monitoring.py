"""Monitoring of one batch: per-topic rollups of raw records (counts, bytes, end-to-end
latency), the jobs' batch reports and the acks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from pulse.events.schema import format_timestamp, parse_timestamp
from pulse.progress import batch_report
from pulse.transforms.decode import decode_tables
from pulse.transforms.monitoring import ack_rows, batch_reports, latest_reports, topic_rollups
from tests.test_progress import PROGRESS

PROCESSED = datetime(2026, 11, 22, 20, 15, 3, 200000, tzinfo=UTC)
WINDOW = datetime(2026, 11, 22, 20, 15, 2, tzinfo=UTC)
KAFKA_TS = datetime(2026, 11, 22, 20, 15, 3, 100000, tzinfo=UTC)


def records(*rows: tuple) -> pa.Table:
    """Raw Kafka records: (key, value, topic, timestamp)."""
    keys, values, topics, times = zip(*rows, strict=True)
    return pa.table(
        {
            "topic": list(topics),
            "key": pa.array(keys, pa.binary()),
            "value": pa.array(values, pa.binary()),
            "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )


def monitoring_events(*events: dict) -> pa.Table:
    """The events as the monitor has them: records of the monitoring topic, received now (an
    event time too far past it is refused), decoded in Arrow."""
    now = datetime.now(UTC)
    raw = records(*((None, json.dumps(e).encode(), "platform.monitoring", now) for e in events))
    return decode_tables(raw, {"platform.monitoring": "monitoring"})["monitoring"]


def rollups(table: pa.Table, processed_at: datetime = PROCESSED) -> dict[str, tuple]:
    return {
        r["topic"]: (
            r["window_start"],
            r["records"],
            r["bytes"],
            r["latency_p50_ms"],
            r["latency_p95_ms"],
            r["latency_max_ms"],
        )
        for r in topic_rollups(table, window_seconds=2, processed_at=processed_at).to_pylist()
    }


def test_rollups_count_records_bytes_and_latency_per_topic():
    media = b'{"id":"me-1","timestamp":"2026-11-22T20:15:02.200Z"}'
    table = records(
        (b"m1", b'{"ts":"2026-11-22T20:15:03.000Z"}', "emoji.reactions", KAFKA_TS),  # 33 bytes
        (b"m1", b'{"ts":"2026-11-22T20:15:02.700Z"}', "emoji.reactions", KAFKA_TS),
        (b"m2", b'{"ts":"2026-11-22T20:15:01.200Z"}', "emoji.reactions", KAFKA_TS),
        (b"me-1", media, "media.events", KAFKA_TS),
    )
    assert rollups(table) == {
        "emoji.reactions": (WINDOW, 3, 3 * (2 + 33), 500.0, 2000.0, 2000.0),
        "media.events": (WINDOW, 1, 4 + 52, 1000.0, 1000.0, 1000.0),
    }


def test_records_without_a_json_event_time_use_the_kafka_timestamp():
    table = records(
        (None, b"not json", "raw.topic", KAFKA_TS),
        (None, b'{"ts":"yesterday"}', "raw.topic", KAFKA_TS),
        (None, None, "raw.topic", KAFKA_TS),
    )
    assert rollups(table) == {"raw.topic": (WINDOW, 3, 8 + 18, 100.0, 100.0, 100.0)}


def test_the_window_is_the_one_of_the_batch_time_not_of_the_record_timestamps():
    early = datetime(2026, 11, 22, 20, 14, 0, tzinfo=UTC)
    table = records((None, b'{"ts":"2026-11-22T20:14:00.000Z"}', "t", early))
    later = datetime(2026, 11, 22, 20, 15, 4, 200000, tzinfo=UTC)
    assert rollups(table, later)["t"][0] == datetime(2026, 11, 22, 20, 15, 4, tzinfo=UTC)
    assert rollups(table, later)["t"][3] == 64200.0


def test_a_window_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="window_seconds must be positive"):
        topic_rollups(
            records((None, b"{}", "t", KAFKA_TS)), window_seconds=0, processed_at=PROCESSED
        )


def test_batch_reports_bring_late_rows_lag_and_latency_to_the_dashboard_tables():
    progress = {**PROGRESS, "recordLatencyMs": {"p50": 700.0, "p95": 1400.0}}
    event = json.loads(json.dumps(batch_report("live", progress)))  # as the topic carries it
    rows = batch_reports(monitoring_events(event, {**event, "kind": "producer_ack"})).to_pylist()
    assert [
        (r["query"], r["batch_id"], r["rows"], r["late_rows"], r["lag"], r["latency_p50_ms"],
         r["latency_p95_ms"]) for r in rows
    ] == [("emoji_windows", 7, 1200, 3, 30, 700.0, 1400.0)]  # fmt: skip


def test_the_gauge_of_a_query_is_its_newest_report():
    event = json.loads(json.dumps(batch_report("live", PROGRESS)))
    later = format_timestamp(parse_timestamp(event["ts"]) + timedelta(seconds=1))
    newer = {**event, "ts": later, "count": 5}
    latest = latest_reports(batch_reports(monitoring_events(newer, event))).to_pylist()
    assert [(r["query"], r["rows"]) for r in latest] == [("emoji_windows", 5)]


# A producer ack as the ingest API sends it (pulse.services.ingest.records.producer_ack).
ACK = {
    "id": "a1",
    "component": "ingest",
    "kind": "producer_ack",
    "event_id": "e1",
    "topic": "emoji.reactions",
    "ts": "2026-11-22T20:15:00.000Z",
    "latency_ms": 3.0,
}


def test_acks_keep_the_latest_of_each_event_kind_and_component():
    ack = ACK
    later = {**ack, "id": "a2", "ts": "2026-11-22T20:15:01.000Z", "latency_ms": 4.0}
    other = {**ack, "id": "a3", "kind": "batch"}
    processed = {**ack, "id": "a4", "kind": "processing_ack", "component": "enrich"}
    rows = ack_rows(monitoring_events(later, ack, other, processed)).to_pylist()
    assert [(r["event_id"], r["kind"], r["component"], r["latency_ms"]) for r in rows] == [
        ("e1", "processing_ack", "enrich", 3.0),
        ("e1", "producer_ack", "ingest", 4.0),
    ]


def test_acks_of_the_same_time_keep_one_row_whatever_their_order():
    ack = ACK
    again = {**ack, "id": "a2", "latency_ms": 5.0}
    forward = ack_rows(monitoring_events(ack, again)).to_pylist()
    backward = ack_rows(monitoring_events(again, ack)).to_pylist()
    assert forward == backward
    assert [r["latency_ms"] for r in forward] == [5.0]


def test_an_event_time_of_a_clock_never_set_is_a_latency_like_any_other():
    table = records((None, b'{"ts":"0001-01-01T00:00:00Z"}', "t", KAFKA_TS))
    latency = rollups(table)["t"][3]
    assert latency == (PROCESSED - datetime(1, 1, 1, tzinfo=UTC)).total_seconds() * 1000
