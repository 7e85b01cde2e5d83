"""Per-batch progress reports: late events, lag and duration, as the monitor job reads them."""

from __future__ import annotations

import json

from pulse.events import validate
from pulse.events.domains import MONITORING
from pulse.progress import batch_report

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
