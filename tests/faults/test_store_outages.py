"""PostgreSQL, MariaDB and Redis each stopped for 30 s under a steady stream, one after another:
the jobs keep running, the batches that meet a stopped store fail and are retried, and
afterwards every sink holds exactly what the topics say.

The live and enrich jobs run with their 2-second trigger (they write to all three stores)
while `pulse simulate all` sends 50 events a second per domain. Each server is really stopped
(a clean shutdown: its port closes) and started again on the same data. Nobody restarts the
jobs: they must recover on their own.
"""

from __future__ import annotations

import time

import pytest

from pulse.queryhealth import describe, read_all, troubled
from pulse.stores import mysql_connect, postgres_connect, redis_client
from tests.exact import enrich_sinks, live_sinks, report
from tests.faults.conftest import FaultStack
from tests.polling import wait_for

pytestmark = [pytest.mark.spark, pytest.mark.broker, pytest.mark.counts]

OUTAGE_SECONDS = 30


def written(stack: FaultStack) -> dict[str, int]:
    """How much each store holds now (rows, keys): it grows while the jobs write."""
    conf = stack.conf
    pg = postgres_connect(conf.postgres)
    with pg.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM emoji_windows)")
        postgres = cur.fetchone()[0]
    pg.close()
    my = mysql_connect(conf.mysql)
    cur = my.cursor()
    cur.execute("SELECT (SELECT count(*) FROM products) + (SELECT count(*) FROM game_deliveries)")
    mysql = cur.fetchone()[0]
    my.close()
    store = redis_client(conf.redis)
    keys = store.dbsize()
    store.close()
    return {"postgres": postgres, "mariadb": mysql, "redis": keys}


def troubled_queries(stack: FaultStack) -> list[str]:
    """The query health lines (`pulse status`, the console and the dashboard all show these) of
    queries reporting trouble (a write being retried, a restart) and its error."""
    reports = read_all(redis_client(stack.conf.redis))
    return [describe(r) for r in reports if troubled(r) and "last error:" in describe(r)]


def test_each_store_stopped_for_30_s_delays_the_sinks_and_loses_nothing(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    stream = stack.stream(rate=50, seconds=3600, seed=41)
    jobs = {name: stack.jobs.start(name) for name in ("live", "enrich")}
    try:
        wait_for(
            lambda: all(written(stack).values()), 180, "every store's first rows", interval=0.5
        )
        for name in ("postgres", "mariadb", "redis"):
            server = getattr(stack, name)
            before = written(stack)[name]
            server.stop()
            stopped_at = time.monotonic()
            if name == "postgres":
                # What an operator sees (`pulse status`, the console, the dashboard): the first
                # batch that meets the stopped store says so, and why, before its retries end.
                # That batch starts within one trigger; the batch in flight when the store
                # stopped may take one more; 2 s of slack for a busy machine.
                trigger = stack.conf.streaming.trigger_seconds
                wait_for(lambda: troubled_queries(stack), 2 * trigger + 2, "a query to report it")
                seen_after = time.monotonic() - stopped_at
                failing = troubled_queries(stack)
                print(f"\npostgres stopped; pulse status after {seen_after:.1f} s: {failing}")
                assert any("postgres" in line for line in failing), failing
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))  # the outage
            for job, process in jobs.items():
                assert process.poll() is None, f"{job} exited while {name} was down"
            server.start()
            wait_for(
                lambda n=name, b=before: written(stack)[n] > b,
                120,
                f"the jobs to write to {name} again",
                interval=0.5,
            )
            back = time.monotonic() - stopped_at - OUTAGE_SECONDS
            print(f"\n{name}: stopped {OUTAGE_SECONDS} s; written again {back:.1f} s after start")
        stream.terminate()
        stream.wait(30)

        def caught_up() -> bool:
            return all(c.exact for c in live_sinks(stack.conf, stack.followers())) and all(
                c.exact for c in enrich_sinks(stack.conf)
            )

        try:
            wait_for(caught_up, 180, "the running jobs to catch up with every event", interval=3)
        except AssertionError:
            # Say which sink differs, and how, rather than only that the wait ran out.
            report("live job, not caught up", live_sinks(stack.conf, stack.followers()))
            report("enrich job, not caught up", enrich_sinks(stack.conf))
            raise
        for job, process in jobs.items():
            assert process.poll() is None, f"{job} exited by itself"
    finally:
        if stream.poll() is None:
            stream.kill()
        for process in jobs.values():
            stack.jobs.kill(process)
    retries = sum(
        log.read_text(errors="replace").count("failed, restarting")
        for log in stack.jobs.logs.glob("*.log")
    )
    print(f"queries restarted after a store failure: {retries}")
    assert retries > 0, "no batch met a stopped store: the test proves nothing"
    report(
        "live job after PostgreSQL, MariaDB and Redis were each stopped for 30 s",
        live_sinks(stack.conf, stack.followers()),
    )
    report("enrich job after the same outages", enrich_sinks(stack.conf))
