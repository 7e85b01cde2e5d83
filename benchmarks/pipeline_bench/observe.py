"""What the benchmark watches while the job runs, each in a background thread.

- `BatchReports`: the job's own `batch` monitoring events (`pulse.progress`), read from the
  private monitoring topic with assign (no consumer group: joins take seconds on Tansu). They
  carry, per micro-batch, its rows, its duration and the Kafka offsets it ended at.
- `LedgerWatch`: the moment each batch's results became visible in Redis. The Redis sink moves
  its ledger field (`pulse:ledger`, `<query>|redis|<checkpoint>`) in the same Lua script that
  writes the hashes and publishes the messages, and a script runs alone on the server, so the
  first time the field shows batch `b` is the moment every reader could see batch `b`.
  It is polled every 10 ms (HGETALL of a one-field hash), which adds 5 ms on average.
- `ProcessSampler`: memory and CPU from `/proc` (psutil is not a dependency): resident memory
  summed over the job's process tree (spark-submit.sh, the driver JVM, the Python driver, the
  Python workers), sampled twice a second; and CPU time per part of the machine, read at the
  edges of each measured window.
"""

from __future__ import annotations

import json
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from pipeline_bench.process import cpu_seconds
from pulse.config import PulseConfig
from pulse.stores import redis_client

_SQL_SERVERS = frozenset({"postgres", "mariadbd", "mysqld"})


@dataclass(frozen=True)
class BatchReport:
    """One `batch` monitoring event of the live job."""

    query: str
    batch_id: int
    rows: int
    duration_ms: float
    finished: float  # epoch seconds: the report's `ts`, taken when the batch had committed
    lag: int
    end_offsets: dict[tuple[str, int], int]


class BatchReports(threading.Thread):
    """Collects the job's batch reports from the monitoring topic from its beginning."""

    def __init__(self, conf: PulseConfig, component: str = "live") -> None:
        super().__init__(name="batch-reports", daemon=True)
        self._conf = conf
        self._component = component
        self._reports: list[BatchReport] = []
        self._raw: list[bytes] = []
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        topic = self._conf.topics.monitoring.name
        consumer = Consumer(
            {
                **self._conf.kafka.client_params(),
                "group.id": "pulse-bench-reports",  # required by librdkafka; never joined
                "enable.auto.commit": False,
            }
        )
        try:
            partitions = range(self._conf.topics.monitoring.partitions)
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            while not self._halt.is_set():
                for message in consumer.consume(1000, 0.2):
                    if message.error() is None and message.value() is not None:
                        self._add(message.value())
        except BaseException as exc:  # surfaced by `check`: the main thread decides
            self.error = exc
        finally:
            consumer.close()

    def _add(self, value: bytes) -> None:
        event = json.loads(value)
        if event.get("kind") != "batch" or event.get("component") != self._component:
            return
        with self._lock:
            self._raw.append(value)
        detail = json.loads(event.get("detail") or "{}")
        offsets = {
            (topic, int(partition)): int(offset)
            for topic, partitions in (detail.get("end_offsets") or {}).items()
            for partition, offset in partitions.items()
        }
        report = BatchReport(
            query=str(detail.get("query")),
            batch_id=int(detail.get("batch_id", -1)),
            rows=int(event.get("count", 0)),
            duration_ms=float(event.get("latency_ms", 0.0)),
            finished=datetime.fromisoformat(event["ts"]).timestamp(),
            lag=int(detail.get("lag") or 0),
            end_offsets=offsets,
        )
        with self._lock:
            self._reports.append(report)

    def of(self, query: str) -> list[BatchReport]:
        """The reports of `query` so far, in batch order."""
        with self._lock:
            found = [r for r in self._reports if r.query == query]
        return sorted(found, key=lambda r: r.batch_id)

    def dump(self, path: Path) -> None:
        """Write every report as received, one JSON per line (kept with `--keep`)."""
        with self._lock:
            path.write_bytes(b"\n".join(self._raw) + b"\n")

    def check(self) -> None:
        """Re-raise the reader's failure, if it had one."""
        if self.error is not None:
            raise RuntimeError(f"reading the batch reports failed: {self.error}") from self.error

    def stop(self) -> None:
        """Stop reading (the thread ends within 0.2 s)."""
        self._halt.set()
        self.join(5)


class LedgerWatch(threading.Thread):
    """The first time each batch of `query` showed in the Redis sink's ledger."""

    def __init__(self, conf: PulseConfig, query: str, sink: str = "emoji_top") -> None:
        super().__init__(name="ledger-watch", daemon=True)
        self._conf = conf
        self._prefix = f"{query}|{sink}|"
        self._seen: list[tuple[int, float]] = []  # (batch id, first seen), both increasing
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        client = redis_client(self._conf.redis)
        try:
            last = -1
            while not self._halt.wait(0.01):
                fields = client.hgetall("pulse:ledger")
                now = time.time()
                for name, value in fields.items():
                    text = name.decode()
                    if text.startswith(self._prefix) and "#" not in text:
                        batch = int(value)
                        if batch > last:
                            last = batch
                            with self._lock:
                                self._seen.append((batch, now))
        except BaseException as exc:
            self.error = exc
        finally:
            client.close()

    def visible_at(self, batch_id: int) -> float | None:
        """When batch `batch_id` (or a later one) first showed in Redis; None if not yet."""
        with self._lock:
            seen = list(self._seen)
        index = bisect_left([batch for batch, _ in seen], batch_id)
        return seen[index][1] if index < len(seen) else None

    def check(self) -> None:
        """Re-raise the watcher's failure, if it had one."""
        if self.error is not None:
            raise RuntimeError(f"watching the Redis ledger failed: {self.error}") from self.error

    def stop(self) -> None:
        """Stop polling."""
        self._halt.set()
        self.join(5)


