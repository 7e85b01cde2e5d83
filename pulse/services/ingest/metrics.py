"""The ingest API's counters, and their Prometheus text exposition (format 0.0.4).

Hand-written rather than a client library: a handful of series, no registry to share. Counting
(`IngestMetrics`, thread-safe: requests count on the event loop, deliveries on the producer's
thread) is kept apart from rendering (`render`, a pure function of a `Snapshot`).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "pulse_ingest"
# Seconds from the 202 to Kafka's acknowledgement; the flush interval (500 ms) dominates it.
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10)


@dataclass(frozen=True)
class Snapshot:
    """Every value at one moment, for rendering."""

    requests: dict[tuple[str, str], int]  # (route path, status) -> count
    accepted: dict[str, int]  # domain -> events accepted (202)
    rejected: dict[str, int]  # reason -> requests refused
    delivered: int
    delivery_failed: int
    queue_depth: int
    max_queue: int
    latency_buckets: tuple[float, ...]
    latency_counts: tuple[int, ...]  # per bucket, not cumulative; one more for +Inf
    latency_sum: float


@dataclass
class IngestMetrics:
    """What the API and its producer count while running."""

    max_queue: int
    buckets: tuple[float, ...] = LATENCY_BUCKETS
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    _accepted: Counter[str] = field(default_factory=Counter)
    _rejected: Counter[str] = field(default_factory=Counter)
    _delivered: int = 0
    _failed: int = 0
    _latency_counts: list[int] = field(default_factory=list)
    _latency_sum: float = 0.0

    def __post_init__(self) -> None:
        self._latency_counts = [0] * (len(self.buckets) + 1)

    def request(self, path: str, status: int) -> None:
        """One answered request; `path` is the route's template, so ids do not make new series."""
        with self._lock:
            self._requests[(path, str(status))] += 1

    def accepted(self, domain: str, count: int) -> None:
        """Events of `domain` handed to the producer and answered 202."""
        with self._lock:
            self._accepted[domain] += count

    def rejected(self, reason: str) -> None:
        """A request refused, by reason (`invalid`, `too_large`, `unauthorized`, ...)."""
        with self._lock:
            self._rejected[reason] += 1

    def delivered(self, latency_seconds: float) -> None:
        """One record acknowledged by Kafka, `latency_seconds` after it was accepted."""
        index = bisect_left(self.buckets, latency_seconds)
        with self._lock:
            self._delivered += 1
            self._latency_counts[index] += 1
            self._latency_sum += latency_seconds

    def delivery_failed(self) -> None:
        """One record Kafka refused or lost after it had been accepted."""
        with self._lock:
            self._failed += 1

    def snapshot(self, queue_depth: int) -> Snapshot:
        """A consistent copy of every value, with the producer's current queue depth."""
        with self._lock:
            return Snapshot(
                requests=dict(self._requests),
                accepted=dict(self._accepted),
                rejected=dict(self._rejected),
                delivered=self._delivered,
                delivery_failed=self._failed,
                queue_depth=queue_depth,
                max_queue=self.max_queue,
                latency_buckets=self.buckets,
                latency_counts=tuple(self._latency_counts),
                latency_sum=self._latency_sum,
            )


def render(snapshot: Snapshot) -> str:
    """The Prometheus text exposition of a snapshot."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> None:
        lines.append(f"# HELP {PREFIX}_{name} {help_text}")
        lines.append(f"# TYPE {PREFIX}_{name} {kind}")
        lines.extend(samples)

    family(
        "requests_total",
        "counter",
        "HTTP requests answered, by route and status.",
        (
            f"{PREFIX}_requests_total{_labels(path=path, status=status)} {count}"
            for (path, status), count in sorted(snapshot.requests.items())
        ),
    )
    family(
        "events_accepted_total",
        "counter",
        "Events answered 202 and handed to the producer, by domain.",
        (
            f"{PREFIX}_events_accepted_total{_labels(domain=domain)} {count}"
            for domain, count in sorted(snapshot.accepted.items())
        ),
    )
    family(
        "requests_rejected_total",
        "counter",
        "Requests refused, by reason.",
        (
            f"{PREFIX}_requests_rejected_total{_labels(reason=reason)} {count}"
            for reason, count in sorted(snapshot.rejected.items())
        ),
    )
    family(
        "delivered_total",
        "counter",
        "Accepted events acknowledged by Kafka.",
        [f"{PREFIX}_delivered_total {snapshot.delivered}"],
    )
    family(
        "delivery_failed_total",
        "counter",
        "Accepted events Kafka refused or lost.",
        [f"{PREFIX}_delivery_failed_total {snapshot.delivery_failed}"],
    )
    family(
        "producer_queue_depth",
        "gauge",
        "Events accepted and not yet acknowledged by Kafka.",
        [f"{PREFIX}_producer_queue_depth {snapshot.queue_depth}"],
    )
    family(
        "producer_queue_max",
        "gauge",
        "Queue depth at which requests are answered 503.",
        [f"{PREFIX}_producer_queue_max {snapshot.max_queue}"],
    )
    family(
        "delivery_latency_seconds",
        "histogram",
        "Seconds from an event's 202 to Kafka's acknowledgement.",
        _histogram(
            f"{PREFIX}_delivery_latency_seconds",
            snapshot.latency_buckets,
            snapshot.latency_counts,
            snapshot.latency_sum,
        ),
    )
    return "\n".join(lines) + "\n"


def _histogram(
    name: str, buckets: tuple[float, ...], counts: tuple[int, ...], total: float
) -> list[str]:
    samples, cumulative = [], 0
    for bound, count in zip((*buckets, float("inf")), counts, strict=True):
        cumulative += count
        shown = "+Inf" if bound == float("inf") else _number(bound)
        samples.append(f"{name}_bucket{_labels(le=shown)} {cumulative}")
    samples.append(f"{name}_sum {_number(total)}")
    samples.append(f"{name}_count {cumulative}")
    return samples


def _labels(**labels: str) -> str:
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))
