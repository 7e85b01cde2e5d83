"""Pipelines run in a test's own SparkSession, as a job's driver runs them, without spark-submit
(which costs a JVM start per run); the end-to-end tests of the jobs themselves keep it."""

from __future__ import annotations

from pyspark.sql import SparkSession

from pulse.config import PulseConfig
from pulse.pipelines import PIPELINES
from pulse.queries import host
from pulse.sinks.kafka import close_outputs
from pulse.streams import close_inputs


class PipelineFailed(RuntimeError):
    """A query of an in-process run failed more than its restarts allow (the log says why)."""


def run_available_now(spark: SparkSession, conf: PulseConfig, *jobs: str) -> None:
    """The queries of `jobs` (names in `pulse.pipelines.PIPELINES`) over what their topics hold
    now, side by side in `spark`, with their progress reports, until every one has caught up.

    Used as `run_available_now(spark, conf, "lake", "live")` with the test's SparkSession.
    """
    unknown = sorted(set(jobs) - set(PIPELINES))
    if unknown:
        raise KeyError(f"unknown pipelines {unknown}; known: {sorted(PIPELINES)}")
    try:
        code = host(spark, conf, {job: PIPELINES[job] for job in jobs}, available_now=True)
    finally:
        # The session outlives the run (and Py4J its foreachBatch functions): no idle
        # consumer or producer left connected to the broker.
        close_inputs()
        close_outputs()
    if code != 0:
        raise PipelineFailed(f"a query of {', '.join(jobs)} failed; its error is in the log")
