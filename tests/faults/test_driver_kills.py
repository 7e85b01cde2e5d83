"""20 SIGKILLs of the live job's driver at random moments of a steady stream: every sink exact.

The job runs with its 2-second trigger while `pulse simulate all` sends 50 events a second per
domain. Each kill lands at a random moment 0 to 9 s after the job wrote its first batch of the
run (counted from there, not from the launch, so that a loaded machine's slower JVM start does
not eat the moments): in steady batches, while reading, computing on the driver (with its
state file written or not), before, between or after its sinks' writes. The whole process
group dies (driver JVM, Python workers): nothing gets to clean up.
After the 20th kill the stream stops and the job catches up once; then every sink must hold
exactly what the topics say, each event counted once.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest

from pulse.stores import postgres_connect
from tests.exact import live_sinks, report
from tests.faults.conftest import FaultStack
from tests.polling import wait_for

# Each of the 20 rounds starts a driver (20-30 s on two shared cores until its query
# run) before the kill, so the test takes 10-15 minutes: over the suite's 600-s default.
pytestmark = [
    pytest.mark.spark,
    pytest.mark.broker,
    pytest.mark.counts,
    pytest.mark.timeout(1800),
]

KILLS = 20


def _working(job: subprocess.Popen[bytes], log: Path) -> bool:
    """The driver is at work: its query has written a batch in this run. A kill 0-9 s after its
    mere start (20-30 s of JVM and Python workers before a first batch) landed before any work
    in 16 of 20 rounds: the kills must land among batches in flight."""
    assert job.poll() is None, f"the live job exited:\n{log.read_text(errors='replace')[-2000:]}"
    return " written: " in log.read_text(errors="replace")


def committed_batches(stack: FaultStack) -> int:
    """Batches the busiest of the live job's queries committed to PostgreSQL, over all its runs
    (batch ids go on from the checkpoint across restarts)."""
    pg = postgres_connect(stack.conf.postgres)
    try:
        with pg.cursor() as cur:
            cur.execute("SELECT coalesce(max(batch_id) + 1, 0) FROM sink_ledger")
            return int(cur.fetchone()[0])
    finally:
        pg.close()


def test_twenty_kills_of_the_live_driver_leave_every_sink_exact(fault_stack: FaultStack) -> None:
    stack = fault_stack
    rng = random.Random(20)
    stream = stack.stream(rate=50, seconds=3600, seed=31)
    moments = []
    try:
        for number in range(1, KILLS + 1):
            job, log = stack.jobs.launch("live")
            wait_for(lambda j=job, lg=log: _working(j, lg), 180, "the job's first batch")
            moment = rng.uniform(0, 9)
            time.sleep(moment)  # the random moment itself: nothing to poll for
            assert job.poll() is None, f"the live job exited by itself before kill {number}"
            stack.jobs.kill(job)
            moments.append(round(moment, 1))
    finally:
        stream.terminate()
        stream.wait(30)
    print(f"\n{KILLS} SIGKILLs of the live job, seconds after its first batch: {moments}")
    committed = committed_batches(stack)
    print(f"batches committed between the kills (PostgreSQL ledger): {committed}")
    assert committed > KILLS // 2, "few kills landed after any work: the test proves little"

    stack.jobs.run("live")

    report(
        f"live job after {KILLS} SIGKILLs: expected (from the topics) vs found",
        live_sinks(stack.conf, stack.followers()),
    )
