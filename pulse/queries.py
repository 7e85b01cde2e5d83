"""Starting and supervising streaming queries, of one job or of all of them in one driver: each
`QuerySpec` gets its checkpoint under `streaming.checkpoint_dir/<name>`, its own FAIR scheduler
pool and one `foreachBatch` writer, and a query that fails is restarted from its checkpoint
after a growing pause, so a stopped database delays results but loses none.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pulse.config import PulseConfig, load_config
from pulse.interrupts import on_stop_signals
from pulse.progress import drain_progress, publishing_progress
from pulse.queryhealth import HealthBoard, error_line
from pulse.sinks.base import Prepare, Sink, WriteWatch, batch_writer
from pulse.spark import session
from pulse.stores import redis_client

log = logging.getLogger("pulse.queries")

OutputMode = Literal["append", "update"]
_MAX_RESTART_PAUSE = 30.0
# A catch-up run (`--available-now`) restarts a failed query this often before it gives up; a
# continuous run never gives up (a database that is down for a while must not end the job).
_AVAILABLE_NOW_RESTARTS = 3


@dataclass(frozen=True)
class QuerySpec:
    """One streaming query: what it computes and where every batch goes."""

    name: str
    frame: DataFrame
    sinks: Sequence[Sink]
    trigger_seconds: float
    output_mode: OutputMode = "append"
    prepare: Prepare | None = None


def checkpoint_of(conf: PulseConfig, name: str) -> Path:
    """Where query `name` keeps its offsets, state and commits."""
    return Path(conf.streaming.checkpoint_dir) / name


def start(
    spec: QuerySpec,
    conf: PulseConfig,
    *,
    available_now: bool = False,
    watch: WriteWatch | None = None,
) -> StreamingQuery:
    """Start one query with its checkpoint, trigger and `foreachBatch` writer (`watch` is told
    of each failed write attempt, see pulse.sinks.base.WriteWatch)."""
    checkpoint = checkpoint_of(conf, spec.name)
    # A query runs its batches in the pool named after it (FAIR scheduling, conf/
    # spark-defaults.conf): the query's thread takes the local properties set when it starts.
    spec.frame.sparkSession.sparkContext.setLocalProperty("spark.scheduler.pool", spec.name)
    writer = (
        spec.frame.writeStream.queryName(spec.name)
        .outputMode(spec.output_mode)
        .option("checkpointLocation", str(checkpoint))
        .foreachBatch(batch_writer(spec.name, checkpoint, spec.sinks, spec.prepare, watch=watch))
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{spec.trigger_seconds} seconds")
    query = writer.start()
    log.info("query %s started, checkpoint %s", spec.name, checkpoint)
    return query


def run(
    spark: SparkSession,
    specs: Sequence[QuerySpec],
    conf: PulseConfig,
    *,
    available_now: bool = False,
    jobs: Mapping[str, str] | None = None,
) -> int:
    """Run the queries until SIGTERM/SIGINT (or, with `available_now`, until all caught up).

    A failed query is restarted from its checkpoint after a growing pause. Each query's state,
    restarts and last error go to Redis every second (pulse.queryhealth; `jobs` names the job
    of each query there). Returns 0 when every query ended cleanly, 1 when an
    `available_now` query failed more than its restarts allow.
    """
    stopping = threading.Event()
    with on_stop_signals(lambda _: stopping.set(), (signal.SIGTERM, signal.SIGINT)):
        return _supervise(spark, specs, conf, stopping, available_now=available_now, jobs=jobs)


def _supervise(
    spark: SparkSession,
    specs: Sequence[QuerySpec],
    conf: PulseConfig,
    stopping: threading.Event,
    *,
    available_now: bool,
    jobs: Mapping[str, str] | None,
) -> int:
    """`run`'s loop, until `stopping` is set or every query has ended."""
    board = HealthBoard(redis_client(conf.redis))
    supervised = {spec.name: _Supervised(spec) for spec in specs}
    job_of = dict(jobs or {})

    def report(item: _Supervised, state: str) -> None:
        if state == "running" and item.write_error:
            state = "retrying a failed write"
        board.update(
            item.spec.name,
            job=job_of.get(item.spec.name, ""),
            state=state,
            restarts=item.restarts,
            last_error=item.write_error or item.last_error,
            trigger_seconds=item.spec.trigger_seconds,
        )

    def watcher(item: _Supervised) -> WriteWatch:
        def watch(error: str) -> None:
            was, item.write_error = item.write_error, error_line(error) if error else ""
            if error or was:  # said at once: the supervisor's next report is up to 1 s away
                report(item, "running")

        return watch

    def launch(item: _Supervised) -> StreamingQuery:
        item.write_error = ""
        return start(item.spec, conf, available_now=available_now, watch=watcher(item))

    for item in supervised.values():
        report(item, "starting")
        item.query = launch(item)
        _await_first_plan(item.query)
        report(item, "running")
    failed = False
    while not stopping.is_set():
        running = [item for item in supervised.values() if item.query is not None]
        if not running:
            break
        stopping.wait(0.5)
        for item in running:
            query = item.query
            assert query is not None
            if query.isActive:
                if time.monotonic() - item.reported > 1.0:
                    report(item, "running")
                    item.reported = time.monotonic()
                continue
            error = query.exception()
            name = item.spec.name
            if error is None:
                log.info("query %s finished", name)
                item.query = None
                report(item, "finished")
                continue
            item.last_error = error_line(str(error))
            if available_now and item.restarts >= _AVAILABLE_NOW_RESTARTS:
                log.error("query %s failed %d times, giving up: %s", name, item.restarts + 1, error)
                failed = True
                item.query = None
                report(item, "failed")
                continue
            # A query that ran well for a while before failing meets a new outage: it starts
            # over at the shortest pause, not at the longest a past outage left behind.
            if time.monotonic() - item.started_at > 2 * _MAX_RESTART_PAUSE:
                item.pause = 1.0
            log.error("query %s failed, restarting in %.0f s: %s", name, item.pause, error)
            report(item, f"restarting in {item.pause:.0f} s")
            if stopping.wait(item.pause):
                break
            item.pause = min(item.pause * 2, _MAX_RESTART_PAUSE)
            item.restarts += 1
            item.query = launch(item)
            item.started_at = time.monotonic()
            report(item, "running")
    for item in supervised.values():
        if item.query is not None:
            try:
                item.query.stop()
            except Exception as exc:
                # A SIGTERM to the whole process group reaches the JVM too, whose shutdown hook
                # can stop the SparkContext first: the query is then stopped already.
                log.info("query %s stopped with the JVM: %s", item.spec.name, exc)
            report(item, "stopped")
    drain_progress(spark)
    return 1 if failed else 0


