"""The broker frozen for 30 s (SIGSTOP, then SIGCONT) under load: the ingest API and the live
job recover on their own, and nothing is lost.

A client posts a batch of 20 emoji reactions to the ingest API every 100 ms, before, during
and after the freeze; the live job runs with its 2-second trigger. While Kafka does not
answer, the API keeps accepting into its bounded queue (or says 503 when it is full: the client
was told, nothing is lost by that). Afterwards every event that got a 202 is in Kafka, and the
live job's sinks hold exactly what the topic says.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

import pytest

from pulse.events.schema import format_timestamp
from tests.exact import live_sinks, report
from tests.faults.conftest import FaultStack
from tests.polling import wait_for
from tests.services.support import KEYS, Api, launch, read_until

pytestmark = [pytest.mark.spark, pytest.mark.broker, pytest.mark.counts]

FREEZE_SECONDS = 30
BATCH = 20


class Poster:
    """Posts emoji batches to the API every 100 ms from a thread, noting each answer by phase."""

    def __init__(self, api: Api) -> None:
        self.api, self.phase = api, "before"
        self.answers: dict[str, Counter[str]] = {}
        self.accepted: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            phase = self.phase
            ids = [f"fz-{uuid.uuid4().hex[:12]}" for _ in range(BATCH)]
            now = format_timestamp(datetime.now(UTC))
            events = [
                {"event_id": i, "user_id": "u-1", "match_id": f"m-fz-{n % 3}", "emoji": "🔥",
                 "ts": now}
                for n, i in enumerate(ids)
            ]  # fmt: skip
            try:
                answer = self._post(json.dumps(events).encode())
            except OSError as exc:
                outcome = type(exc).__name__
            else:
                outcome = str(answer)
                if answer == 202:
                    self.accepted.extend(ids)
            self.answers.setdefault(phase, Counter())[outcome] += 1

    def _post(self, body: bytes) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.api.port, timeout=10)
        try:
            connection.request("POST", "/v1/events/emoji:batch", body=body,
                               headers={"X-API-Key": KEYS[0]})  # fmt: skip
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.fixture
def api(fault_stack: FaultStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = {
        key: value for key, value in fault_stack.jobs.env.items() if key.startswith("PULSE_")
    }
    settings["PULSE_INGEST__API_KEYS"] = KEYS[0]
    service = launch("ingest", settings, tmp_path_factory.mktemp("ingest"),
                     partial(Api, conf=fault_stack.conf))  # fmt: skip
    yield service
    assert service.stop() == 0, service.log.read_text()


def test_a_broker_frozen_for_30_s_loses_nothing(fault_stack: FaultStack, api: Api) -> None:
    stack = fault_stack
    job = stack.jobs.start("live")
    poster = Poster(api)
    pid = stack.broker.pid()
    assert pid is not None
    try:
        time.sleep(10)  # load before the freeze
        poster.phase = "frozen"
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(FREEZE_SECONDS)  # the freeze itself
            health = api.request("GET", "/health", key=None).status
        finally:
            os.kill(pid, signal.SIGCONT)
        poster.phase = "after"
        time.sleep(15)
    finally:
        poster.stop()
    assert health == 200, "the API stopped answering while Kafka was frozen"
    print(f"\nanswers to batches of {BATCH}, by phase: {poster.answers}")
    assert poster.answers["after"]["202"] > 0, "the API did not recover by itself"

    topic = stack.conf.topics.emoji.name
    wanted = set(poster.accepted)
    found = read_until(stack.conf, topic, lambda events: wanted <= {e["event_id"] for e in events})
    in_kafka = Counter(e["event_id"] for e in found if e["event_id"] in wanted)
    print(f"accepted (202): {len(wanted)} events; in Kafka: {len(in_kafka)} "
          f"({sum(in_kafka.values()) - len(in_kafka)} repeats)")  # fmt: skip
    assert set(in_kafka) == wanted

    try:
        wait_for(
            lambda: all(c.exact for c in live_sinks(stack.conf, stack.followers())),
            180,
            "the live job to catch up after the freeze",
            interval=3,
        )
        assert job.poll() is None, "the live job exited instead of recovering"
    finally:
        stack.jobs.kill(job)
    report(
        f"live job after the broker was frozen for {FREEZE_SECONDS} s",
        [c for c in live_sinks(stack.conf, stack.followers()) if c.expected],
    )
