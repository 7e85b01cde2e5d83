"""The one sink abstraction, and the `foreachBatch` function that writes a batch to all sinks.
Spark replays a batch after a crash, so every sink makes a replay harmless, keyed by `(query,
sink, checkpoint_id, batch_id)`: `checkpoint_id` is the id in the checkpoint's `metadata` file,
so a query on a fresh checkpoint (batch ids from 0 again) never mistakes its batches for old
ones (see "Writing exactly once" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import pyarrow as pa
from pyspark.sql import DataFrame

from pulse import collector
from pulse.sinks.errors import DuplicateKeyError, SinkDefinitionError

log = logging.getLogger("pulse.sinks")


# A micro-batch as a sink sees it: a Spark frame, or an Arrow table that the query's `prepare`
# already computed on the driver (then no sink starts a Spark job of its own). A `prepare` may
# also return an object of several tables, which `Derived` sinks pick from.
Batch: TypeAlias = DataFrame | pa.Table


@dataclass(frozen=True)
class BatchContext:
    """Which batch of which query (and which checkpoint) a sink is writing."""

    query: str
    checkpoint_id: str
    batch_id: int


class Sink(Protocol):
    """Writes one micro-batch somewhere, exactly once per `BatchContext`."""

    @property
    def name(self) -> str:
        """Unique among a query's sinks: the idempotency key's `sink`."""
        ...

    def write(self, frame: Batch, ctx: BatchContext) -> None:
        """Write the batch, or nothing if this (query, checkpoint, batch) is already written."""
        ...


@dataclass(frozen=True)
class Derived:
    """A sink fed with a transform of the batch, so one query can feed differently shaped sinks.

    The batch is persisted once by `batch_writer`; each derived sink computes its own view of it
    (silver rows of one topic, dead letters, top emojis, ...) without reading Kafka again.
    """

    sink: Sink
    transform: Callable[[Any], Batch]

    @property
    def name(self) -> str:
        """The wrapped sink's name: the idempotency key stays the sink's."""
        return self.sink.name

    def write(self, frame: Any, ctx: BatchContext) -> None:
        """Write the transformed batch to the wrapped sink."""
        self.sink.write(self.transform(frame), ctx)


@dataclass(frozen=True)
class Together:
    """Several sinks written at the same time, as one sink named `name`.

    For sinks that are each exactly once on their own (a Delta table under its own app
    transaction) and spend their time outside Python's lock (delta-rs encodes and writes in
    Rust): the lake's eight Delta tables, one after another, took 1.2-1.6 s of a 4-s batch at
    four times the default traffic. A retry writes the group again; the members already
    written skip themselves. Not for sinks whose order matters (SQL before Redis, where a
    reader of Redis expects the SQL rows), nor for Delta merges through Spark (their app
    transaction is a session setting, `DeltaAppend._merge_with_spark`).
    """

    name: str
    sinks: tuple[Sink, ...]

    def write(self, frame: Any, ctx: BatchContext) -> None:
        """Write every member; the first member's error (in their order) fails the group."""
        with ThreadPoolExecutor(len(self.sinks), thread_name_prefix=self.name) as pool:
            written = [pool.submit(sink.write, frame, ctx) for sink in self.sinks]
        for future in written:
            future.result()


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff before a failing sink fails the batch."""

    attempts: int = 5
    first_delay_seconds: float = 0.5
    max_delay_seconds: float = 8.0

    def run(self, what: str, action: Callable[[], None]) -> None:
        """Run `action`, retrying on any exception; re-raise the last one when attempts run out."""
        delay = self.first_delay_seconds
        for attempt in range(1, self.attempts + 1):
            try:
                action()
                return
            except (SinkDefinitionError, DuplicateKeyError):
                raise  # a mistake in the job or the batch: trying again cannot help
            except Exception as exc:
                if attempt == self.attempts:
                    raise
                log.warning("%s failed (attempt %d of %d): %s", what, attempt, self.attempts, exc)
                time.sleep(delay)
                delay = min(delay * 2, self.max_delay_seconds)


def checkpoint_id(checkpoint: Path) -> str:
    """The query id Spark wrote into the checkpoint when the query first started."""
    return str(json.loads((checkpoint / "metadata").read_text().splitlines()[0])["id"])


Prepare = Callable[[DataFrame, BatchContext], Any]
# Told what went wrong at each failed write attempt ("<sink>: <error>"), and "" once a batch is
# written: the query's health says "retrying" from the first failure, not only when the retries
# run out and the query restarts (seconds later).
WriteWatch = Callable[[str], None]


def batch_writer(
    query: str,
    checkpoint: Path,
    sinks: Sequence[Sink],
    prepare: Prepare | None = None,
    retry: RetryPolicy | None = None,
    watch: WriteWatch | None = None,
) -> Callable[[DataFrame, int], None]:
    """The `foreachBatch` function of a query: prepare the batch once, write every sink.

    `prepare` (optional) adds what the batch needs from outside, such as subscriptions read
    fresh, or computes the whole batch on the driver as an Arrow table (one Spark job per
    batch, whatever the number of sinks). A frame is persisted instead, so that several sinks
    do not recompute it from Kafka.
    """
    policy = retry or RetryPolicy()
    names = [sink.name for sink in sinks]
    if len(set(names)) != len(names):
        # Sinks of one query share the ledger by name: two of a name would skip each other.
        raise SinkDefinitionError(f"query {query}: sink names repeat: {sorted(names)}")

    def write(frame: DataFrame, batch_id: int) -> None:
        # A batch makes hundreds of thousands of short-lived objects (Kafka messages, rows for
        # the stores) and no cycles: collections during it only cost time (pulse.collector).
        with collector.paused():
            write_batch(frame, batch_id)

    def write_batch(frame: DataFrame, batch_id: int) -> None:
        ctx = BatchContext(query, checkpoint_id(checkpoint), batch_id)
        began = time.perf_counter()
        prepared = prepare(frame, ctx) if prepare else frame
        timings = [f"prepare {time.perf_counter() - began:.2f} s"] if prepare else []
        cached: list[Any] = [prepared.persist() if isinstance(prepared, DataFrame) else prepared]

        def attempt(sink: Sink) -> None:
            try:
                sink.write(cached[0], ctx)
            except Exception as exc:
                if watch is not None:
                    watch(f"{sink.name}: {type(exc).__name__}: {exc}")
                if not isinstance(cached[0], DataFrame):
                    raise  # plain data on the driver: nothing in it to go stale
                # The next attempt starts from a freshly planned and cached batch: a failure in
                # Spark itself (a task that cannot be deserialized under load, seen in CI) can
                # stick to the cached plan, so retrying on the same one would fail every time.
                cached[0].unpersist()
                cached[0] = (prepare(frame, ctx) if prepare else frame).persist()
                raise

        try:
            for sink in sinks:
                began = time.perf_counter()
                policy.run(f"{query} batch {batch_id} -> {sink.name}", partial(attempt, sink))
                timings.append(f"{sink.name} {time.perf_counter() - began:.2f} s")
        finally:
            if isinstance(cached[0], DataFrame):
                cached[0].unpersist()
        if watch is not None:
            watch("")
        # Where a batch's time goes, sink by sink: the first thing to read when batches run long.
        log.info("%s batch %d written: %s", query, batch_id, ", ".join(timings))

    return write