@dataclass
class _Supervised:
    """A query under `run`'s watch: its spec, the running query, and its restart history."""

    spec: QuerySpec
    query: StreamingQuery | None = None
    restarts: int = 0
    pause: float = 1.0
    started_at: float = field(default_factory=time.monotonic)
    reported: float = 0.0
    last_error: str = ""
    write_error: str = ""  # of the batch now retrying a failed write; "" when none is


def _await_first_plan(query: StreamingQuery, timeout: float = 120.0) -> None:
    """Wait until `query` has planned its first trigger (or ended) before the next one starts.

    Queries of one job that read through Pulse's Python data source share one Python function
    object in the JVM, and Spark adds entries to its environment map (a plain `HashMap`) the
    first time each query plans a batch. Two queries doing that at the same moment can corrupt
    the map, after which every task of that source fails to deserialize
    (`java.io.OptionalDataException` in `HashMap.readObject`) until the driver restarts; seen
    in CI on the enrich job's two queries. Starting them one after the other avoids the race.
    """
    deadline = time.monotonic() + timeout
    while query.isActive and time.monotonic() < deadline:
        status = query.status
        if query.lastProgress is not None or (
            not status["isTriggerActive"] and status["message"].startswith("Waiting")
        ):
            return
        time.sleep(0.1)


Pipeline = Callable[[SparkSession, PulseConfig], list[QuerySpec]]


def main(name: str, doc: str, pipelines: Mapping[str, Pipeline]) -> int:
    """A job's whole life: logging, its command line, the config, one session, then `host`
    until stopped. `jobs/<job>.py` is this call and nothing else."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = job_arguments(doc.strip().splitlines()[0])
    conf = load_config()
    return host(session(f"pulse-{name}"), conf, pipelines, available_now=args.available_now)


def host(
    spark: SparkSession,
    conf: PulseConfig,
    pipelines: Mapping[str, Pipeline],
    *,
    available_now: bool = False,
) -> int:
    """The queries of every pipeline in `pipelines` (by job name) in `spark`, with progress
    reports on `platform.monitoring`, `run` until stopped or, with `available_now`, caught up:
    what a job's driver does, and what a test does in its own session (`pulse.testing`)."""
    specs, jobs = [], {}
    for job, pipeline in pipelines.items():
        for spec in pipeline(spark, conf):
            specs.append(spec)
            jobs[spec.name] = job
    with publishing_progress(spark, jobs, conf):
        return run(spark, specs, conf, available_now=available_now, jobs=jobs)


def job_arguments(description: str) -> argparse.Namespace:
    """The command line of every job: `--available-now` catches up and exits (tests, backfills)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--available-now",
        action="store_true",
        help="process what is in Kafka now, then exit (Trigger.AvailableNow)",
    )
    return parser.parse_args()
