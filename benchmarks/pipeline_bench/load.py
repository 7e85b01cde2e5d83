"""The load: emoji events at a set rate, from a pool of producer processes.

The producers share the machine's two cores with the broker, Spark and the databases, so every
microsecond they spend is taken from the job under test. They are made cheap:

- The events come from the real generator (`pulse.simulate.emoji.emoji_events`: its matches,
  crowds and emoji mix), drawn once into a pool; what varies per event is only its id and its
  time. Each record is put together from precomputed bytes: `{"event_id":"<run>-<process>-<n>"`
  + the precomputed `,"user_id":...,"ts":"` + the time stamp of the burst. The JSON is the same
  compact UTF-8 form `EventProducer.send_event` writes, keyed by `match_id` like the simulator.
- `ts` is taken when the burst is built (bursts are at most 10 ms of events), so it is the time
  of production, which is what the end-to-end latency is measured from. Event ids are unique
  for the run, so the job's deduplication never drops one.
- librdkafka reports only failed deliveries (`delivery.report.only.error`); otherwise the same
  tuning as Pulse's `EventProducer` (lz4, 10k per batch, idempotence), with the simulators'
  linger (`SIMULATOR_LINGER_MS`, 250 ms): Tansu's fetches walk every record batch a partition
  holds, and with 20 ms batches the later steps of a run read from partitions of 50,000
  batches and more. In one run the 100,000/s step came after four others and its batches took
  p50 1.02 s, against 0.56 s when it came second (the simulators of `make run` batch the same
  way for the same reason; a real Kafka finds an offset through its index).
- One process reaches about 350k events/s alone on this machine (2.6 s of CPU per million
  events, librdkafka's threads included). Several processes are used for the higher rates so
  that one descheduled process does not starve the offered rate.

Each process paces itself like `pulse.simulate.pacing.Pacer`: event `i` is due at
`t0 + i / rate`, and a process that fell behind catches up, so the offered rate is what was
asked whenever the CPU allows; what was actually offered is counted and reported.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from pulse.kafka.producer import THROUGHPUT_TUNING
from pulse.simulate.emoji import emoji_events
from pulse.simulate.producer import SIMULATOR_LINGER_MS

SEED = 7
POOL_EVENTS = 60_000  # distinct (user, match, emoji) records, cycled
BURST_SECONDS = 0.01  # the most sent under one time stamp
_CTX = multiprocessing.get_context("spawn")  # no fork of a process holding librdkafka threads

_TUNING = {
    **THROUGHPUT_TUNING,
    "linger.ms": SIMULATOR_LINGER_MS,
    "delivery.report.only.error": True,
}


class Shared(Protocol):
    """A number shared with a producer process (a `multiprocessing.Value` without a lock: one
    writer each, and a reader that may see it a moment late)."""

    value: Any


@dataclass(frozen=True)
class LoadTarget:
    """Where the load goes, and the run tag that keeps its event ids unique."""

    bootstrap: str
    topic: str
    run_tag: str


@dataclass
class _Worker:
    process: Any  # multiprocessing.context.SpawnProcess
    rate: Shared  # events/s asked of this process; 0 pauses it
    sent: Shared  # events handed to librdkafka so far
    failed: Shared  # deliveries that failed, or were still queued at the end
    ready: Shared


class ProducerPool:
    """`processes` producer processes; `set_rate` spreads a total rate over as few of them as
    `per_process_rate` allows."""

    def __init__(self, target: LoadTarget, processes: int, per_process_rate: float) -> None:
        self._target = target
        self._per_process_rate = per_process_rate
        self._stop = _CTX.Event()
        self._workers: list[_Worker] = []
        self._processes = processes

    def start(self, timeout: float = 120.0) -> None:
        """Spawn the processes and wait until each has drawn its pool and connected."""
        for index in range(self._processes):
            worker = _Worker(
                process=None,
                rate=_CTX.Value("d", 0.0, lock=False),
                sent=_CTX.Value("q", 0, lock=False),
                failed=_CTX.Value("q", 0, lock=False),
                ready=_CTX.Value("b", 0, lock=False),
            )
            worker.process = _CTX.Process(
                target=_produce,
                args=(
                    self._target,
                    index,
                    os.getpid(),
                    worker.rate,
                    worker.sent,
                    worker.failed,
                    worker.ready,
                    self._stop,
                ),
                name=f"bench-producer-{index}",
                daemon=True,
            )
            worker.process.start()
            self._workers.append(worker)
        deadline = time.monotonic() + timeout
        while not all(worker.ready.value for worker in self._workers):
            dead = [w.process.name for w in self._workers if not w.process.is_alive()]
            if dead:
                raise RuntimeError(f"producer processes died while starting: {', '.join(dead)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"producer processes not ready after {timeout:.0f} s")
            time.sleep(0.1)

    def set_rate(self, total: float) -> int:
        """Offer `total` events/s from now on; return how many processes share it."""
        active = (
            0 if total <= 0 else min(len(self._workers), math.ceil(total / self._per_process_rate))
        )
        for index, worker in enumerate(self._workers):
            worker.rate.value = total / active if index < active else 0.0
        return active

    def sent(self) -> int:
        """Events handed to the producers' clients so far, all processes together."""
        return sum(worker.sent.value for worker in self._workers)

    def failed(self) -> int:
        """Deliveries that failed so far (known only once librdkafka gives up on them)."""
        return sum(worker.failed.value for worker in self._workers)

    def pids(self) -> list[int]:
        """The producer processes, for the CPU accounting."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def check_alive(self) -> None:
        """Raise if a producer process died: the offered rate would silently drop."""
        dead = [w.process.name for w in self._workers if not w.process.is_alive()]
        if dead and not self._stop.is_set():
            raise RuntimeError(f"producer processes died: {', '.join(dead)}")

    def stop(self, timeout: float = 40.0) -> None:
        """Ask every process to flush and exit; kill the ones that do not within `timeout`."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.process.join(max(0.1, deadline - time.monotonic()))
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)


