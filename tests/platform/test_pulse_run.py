"""`pulse run` itself, briefly, on ports of its own: every source topic gets traffic (the emoji
simulator through the ingest API too), and Ctrl-C stops every child and the broker it started.
In the platform tier, as each run starts both drivers through spark-submit."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pulse.config import PROJECT_ROOT, load_config
from pulse.kafka.admin import end_offsets
from pulse.local.run import TRAFFIC_WAIT_SECONDS
from tests.conftest import free_tcp_port

pytestmark = pytest.mark.platform


def accepted_emoji(port: int) -> float:
    """`pulse_ingest_events_accepted_total{domain="emoji"}` of the API on `port` (0: no answer)."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
        connection.close()
    except OSError:
        return 0.0
    name = 'pulse_ingest_events_accepted_total{domain="emoji"} '
    return sum(float(line[len(name) :]) for line in text.splitlines() if line.startswith(name))


def test_run_streams_into_every_source_topic_and_stops_the_broker_it_started(
    tmp_path: Path,
) -> None:
    bootstrap = f"127.0.0.1:{free_tcp_port()}"
    api_port = free_tcp_port()
    env = {
        **{name: value for name, value in os.environ.items() if name != "PULSE_INGEST__API_KEYS"},
        "PULSE_KAFKA__BOOTSTRAP": bootstrap,
        "PULSE_INGEST__PORT": str(api_port),
        "PULSE_LOCAL__STATE_DIR": str(tmp_path / "state"),
        "PULSE_STREAMING__CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "PULSE_LAKE__PATH": str(tmp_path / "lake"),
    }
    conf = load_config(environ=env)
    sources = [getattr(conf.topics, domain).name for domain in ("game", "emoji", "media")]
    output = tmp_path / "run.out"
    with open(output, "w") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "pulse", "run"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        # The simulators start once the queries run (at most `TRAFFIC_WAIT_SECONDS`).
        deadline = time.monotonic() + TRAFFIC_WAIT_SECONDS + 60
        totals: dict[str, int] = {}
        while time.monotonic() < deadline and run.poll() is None:
            if "Pulse is running" in output.read_text():
                offsets = end_offsets(conf.kafka, sources)
                totals = {topic: sum(ends.values()) for topic, ends in offsets.items()}
                flowing = len(totals) == len(sources) and all(totals.values())
                # The emoji simulator through the API too: the API counts what it accepted.
                if flowing and accepted_emoji(api_port):
                    break
            time.sleep(0.5)
        assert run.poll() is None, output.read_text()
        assert all(totals.get(topic) for topic in sources), totals
        assert accepted_emoji(api_port) > 0, output.read_text()
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(60)
    text = output.read_text()
    assert run.returncode == 0, text
    children = [int(pid) for pid in re.findall(r"running \(pid (\d+)\)", text)]
    assert children
    assert not [pid for pid in set(children) if Path(f"/proc/{pid}").exists()]
    assert f"stopped Tansu at {bootstrap}" in text
    key = re.search(r"the ingest API key of this run: (\S+)", text)
    assert key, text
    assert f"http://127.0.0.1:{api_port} (X-API-Key: {key[1]}, made for this run)" in text
