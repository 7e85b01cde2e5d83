"""What is sampled every 2 s during the measured window: each query's consumer lag (the
broker's end offsets of its topics minus the offsets of the newest batch its checkpoint has
committed), the input topics' end offsets (events/s actually produced), and RSS and CPU of the
whole process tree of `pulse run`.

The lag is read from the checkpoints, not from the monitor's gauges: a query that stalls, or
the monitor itself falling behind, then shows as lag that rises (the gauges stood still at eight
times the default traffic and read as flat)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from platform_bench.launch import Platform
from pulse.config import PulseConfig
from pulse.kafka.admin import end_offsets
from pulse.kafka.batch import processed_offsets
from pulse.kafka.confluent_client import ConfluentClient
from pulse.kafka.lag import consumer_lag

INTERVAL = 2.0
INPUT_DOMAINS = ("game", "sports", "emoji", "product", "media")


@dataclass
class Samples:
    """Time series, `t` in seconds since the window opened."""

    lag: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    offsets: list[tuple[float, int]] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)  # bytes, summed per process
    pss: list[tuple[float, float]] = field(default_factory=list)  # bytes, shared pages split
    cpu: list[tuple[float, float]] = field(default_factory=list)  # % of one core
    processes: int = 0

    def events_per_second(self) -> float:
        """Events produced into the input topics per second over the window."""
        if len(self.offsets) < 2:
            return float("nan")
        (t0, first), (t1, last) = self.offsets[0], self.offsets[-1]
        return (last - first) / (t1 - t0) if t1 > t0 else float("nan")


class Sampler(threading.Thread):
    def __init__(self, conf: PulseConfig, platform: Platform) -> None:
        super().__init__(name="sampler", daemon=True)
        self._conf, self._platform = conf, platform
        # One client kept for the whole run: its follower reads the ends without ListOffsets,
        # whose cost on Tansu grows with the data (the sampler must not load what it measures).
        self._kafka = ConfluentClient(conf.kafka.client_params())
        self._topics = [getattr(conf.topics, d).name for d in INPUT_DOMAINS]
        self._cpu_times: dict[int, float] = {}
        self.samples = Samples()
        self.stopping = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        began = time.monotonic()
        next_at = began + INTERVAL
        *_, last = self._tree_cpu()  # the baseline of the first CPU figure
        while not self.stopping.wait(max(0.0, next_at - time.monotonic())):
            t = time.monotonic() - began
            self._sample_lag(t)
            self._sample_offsets(t)
            rss, pss, cpu_seconds, at = self._tree_cpu()
            self.samples.rss.append((t, rss))
            self.samples.pss.append((t, pss))
            # Over the time between two reads of the tree, whatever the other samples took.
            self.samples.cpu.append((t, 100 * cpu_seconds / max(at - last, 1e-3)))
            last = at
            next_at = max(next_at + INTERVAL, time.monotonic())
        self._kafka.close()

    def _sample_lag(self, t: float) -> None:
        try:
            checkpoints = Path(self._conf.streaming.checkpoint_dir)
            read = {
                query.name: offsets
                for query in sorted(checkpoints.iterdir())
                if (offsets := processed_offsets(query)) is not None
            }
            topics = sorted({topic for offsets in read.values() for topic in offsets})
            ends = end_offsets(self._conf.kafka, topics, self._kafka, recent=True)
            for query, offsets in read.items():
                lag = consumer_lag({topic: ends.get(topic, {}) for topic in offsets}, offsets)
                self.samples.lag.setdefault(query, []).append((t, float(sum(lag.values()))))
        except Exception as exc:  # a missed sample is noted, not fatal
            self._note(f"lag: {exc}")

    def _sample_offsets(self, t: float) -> None:
        try:
            ends = end_offsets(self._conf.kafka, self._topics, self._kafka, recent=True)
            self.samples.offsets.append((t, sum(sum(p.values()) for p in ends.values())))
        except Exception as exc:
            self._note(f"end offsets: {exc}")

    def _tree_cpu(self) -> tuple[float, float, float, float]:
        """RSS and PSS of the tree (bytes), CPU seconds its live processes used since the last
        call, and when (monotonic seconds). Forked workers (Spark's Python daemon) share pages:
        the sum of RSS counts them once per process, the sum of PSS once in all, which is the
        tree's real footprint."""
        rss, pss, used, times = 0.0, 0.0, 0.0, {}
        tree = self._platform.tree()
        self.samples.processes = max(self.samples.processes, len(tree))
        for process in tree:
            try:
                with process.oneshot():
                    memory = process.memory_full_info()
                    rss += memory.rss
                    pss += getattr(memory, "pss", memory.rss)
                    cpu = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total = cpu.user + cpu.system
            times[process.pid] = total
            used += total - self._cpu_times.get(process.pid, total)
        self._cpu_times = times
        return rss, pss, max(0.0, used), time.monotonic()

    def _note(self, error: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(error)
