"""End-to-end latency: from an event's `ts` to the moment its count is visible in Redis.

Definitions (the figures in the report are these, nothing else):

- Per event: `visible - ts`, where `ts` is the event time the producer wrote when it built the
  record, and `visible` is when the first micro-batch that contains the event had its results
  in Redis. The batch that contains an event is known exactly from Kafka offsets: the event sits
  at (partition, offset), and each batch report carries the end offsets the batch read up to,
  so it is the first batch whose end offset in that partition is past the event's. When that
  batch became visible is `LedgerWatch`'s first sighting of its id in the Redis sink's ledger,
  written by the same atomic script as the `emoji:{match_id}` hashes and their PUBLISH.
- Per window: for each (match, 2-second event-time window), `final - window_end`, where `final`
  is when the last of its events became visible: how long after a window closes its final
  count can be read. (No event of the run is late, so no later update changes it.)

Every event produced during the measured interval is read back from the private emoji topic
(the offsets at both ends of the interval are taken while it runs), so nothing is sampled.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import Consumer, TopicPartition

from pipeline_bench.observe import BatchReport, LedgerWatch
from pipeline_bench.stats import percentile

Offsets = Mapping[int, int]  # partition -> offset of the emoji topic


@dataclass(frozen=True)
class LatencyResult:
    """Per-event and per-window latency of one measured interval, in seconds."""

    events: int
    not_visible: int  # events whose batch never showed in Redis (should be 0)
    p50: float
    p95: float
    p99: float
    worst: float
    windows: int
    window_p50: float
    window_p95: float
    samples: tuple[float, ...] = field(default=(), repr=False)  # every per-event latency, s
    window_samples: tuple[float, ...] = field(default=(), repr=False)  # every per-window one


def read_events(
    bootstrap: str, topic: str, start: Offsets, end: Offsets
) -> Iterator[tuple[int, int, bytes, float]]:
    """(partition, offset, key, ts as epoch seconds) of every record in `[start, end)`."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "pulse-bench-latency",  # required by librdkafka; never joined
            "enable.auto.commit": False,
            "queued.min.messages": 1_000_000,
        }
    )
    seconds: dict[bytes, float] = {}
    try:
        for partition, first in sorted(start.items()):
            last = end.get(partition, first)
            if last <= first:
                continue
            consumer.assign([TopicPartition(topic, partition, first)])
            offset = first
            while offset < last:
                for message in consumer.consume(min(10_000, last - offset), 5.0):
                    if message.error() is not None:
                        raise RuntimeError(f"reading {topic}: {message.error()}")
                    offset = message.offset() + 1
                    if message.offset() >= last:
                        break
                    value = message.value()
                    # Our own producer writes `..."ts":"2026-11-22T20:15:00.123Z"}` last.
                    stamp = value[-26:-2]
                    whole = seconds.get(stamp[:19])
                    if whole is None:
                        whole = datetime.fromisoformat(stamp[:19].decode() + "+00:00").timestamp()
                        seconds[stamp[:19]] = whole
                    yield (
                        partition,
                        message.offset(),
                        message.key(),
                        whole + int(stamp[20:23]) / 1000,
                    )
            consumer.unassign()
    finally:
        consumer.close()


def latency(
    events: Iterator[tuple[int, int, bytes, float]],
    topic: str,
    reports: Sequence[BatchReport],
    ledger: LedgerWatch,
    window_seconds: float,
    interval: tuple[float, float],
) -> LatencyResult:
    """Per-event and per-window latency (see the module docstring) of `events`, produced
    during `interval` (epoch seconds); only windows wholly inside it count, since the events
    of the others were read in part."""
    ordered = sorted(reports, key=lambda r: r.batch_id)
    ends: dict[int, tuple[list[int], list[int]]] = {}  # partition -> (end offsets, batch ids)
    for report in ordered:
        for (name, partition), offset in report.end_offsets.items():
            if name == topic:
                offsets, batches = ends.setdefault(partition, ([], []))
                offsets.append(offset)
                batches.append(report.batch_id)
    visible: dict[int, float | None] = {}
    delays: list[float] = []
    finals: dict[tuple[bytes, float], float] = {}
    missing = 0
    for partition, offset, key, ts in events:
        offsets, batches = ends.get(partition, ([], []))
        index = bisect_right(offsets, offset)  # the first batch that read past `offset`
        at = None
        if index < len(batches):
            batch = batches[index]
            if batch not in visible:
                visible[batch] = ledger.visible_at(batch)
            at = visible[batch]
        if at is None:
            missing += 1
            continue
        delays.append(at - ts)
        window_end = (math.floor(ts / window_seconds) + 1) * window_seconds
        slot = (key, window_end)
        finals[slot] = max(finals.get(slot, at), at)
    first, last = interval
    per_window = [
        final - window_end
        for (_, window_end), final in finals.items()
        if window_end - window_seconds >= first and window_end <= last
    ]
    return LatencyResult(
        events=len(delays) + missing,
        not_visible=missing,
        p50=percentile(delays, 50),
        p95=percentile(delays, 95),
        p99=percentile(delays, 99),
        worst=max(delays, default=math.nan),
        windows=len(per_window),
        window_p50=percentile(per_window, 50),
        window_p95=percentile(per_window, 95),
        samples=tuple(delays),
        window_samples=tuple(per_window),
    )