def event_pool(count: int = POOL_EVENTS) -> list[tuple[bytes, bytes]]:
    """(key, the record's bytes between the event id and the time stamp) of `count` generated
    emoji events."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    start = datetime.now(UTC)
    pool = []
    for event in islice(emoji_events(SEED, count / 60, start), count):
        fields = encode({k: event[k] for k in ("user_id", "match_id", "emoji")})
        pool.append((event["match_id"].encode(), f',{fields[1:-1]},"ts":"'.encode()))
    return pool


class _Stamp:
    """The record's closing bytes for the current time, `2026-11-22T20:15:00.123Z"}`: the
    wire form of `format_timestamp`, formatted once per second and per millisecond."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> bytes:
        moment = time.time()
        second = int(moment)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        return f'{self._prefix}{int((moment - second) * 1000):03d}Z"}}'.encode()


def _produce(
    target: LoadTarget,
    index: int,
    parent: int,
    rate: Shared,
    sent: Shared,
    failed: Shared,
    ready: Shared,
    stop: Any,
) -> None:
    """One producer process: pace `rate.value` events/s until `stop` or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, after Ctrl-C too

    def on_error(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failed.value += 1

    pool = event_pool()
    producer = Producer({"bootstrap.servers": target.bootstrap, **_TUNING, "on_delivery": on_error})
    producer.list_topics(target.topic, timeout=10)  # connected before the first step
    ready.value = 1
    produce, poll, topic = producer.produce, producer.poll, target.topic
    head = f'{{"event_id":"{target.run_tag}-{index}-'.encode()
    stamp = _Stamp()
    size = len(pool)
    count = 0  # events produced by this process
    current, started, base = 0.0, time.monotonic(), 0
    while not stop.is_set() and os.getppid() == parent:
        asked = rate.value
        if asked != current:
            current, started, base = asked, time.monotonic(), count
        if current <= 0:
            poll(0.05)
            continue
        elapsed = time.monotonic() - started
        todo = min(base + int(elapsed * current) - count, max(100, int(current * BURST_SECONDS)))
        if todo <= 0:
            time.sleep(max(0.001, (count + 1 - base) / current - elapsed))
            continue
        tail = stamp.now()
        for n in range(count, count + todo):
            key, middle = pool[n % size]
            value = b"".join((head, str(n).encode(), b'"', middle, tail))
            while True:
                try:
                    produce(topic, value, key)
                    break
                except BufferError:
                    poll(0.01)
        count += todo
        sent.value = count
        poll(0)
    with contextlib.suppress(Exception):
        failed.value += producer.flush(30)
