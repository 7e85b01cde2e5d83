"""Each streaming query's health as its driver sees it (state, restarts, last error, last batch),
kept in Redis for `pulse status`, the `make run` console and the dashboard, so that a query
that crash-loops or falls behind says so where people look, not only in a log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

log = logging.getLogger("pulse.queryhealth")

KEY = "pulse:query:{query}"
# The names of the queries that reported: readers look them up here rather than SCAN a keyspace
# of hundreds of thousands of event keys (a SCAN every 2 s cost `pulse run` half a core).
NAMES = "pulse:queries"
STALE_SECONDS = 10.0
TTL_SECONDS = 24 * 3600  # a driver that is gone leaves its last word for a day, marked stale


ERROR_CHARACTERS = 300  # of a query's last error, as the panel shows it
# States that make `pulse status` fail and the panels turn red: a batch whose write to a store
# failed and is being retried, a query waiting to restart, one that gave up.
TROUBLED = ("retrying", "restarting", "failed")


def troubled(report: Mapping[str, str]) -> bool:
    """Whether a query's report says it is not doing its work now."""
    return report.get("state", "").startswith(TROUBLED)


class HealthBoard:
    """Writes query health to Redis; a failure to write is logged once and never raised (the
    data path must not depend on its monitoring)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._failing = False

    def update(self, query: str, /, **fields: Any) -> None:
        """Set `fields` of `query`'s report (with its name and `updated_at` now)."""
        values: dict[FieldT, EncodableT] = {
            name: "" if value is None else str(value) for name, value in fields.items()
        }
        values.update(query=query, updated_at=f"{time.time():.3f}")
        key = KEY.format(query=query)
        try:
            with self._client.pipeline() as pipe:
                pipe.hset(key, mapping=values)
                pipe.expire(key, TTL_SECONDS)
                pipe.sadd(NAMES, query)
                pipe.expire(NAMES, TTL_SECONDS)
                pipe.execute()
            self._failing = False
        except redis.RedisError as exc:
            if not self._failing:
                log.warning("query health not written to Redis: %s", exc)
            self._failing = True


def forget_all(client: redis.Redis) -> int:
    """Delete every query's report (a new run starts its own); how many there were."""
    names = [_text(name) for name in client.smembers(NAMES)]
    client.delete(NAMES, *(KEY.format(query=name) for name in names))
    return len(names)


def read_all(client: redis.Redis) -> list[dict[str, str]]:
    """Every query's report, by query name."""
    names = sorted(_text(name) for name in client.smembers(NAMES))
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(KEY.format(query=name))
        found = pipe.execute()
    return [{_text(k): _text(v) for k, v in fields.items()} for fields in found if fields]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def describe(report: Mapping[str, str], now: float | None = None) -> str:
    """One line about a query: its state, then its last batch against its trigger.

    >>> line = describe({"query": "live", "job": "live", "state": "running", "restarts": "0",
    ...                  "trigger_seconds": "2", "batch_id": "7", "last_batch_at": "100",
    ...                  "duration_ms": "850", "rows": "4100", "lag": "0", "updated_at": "101"},
    ...                 now=101.5)
    >>> line
    'live (live): running, batch 7 1.5 s ago, 0.85 s of its 2 s trigger, 4,100 rows, lag 0'
    >>> describe({"query": "live", "state": "running", "last_batch_at": "100",
    ...           "latency_p95_ms": "1240"}, now=101).split(", ")[-1]
    'Kafka to written 1.24 s (p95)'
    """
    now = time.time() if now is None else now
    name = f"{report.get('query', '?')} ({report.get('job', '?')})"
    state = report.get("state", "unknown")
    updated = _number(report.get("updated_at"))
    if state == "starting" and updated is not None:
        state = f"starting for {now - updated:.0f} s (its first batch is being planned)"
    elif updated is not None and now - updated > STALE_SECONDS:
        state = f"no report for {now - updated:.0f} s (was {state}; is its driver running?)"
    restarts = int(_number(report.get("restarts")) or 0)
    parts = [state + (f", {restarts} restarts" if restarts else "")]
    if report.get("last_error") and state != "running":
        parts.append(f"last error: {report['last_error']}")
    at = _number(report.get("last_batch_at"))
    if at is None:
        parts.append("no batch yet")
    else:
        trigger = _number(report.get("trigger_seconds")) or 0
        duration = (_number(report.get("duration_ms")) or 0) / 1000
        parts.append(f"batch {report.get('batch_id', '?')} {max(0.0, now - at):.1f} s ago")
        parts.append(f"{duration:.2f} s of its {trigger:g} s trigger")
        parts.append(f"{int(_number(report.get('rows')) or 0):,} rows")
        lag = _number(report.get("lag"))
        parts.append("lag ?" if lag is None else f"lag {int(lag):,}")
        latency = _number(report.get("latency_p95_ms"))
        if latency is not None:  # the batch's records, from Kafka to its end (pulse.progress)
            parts.append(f"Kafka to written {latency / 1000:.2f} s (p95)")
    return f"{name}: " + ", ".join(parts)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def error_line(message: str) -> str:
    """The line of a query's failure that says what went wrong, for the health panel.

    A failure in `foreachBatch` reaches the driver as Spark's wrapper ("An exception was raised
    by the Python Proxy. Return Message: Traceback (most recent call last): ..."): its first
    line says nothing. The line that does is the Python exception after the traceback's frames
    (the first line that is not indented).

    >>> error_line("Wrapped. Return Message: Traceback (most recent call last):\\n"
    ...            "  File \\"x.py\\", line 1, in f\\n    connect()\\n"
    ...            "psycopg.OperationalError: connection refused\\n\\tat org.apache.X")
    'psycopg.OperationalError: connection refused'
    >>> error_line("PYTHON_WORKER_FAILED\\nmore")
    'PYTHON_WORKER_FAILED'
    """
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "?"
    for index, line in enumerate(lines):
        if line.rstrip().endswith("Traceback (most recent call last):"):
            for after in lines[index + 1 :]:
                if not after[0].isspace():
                    return after.strip()[:ERROR_CHARACTERS]
    return lines[0].strip()[:ERROR_CHARACTERS]