@dataclass
class MemoryPeak:
    """The largest resident memory of the job's process tree, and what it was made of."""

    rss_bytes: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # java / python / other
    processes: int = 0
    pss_bytes: int = 0  # proportional set size: shared pages divided among their users
    detail: list[tuple[int, str, int]] = field(default_factory=list)  # (pid, command, RSS)


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU seconds per part of the machine at one moment."""

    at: float
    parts: dict[str, float]  # job, producers, broker, databases, benchmark
    machine_busy: float
    machine_total: float


class ProcessSampler(threading.Thread):
    """Samples the job tree's memory every `interval` seconds; takes CPU snapshots on demand."""

    def __init__(
        self,
        job_pid: int,
        producer_pids: Iterable[int],
        broker_pid: int | None,
        redis_pid: int | None,
        interval: float,
    ) -> None:
        super().__init__(name="process-sampler", daemon=True)
        self._job = job_pid
        self._producers = list(producer_pids)
        self._broker = broker_pid
        self._redis = redis_pid  # the run's own Redis server; None: the machine's is used
        self._interval = interval
        self._halt = threading.Event()
        self.peak = MemoryPeak()
        self.samples = 0

    def run(self) -> None:
        while not self._halt.wait(self._interval):
            pids = memory_tree(self._job)
            by_kind: dict[str, int] = {}
            detail = []
            for pid in pids:
                rss = _status_kib(pid, "VmRSS") * 1024
                kind = _kind(pid)
                by_kind[kind] = by_kind.get(kind, 0) + rss
                detail.append((pid, _command(pid), rss))
            total = sum(by_kind.values())
            self.samples += 1
            if total > self.peak.rss_bytes:
                self.peak.rss_bytes, self.peak.by_kind = total, by_kind
                self.peak.processes, self.peak.detail = len(pids), detail
            if self.samples % 4 == 0:  # smaps_rollup walks page tables: costlier, less often
                pss = sum(_pss_kib(pid) * 1024 for pid in pids)
                self.peak.pss_bytes = max(self.peak.pss_bytes, pss)

    def cpu(self) -> CpuSnapshot:
        """CPU seconds used so far by the job tree, producers, broker, databases, this process.

        `databases`: the run's Redis and every PostgreSQL and MariaDB process of the machine
        (they serve other people's work too; their share here is an upper bound)."""
        servers = _SQL_SERVERS if self._redis else _SQL_SERVERS | {"redis-server"}
        databases = [pid for pid in _all_pids() if _comm(pid) in servers]
        if self._redis:
            databases.append(self._redis)
        parts = {
            "job": sum(tree_cpu(pid) for pid in process_tree(self._job)),
            "producers": sum(tree_cpu(pid) for pid in self._producers),
            "broker": tree_cpu(self._broker) if self._broker else 0.0,
            "databases": sum(tree_cpu(pid) for pid in databases),
            "benchmark": tree_cpu(os.getpid()),
        }
        busy, total = _machine_cpu()
        return CpuSnapshot(time.monotonic(), parts, busy, total)

    def stop(self) -> None:
        """Stop sampling."""
        self._halt.set()
        self.join(5)


def cores_used(first: CpuSnapshot, last: CpuSnapshot) -> dict[str, float]:
    """Average cores used by each part between two snapshots; `other` is everything else
    busy on the machine (other engineers' work, the kernel)."""
    seconds = last.at - first.at
    used = {name: (last.parts[name] - first.parts[name]) / seconds for name in first.parts}
    cores = os.cpu_count() or 1
    machine = (last.machine_busy - first.machine_busy) / (last.machine_total - first.machine_total)
    used["machine"] = machine * cores
    used["other"] = max(0.0, used["machine"] - sum(v for k, v in used.items() if k != "machine"))
    return used


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(_children(pid))
    return [pid for pid in found if Path(f"/proc/{pid}").exists()]


def memory_tree(root: int) -> list[int]:
    """`process_tree`, without children caught between fork and exec: the JVM starts every
    Python worker through a child that, until it execs, shows the JVM's command line and its
    whole resident set (measured: a second 1.8 GiB "java"). Counting it would double the JVM."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for child in _children(pid):
            if _command(child) == _command(pid) and _status_kib(child, "VmRSS") >= 0.99 * (
                _status_kib(pid, "VmRSS")
            ):
                continue  # its memory is its parent's; its own children are not there yet
            todo.append(child)
    return [pid for pid in found if Path(f"/proc/{pid}").exists()]


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children.extend(int(child) for child in task.read_text().split())
        except OSError:
            continue
    return children


def _status_kib(pid: int, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:160]


def _kind(pid: int) -> str:
    comm = _comm(pid)
    if comm == "java":
        return "java"
    return "python" if comm.startswith("python") else "other"


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return float(total - idle), float(total)


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and of the children it reaped (Spark's Python workers come
    and go under their daemon)."""
    return cpu_seconds(pid, reaped_children=True)
