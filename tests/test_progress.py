"""Per-batch progress reports: late events, lag, duration and the records' latency, as the
monitor job reads them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from pulse.events import validate
from pulse.events.domains import MONITORING
from pulse.events.schema import format_timestamp
from pulse.progress import batch_report, note_records, with_rows_read

PROGRESS = {
    "name": "emoji_windows",
    "batchId": 7,
    "numInputRows": 1200,
    "processedRowsPerSecond": 600.0,
    "durationMs": {"triggerExecution": 1850},
    "stateOperators": [
        {"numRowsDroppedByWatermark": 0},
        {"numRowsDroppedByWatermark": 3},
    ],
    "sources": [
        {
            "endOffset": json.dumps({"emoji.reactions": {"0": 100, "1": 90}}),
            "latestOffset": json.dumps({"emoji.reactions": {"0": 130, "1": 90}}),
        }
    ],
}


def test_a_batch_report_counts_late_rows_over_every_state_operator():
    detail = json.loads(batch_report("live", PROGRESS)["detail"])
    assert detail["late_rows"] == 3
    assert detail["query"] == "emoji_windows"
    assert detail["batch_id"] == 7


def test_a_batch_report_carries_lag_rows_and_duration():
    report = batch_report("live", PROGRESS)
    assert json.loads(report["detail"])["lag"] == 30
    assert report["count"] == 1200
    assert report["latency_ms"] == 1850.0
    assert report["kind"] == "batch"


def test_a_batch_report_is_a_valid_monitoring_event():
    validate(MONITORING, batch_report("live", PROGRESS))


def test_a_driver_read_batch_reports_its_rows_and_their_latency_from_kafka_to_its_end():
    # 100 records reached Kafka 0.1 s apart, from 10 s before the batch started to 0.1 s
    # before, and the batch took 0.5 s: the newest waited 0.6 s, the oldest 10.5 s.
    started = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    stamps = [started - timedelta(seconds=10 - i / 10) for i in range(100)]
    records = pa.table({"timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC"))})
    note_records("latency_probe", 3, records)
    progress = {
        "name": "latency_probe",
        "batchId": 3,
        "timestamp": format_timestamp(started),
        "numInputRows": 0,  # Spark's count: its own scan never ran
        "durationMs": {"triggerExecution": 500},
    }

    read = with_rows_read(progress)
    detail = json.loads(batch_report("live", read)["detail"])

    assert read["numInputRows"] == 100
    # Percentiles of the Kafka times, the lower of two neighbours: the 50th and the 5th
    # earliest of 100 records (5.1 and 9.6 s before the start), 0.5 s more at the end.
    assert detail["latency_p50_ms"] == 5600.0
    assert detail["latency_p95_ms"] == 10100.0
    assert with_rows_read(progress) == progress  # taken once, by its own report


def test_a_batch_that_read_nothing_reports_no_latency():
    note_records("latency_probe", 4, pa.table({"timestamp": pa.array([], pa.timestamp("us"))}))
    read = with_rows_read(
        {"name": "latency_probe", "batchId": 4, "timestamp": "2026-12-07T12:00:00.000Z",
         "durationMs": {"triggerExecution": 40}}
    )  # fmt: skip

    detail = json.loads(batch_report("live", read)["detail"])

    assert read["numInputRows"] == 0
    assert detail["latency_p50_ms"] is None and detail["latency_p95_ms"] is None
