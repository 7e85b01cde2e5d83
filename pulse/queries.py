"""Starting and supervising streaming queries, of one job or of all of them in one driver.

A pipeline declares its queries as `QuerySpec`s (a streaming frame, its sinks, its trigger);
this module gives each one its checkpoint under `streaming.checkpoint_dir/<name>`, its own FAIR
scheduler pool (so that a long lake batch never holds up the live ones) and one `foreachBatch`
writer, and keeps them running: a query that fails (a sink that stayed down through its
retries, say) is restarted from its checkpoint after a growing pause, so a stopped database
delays results but loses none.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pulse.config import PulseConfig, load_config
from pulse.progress import drain_progress, publish_progress
from pulse.sinks.base import Prepare, Sink, batch_writer
from pulse.spark import session

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


def start(spec: QuerySpec, conf: PulseConfig, *, available_now: bool = False) -> StreamingQuery:
    """Start one query with its checkpoint, trigger and `foreachBatch` writer."""
    checkpoint = checkpoint_of(conf, spec.name)
    # A query runs its batches in the pool named after it (FAIR scheduling, conf/
    # spark-defaults.conf): the query's thread takes the local properties set when it starts.
    spec.frame.sparkSession.sparkContext.setLocalProperty("spark.scheduler.pool", spec.name)
    writer = (
        spec.frame.writeStream.queryName(spec.name)
        .outputMode(spec.output_mode)
        .option("checkpointLocation", str(checkpoint))
        .foreachBatch(batch_writer(spec.name, checkpoint, spec.sinks, spec.prepare))
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
) -> int:
    """Run the queries until SIGTERM/SIGINT (or, with `available_now`, until all caught up).

    A failed query is restarted from its checkpoint after a growing pause. Returns 0 when every
    query ended cleanly, 1 when an `available_now` query failed more than its restarts allow.
    """
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    running = {}
    for spec in specs:
        running[spec.name] = start(spec, conf, available_now=available_now)
        _await_first_plan(running[spec.name])
    by_name = {spec.name: spec for spec in specs}
    pauses = dict.fromkeys(running, 1.0)
    restarts = dict.fromkeys(running, 0)
    started_at = dict.fromkeys(running, time.monotonic())
    failed = False
    while running and not stopping.is_set():
        time.sleep(0.5)
        for name, query in list(running.items()):
            if query.isActive:
                continue
            error = query.exception()
            if error is None:
                log.info("query %s finished", name)
                del running[name]
            elif available_now and restarts[name] >= _AVAILABLE_NOW_RESTARTS:
                log.error(
                    "query %s failed %d times, giving up: %s", name, restarts[name] + 1, error
                )
                failed = True
                del running[name]
            else:
                # A query that ran well for a while before failing meets a new outage: it starts
                # over at the shortest pause, not at the longest a past outage left behind.
                if time.monotonic() - started_at[name] > 2 * _MAX_RESTART_PAUSE:
                    pauses[name] = 1.0
                log.error("query %s failed, restarting in %.0f s: %s", name, pauses[name], error)
                if stopping.wait(pauses[name]):
                    break
                pauses[name] = min(pauses[name] * 2, _MAX_RESTART_PAUSE)
                restarts[name] += 1
                running[name] = start(by_name[name], conf, available_now=available_now)
                started_at[name] = time.monotonic()
    for query in running.values():
        query.stop()
    drain_progress(spark)
    return 1 if failed else 0


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
    """A job's whole life: logging, its command line, the config, one session, the queries of
    every pipeline in `pipelines` (by job name), progress reports on `platform.monitoring`,
    then `run` until stopped. `jobs/<job>.py` is this call and nothing else."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = job_arguments(doc.strip().splitlines()[0])
    conf = load_config()
    spark = session(f"pulse-{name}")
    specs, jobs = [], {}
    for job, pipeline in pipelines.items():
        for spec in pipeline(spark, conf):
            specs.append(spec)
            jobs[spec.name] = job
    publish_progress(spark, jobs, conf)
    return run(spark, specs, conf, available_now=args.available_now)


def job_arguments(description: str) -> argparse.Namespace:
    """The command line of every job: `--available-now` catches up and exits (tests, backfills)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--available-now",
        action="store_true",
        help="process what is in Kafka now, then exit (Trigger.AvailableNow)",
    )
    return parser.parse_args()
