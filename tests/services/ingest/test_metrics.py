"""The Prometheus text: counters by label, the queue gauge, a cumulative latency histogram."""

from __future__ import annotations

from pulse.services.ingest.metrics import IngestMetrics, render


def test_counts_render_as_prometheus_text() -> None:
    metrics = IngestMetrics(max_queue=100, buckets=(0.1, 1.0))
    metrics.request("/v1/emoji", 202)
    metrics.request("/v1/emoji", 202)
    metrics.request('/odd"path', 404)
    metrics.accepted("emoji", 2)
    metrics.rejected("invalid")
    for latency in (0.05, 0.1, 0.5, 3.0):
        metrics.delivered(latency)
    metrics.delivery_failed()

    lines = render(metrics.snapshot(queue_depth=7)).splitlines()

    assert 'pulse_ingest_requests_total{path="/v1/emoji",status="202"} 2' in lines
    assert 'pulse_ingest_requests_total{path="/odd\\"path",status="404"} 1' in lines
    assert 'pulse_ingest_events_accepted_total{domain="emoji"} 2' in lines
    assert 'pulse_ingest_requests_rejected_total{reason="invalid"} 1' in lines
    assert "pulse_ingest_producer_queue_depth 7" in lines
    assert "pulse_ingest_delivered_total 4" in lines
    assert "pulse_ingest_delivery_failed_total 1" in lines
    assert "# TYPE pulse_ingest_delivery_latency_seconds histogram" in lines
    histogram = [line for line in lines if line.startswith("pulse_ingest_delivery_latency")]
    assert histogram == [
        'pulse_ingest_delivery_latency_seconds_bucket{le="0.1"} 2',
        'pulse_ingest_delivery_latency_seconds_bucket{le="1"} 3',
        'pulse_ingest_delivery_latency_seconds_bucket{le="+Inf"} 4',
        "pulse_ingest_delivery_latency_seconds_sum 3.65",
        "pulse_ingest_delivery_latency_seconds_count 4",
    ]
