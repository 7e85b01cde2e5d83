"""Query health in Redis: what the driver writes is what `pulse status`, the console and the
dashboard read, and a report that stopped coming says so."""

from __future__ import annotations

import time
import uuid

import redis

from pulse.config import load_config
from pulse.queryhealth import KEY, HealthBoard, describe, error_line, read_all
from pulse.stores import redis_client


def test_a_written_report_is_read_back_with_its_state_and_last_batch():
    client = redis_client(load_config().redis)
    name = f"test-{uuid.uuid4().hex[:8]}"
    try:
        board = HealthBoard(client)
        board.update(name, job="live", state="running", restarts=0, trigger_seconds=2)
        board.update(name, batch_id=3, last_batch_at=time.time(), duration_ms=900, rows=10, lag=0)
        (report,) = [r for r in read_all(client) if r["query"] == name]
        assert describe(report).startswith(f"{name} (live): running, batch 3 ")
        assert "0.90 s of its 2 s trigger, 10 rows, lag 0" in describe(report)
    finally:
        client.delete(KEY.format(query=name))


def test_a_restarting_query_shows_its_restarts_and_last_error():
    report = {"query": "live", "job": "live", "state": "restarting in 4 s", "restarts": "3",
              "last_error": "PYTHON_WORKER_FAILED", "updated_at": str(time.time())}  # fmt: skip
    assert describe(report) == (
        "live (live): restarting in 4 s, 3 restarts, last error: PYTHON_WORKER_FAILED, no batch yet"
    )


def test_a_report_that_stopped_coming_names_the_driver():
    report = {"query": "lake", "job": "lake", "state": "running", "updated_at": "100"}
    assert describe(report, now=160).startswith(
        "lake (lake): no report for 60 s (was running; is its driver running?)"
    )


def test_a_board_without_redis_never_raises():
    board = HealthBoard(redis.Redis(port=1, socket_connect_timeout=0.2))
    board.update("live", state="running")  # logged, not raised: monitoring never stops a job


def test_a_foreach_batch_failure_shows_the_python_exception_not_sparks_wrapper():
    message = (
        "[FOREACH_BATCH_USER_FUNCTION_ERROR] An error occurred in the user provided function in"
        " foreach batch sink. Reason: An exception was raised by the Python Proxy. Return"
        " Message: Traceback (most recent call last):\n"
        '  File "/pulse/sinks/base.py", line 84, in run\n'
        "    action()\n"
        "psycopg.OperationalError: connection failed: Connection refused\n"
        "\tat org.apache.spark.sql.execution.streaming.MicroBatchExecution.run(X.scala:1)\n"
    )
    assert error_line(message) == "psycopg.OperationalError: connection failed: Connection refused"
