"""Each job reports every micro-batch it completes on `platform.monitoring`.

A `StreamingQueryListener` turns Spark's query progress into a monitoring event (kind `batch`):
rows, batch duration, rows dropped by the watermark (late events), and the source offsets from
which the monitor job computes consumer lag. The monitor job rolls these up with the rest.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

from pulse.config import PulseConfig
from pulse.events.schema import format_timestamp, parse_timestamp
from pulse.kafka.lag import consumer_lag
from pulse.kafka.producer import EventProducer
from pulse.queryhealth import HealthBoard
from pulse.stores import redis_client

log = logging.getLogger("pulse.progress")
_T = TypeVar("_T")


# Late events dropped by queries whose state the driver keeps (pulse.batchstate), by (query,
# batch id), until the batch's progress report takes them: Spark's progress knows only the
# late rows of its own state operators.
_LATE: dict[tuple[str, int], int] = {}


# Rows read by queries that read their batch on the driver (pulse.kafka.batch), by (query,
# batch id): Spark's progress counts only rows its scan read, and theirs never runs.
_ROWS: dict[tuple[str, int], int] = {}
# When the records of those batches reached Kafka, by (query, batch id): the median and the 5th
# percentile of their Kafka timestamps (µs), from which the report gives the latency of the
# batch's records at its end, p50 and p95 (the earliest records waited longest).
_PRODUCED: dict[tuple[str, int], tuple[int, int]] = {}
# The last batch's start per query (None: an unnamed query), for its input rate.
_STARTED: dict[str | None, float] = {}


def note_late(query: str, batch_id: int, rows: int) -> None:
    """Remember that batch `batch_id` of `query` dropped `rows` late events, for its report."""
    _note(_LATE, query, batch_id, rows)


def note_records(query: str, batch_id: int, records: pa.Table) -> None:
    """Remember how many Kafka records (`pulse.kafka.records.RECORD_SCHEMA`) batch `batch_id`
    of `query` read, and when they reached Kafka, for its report."""
    _note(_ROWS, query, batch_id, records.num_rows)
    if records.num_rows:
        stamps = records.column("timestamp").cast(pa.int64())
        early, middle = pc.quantile(stamps, q=[0.05, 0.5], interpolation="lower").to_pylist()
        _note(_PRODUCED, query, batch_id, (int(middle), int(early)))


def _note(notes: dict[tuple[str, int], _T], query: str, batch_id: int, value: _T) -> None:
    notes[(query, batch_id)] = value
    for stale in [key for key in notes if key[0] == query and key[1] < batch_id - 100]:
        del notes[stale]


def with_rows_read(progress: dict[str, Any]) -> dict[str, Any]:
    """Spark's progress with the rows its query read on the driver, if it noted them: the count
    and the two rates Spark derives from it, over the batch's duration and over the time since
    the previous batch's start; and Pulse's `recordLatencyMs`, the p50 and p95 of the time from
    Kafka to the batch's end (its sinks written, its offsets committed) of those records.

    That is the end-to-end latency of the query's outputs as the job itself sees it, every
    batch: the monitor's own rollups (`monitoring_rollups`) measure the time to its batch,
    which includes its 5 s trigger and says nothing of the live paths.
    """
    query: str | None = progress.get("name")  # None: an unnamed query
    batch_id: int | None = progress.get("batchId")
    stamp = progress.get("timestamp")
    started = parse_timestamp(stamp).timestamp() if stamp else None
    previous = _STARTED.get(query)
    if started is not None:
        _STARTED[query] = started
    rows = produced = None  # both are noted under a query's name and batch id
    if query is not None and batch_id is not None:
        rows = _ROWS.pop((query, batch_id), None)
        produced = _PRODUCED.pop((query, batch_id), None)
    if rows is None:
        return progress
    seconds = progress.get("durationMs", {}).get("triggerExecution", 0) / 1000
    interval = started - previous if started is not None and previous is not None else 0
    read = {
        **progress,
        "numInputRows": rows,
        "processedRowsPerSecond": rows / seconds if seconds > 0 else None,
        "inputRowsPerSecond": rows / interval if interval > 0 else None,
    }
    if produced is not None and started is not None:
        ended_us = (started + seconds) * 1_000_000
        middle, early = produced
        read["recordLatencyMs"] = {
            "p50": (ended_us - middle) / 1000,
            "p95": (ended_us - early) / 1000,
        }
    return read


def batch_report(job: str, progress: dict[str, Any]) -> dict[str, Any]:
    """The monitoring event of one query progress (Spark's progress JSON as a dict)."""
    late = sum(op.get("numRowsDroppedByWatermark", 0) for op in progress.get("stateOperators", []))
    query: str | None = progress.get("name")
    batch_id: int | None = progress.get("batchId")
    if query is not None and batch_id is not None:  # late rows are noted under a name and id
        late += _LATE.pop((query, batch_id), 0)
    end_offsets: dict[str, Any] = {}
    latest_offsets: dict[str, Any] = {}
    for source in progress.get("sources", []):
        end_offsets.update(_offsets(source.get("endOffset")))
        latest_offsets.update(_offsets(source.get("latestOffset")))
    lag = sum(consumer_lag(latest_offsets, end_offsets).values())
    latency: dict[str, float] = progress.get("recordLatencyMs") or {}
    detail = {
        "query": progress.get("name"),
        "batch_id": progress.get("batchId"),
        "input_rows_per_second": progress.get("inputRowsPerSecond"),
        "processed_rows_per_second": progress.get("processedRowsPerSecond"),
        "late_rows": late,
        "lag": lag,
        "latency_p50_ms": latency.get("p50"),
        "latency_p95_ms": latency.get("p95"),
        "end_offsets": end_offsets,
        "latest_offsets": latest_offsets,
    }
    return {
        "id": f"batch-{uuid.uuid4().hex}",
        "ts": format_timestamp(datetime.now(UTC)),
        "component": job,
        "kind": "batch",
        "count": int(progress.get("numInputRows", 0)),
        "latency_ms": float(progress.get("durationMs", {}).get("triggerExecution", 0)),
        "detail": json.dumps(detail, separators=(",", ":")),
    }


class ProgressPublisher(StreamingQueryListener):
    """Publishes a `batch` monitoring event for every progress of every query of a job."""

    def __init__(self, jobs: Mapping[str, str], conf: PulseConfig) -> None:
        self._jobs = dict(jobs)  # query name -> the job it belongs to (the report's component)
        self._board = HealthBoard(redis_client(conf.redis))
        self._topic = conf.topics.monitoring.name
        self._producer: EventProducer | None = EventProducer(conf.kafka, **{"linger.ms": 100})
        self._java: Any = None  # `_jlistener`, made when the listener is added

    def onQueryStarted(self, event: Any) -> None:
        """Nothing to report before the first batch."""

    @property
    def _jlistener(self) -> Any:
        """Spark's side of this listener (pyspark reads this attribute in `addListener`): it
        hands each progress on as Spark's JSON text, one Py4J call. pyspark's own wrapper
        builds a `StreamingQueryProgress` field by field, a Py4J round trip each (and an
        exception converted at the end of every Java map): py-spy at eight times the default
        traffic found that 11 % of the lake and monitor's driver, 6 % of the live views'."""
        if self._java is None:
            from pyspark import SparkContext

            jvm = SparkContext._jvm
            assert jvm is not None, "a listener is added to a running session"
            self._java = jvm.PythonStreamingQueryListenerWrapper(_JsonProgress(self))
        return self._java

    def onQueryProgress(self, event: Any) -> None:
        self.publish(event.progress.json)

    def publish(self, progress_json: str) -> None:
        """Report one progress (Spark's JSON): a log line, a `batch` event on the monitoring
        topic, the query's line on the health board."""
        progress: dict[str, Any] = {}
        try:
            progress = with_rows_read(json.loads(progress_json))
            durations = progress.get("durationMs", {})
            log.info(
                "%s batch %s: %s rows in %s ms (%s)",
                progress.get("name"),
                progress.get("batchId"),
                progress.get("numInputRows"),
                durations.get("triggerExecution"),
                ", ".join(f"{k} {v}" for k, v in durations.items() if k != "triggerExecution"),
            )
            query: str | None = progress.get("name")  # None: an unnamed query
            job = self._jobs.get(query, "pulse") if query is not None else "pulse"
            report = batch_report(job, progress)
            if self._producer is not None:
                self._producer.send_event(self._topic, job, report)
            if query is None:
                return  # the health board keeps reports by query name
            self._board.update(
                query,
                batch_id=progress.get("batchId"),
                last_batch_at=time.time(),
                duration_ms=durations.get("triggerExecution"),
                rows=progress.get("numInputRows"),
                lag=json.loads(report["detail"])["lag"],
                latency_p95_ms=(progress.get("recordLatencyMs") or {}).get("p95"),
            )
        except Exception:  # a monitoring hiccup must never stop the data path
            log.exception("could not publish the progress of %s", progress.get("name"))

    def onQueryIdle(self, event: Any) -> None:
        """Idle triggers carry no batch."""

    def onQueryTerminated(self, event: Any) -> None:
        self.flush(10)

    def close(self) -> None:
        """Let the producer go once the listener has left the session (Py4J may hold the
        listener as long as the session lives): no idle producer stays connected."""
        self._producer = None

    def flush(self, timeout_seconds: float) -> None:
        """Wait until the reports published so far are acknowledged."""
        if self._producer is None:
            return
        try:
            self._producer.flush(timeout_seconds)
        except Exception:  # monitoring must never fail the data path
            log.exception(
                "progress reports of %s not acknowledged", sorted(set(self._jobs.values()))
            )


class _JsonProgress:
    """Implements Spark's `PythonStreamingQueryListener` through Py4J for a `ProgressPublisher`:
    a progress arrives as its JSON text (`ProgressPublisher._jlistener` says why)."""

    def __init__(self, publisher: ProgressPublisher) -> None:
        self._publisher = publisher

    def onQueryStarted(self, jevent: Any) -> None:
        """Nothing to report before the first batch."""

    def onQueryProgress(self, jevent: Any) -> None:
        self._publisher.publish(jevent.progress().json())

    def onQueryIdle(self, jevent: Any) -> None:
        """Idle triggers carry no batch."""

    def onQueryTerminated(self, jevent: Any) -> None:
        self._publisher.flush(10)

    class Java:
        implements: ClassVar = ["org.apache.spark.sql.streaming.PythonStreamingQueryListener"]


_PUBLISHERS: list[ProgressPublisher] = []


@contextmanager
def publishing_progress(
    spark: SparkSession, jobs: Mapping[str, str], conf: PulseConfig
) -> Iterator[ProgressPublisher]:
    """Within the block, a `ProgressPublisher` for the queries in `jobs` (query -> job); at its
    end the listener leaves the session, so that a session hosting one run after another (a
    test session) reports each query once."""
    listener = ProgressPublisher(jobs, conf)
    spark.streams.addListener(listener)
    _PUBLISHERS.append(listener)
    try:
        yield listener
    finally:
        drain_progress(spark)
        spark.streams.removeListener(listener)
        _PUBLISHERS.remove(listener)
        listener.close()


def drain_progress(spark: SparkSession, timeout_seconds: float = 10.0) -> None:
    """Deliver the progress reports still queued before the job exits.

    Spark hands progress to listeners asynchronously: a short `--available-now` run would
    otherwise exit before its last reports reach Kafka, and the monitor would never see them.
    """
    try:
        bus = spark.sparkContext._jsc.sc().listenerBus()
        bus.waitUntilEmpty(int(timeout_seconds * 1000))
    except Exception as exc:  # a report lost at shutdown must not turn a clean run into a failure
        log.warning("progress reports may be incomplete: %s", exc)
    for publisher in _PUBLISHERS:
        publisher.flush(timeout_seconds)


def _offsets(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}
