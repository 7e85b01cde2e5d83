"""The whole platform, as `make run` starts it, stays live for five minutes under its traffic.

A tier of its own (`make platform`, run by .ci/run after the suite): it takes the machine's
real ports and `.pulse/`, as a user's `make run` does. It asserts liveness, not speed: every
surface gets fresh data within a generous bound, and no query fails or restarts.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

import pytest
import redis
from streamlit.testing.v1 import AppTest

from pulse.config import PROJECT_ROOT, load_config
from pulse.events.schema import format_timestamp, parse_timestamp
from pulse.local.run import DRIVERS
from pulse.services.gateway.client import GatewayClient
from pulse.services.gateway.registry import RegistryClient
from pulse.simulate.product import product_events

pytestmark = pytest.mark.platform

RUN_SECONDS = 300  # five minutes of traffic before the surfaces are checked
FRESH_SECONDS = 30.0  # the generous bound within which each surface must show new data
INGEST_KEY = "platform-test-ingest-key"
REGISTRY_KEY = "platform-test-registry-key"
FAILURE = re.compile(r"query \S+ failed")
DRIVER_SCRIPTS = [child.argv[-1] for child in DRIVERS]
DRIVER_CHILDREN = [child.name for child in DRIVERS]


def wait_until(what: str, check, timeout: float, every: float = 0.5):
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: nothing within {timeout:.0f} s"
        time.sleep(every)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def post(url: str, body: dict, key: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        return json.loads(response.read())


@pytest.fixture(scope="module")
def platform():
    """`pulse run` with keys this test knows, stopped with Ctrl-C (SIGINT) at the end."""
    conf = load_config()
    logs = conf.local.state_dir / "logs"
    env = {
        **os.environ,
        "PULSE_INGEST__API_KEYS": INGEST_KEY,
        "PULSE_REGISTRY__API_KEYS": REGISTRY_KEY,
        "PULSE_GATEWAY__REGISTRY_KEY": REGISTRY_KEY,
    }
    console = open(PROJECT_ROOT / ".pulse-platform-test.log", "w")  # noqa: SIM115
    run = subprocess.Popen(
        [sys.executable, "-m", "pulse", "run"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=console,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        page = f"http://{conf.gateway.host}:{conf.gateway.base_port}/"
        wait_until("the live page", lambda: run.poll() is None and answers(page), 240)
        yield conf, logs
    finally:
        os.killpg(run.pid, signal.SIGINT)
        try:
            run.wait(90)
        finally:
            console.close()
    left = subprocess.run(
        ["pgrep", "-f", "|".join([*DRIVER_SCRIPTS, "pulse (serve|simulate|dashboard)"])],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert run.returncode == 0, f"pulse run ended with {run.returncode}"
    assert left == [], f"processes left behind after Ctrl-C: {left}"


def test_five_minutes_of_traffic_leave_every_surface_fresh_and_no_query_restarted(platform):
    conf, logs = platform
    time.sleep(RUN_SECONDS)
    store = redis.Redis.from_url(conf.redis.url, decode_responses=True)

    # A score reaches a live page's WebSocket.
    match_id = wait_until(
        "a match in play, its scoreboard updated in the last 30 s", lambda: fresh_match(store), 30
    )
    assert asyncio.run(first_score(conf, match_id)) is not None

    # An emoji posted to the ingest API reaches Redis emoji:<match>.
    sent_at = datetime.now(UTC)
    post(
        f"{conf.ingest.url}/v1/emoji",
        {
            "user_id": "platform-test",
            "match_id": match_id,
            "emoji": "🔥",
            "ts": format_timestamp(sent_at),
        },
        INGEST_KEY,
    )

    def counted() -> bool:
        start = store.hget(f"emoji:{match_id}", "window_start")
        return start is not None and parse_timestamp(start).timestamp() >= sent_at.timestamp() - 2

    wait_until(f"the posted emoji in Redis emoji:{match_id}", counted, FRESH_SECONDS)

    # A product change made through the API reaches the Products page.
    change = next(product_events(seed=int(time.time()), rate=1, start=datetime.now(UTC)))
    product = change["product_id"]
    post(f"{conf.ingest.url}/v1/products/{product}", change, INGEST_KEY)

    def on_products_page() -> bool:
        app = AppTest.from_file(str(PROJECT_ROOT / "dashboards/views/products.py"))
        app.run(timeout=60)
        app.text_input[0].input(product).run(timeout=60)
        frames = [frame.value for frame in app.dataframe]
        return any(
            "product_id" in frame.columns and (frame["product_id"] == product).any()
            for frame in frames
        )

    wait_until(f"product {product} on the Products page", on_products_page, FRESH_SECONDS, every=3)

    # The health page shows batches and lag.
    health = AppTest.from_file(str(PROJECT_ROOT / "dashboards/views/health.py"), default_timeout=60)
    health.run()
    titles = {json.loads(chart.proto.spec).get("title") for chart in health.get("vega_lite_chart")}
    assert {"Batch duration against the trigger", "Consumer lag"} <= titles
    assert not health.exception

    failures = [
        line
        for driver in DRIVER_CHILDREN
        for line in (logs / f"{driver}.log").read_text().splitlines()
        if FAILURE.search(line)
    ]
    assert failures == [], "queries failed or restarted:\n" + "\n".join(failures[:10])


def fresh_match(store: redis.Redis) -> str | None:
    """The match in play whose scoreboard this run updated last (Redis may hold older runs'
    too). In play: a match at half time or finished gets no score for a while, whatever the
    platform does, so a viewer of it would wait in vain."""
    now = time.time()
    newest: tuple[float, str] | None = None
    for key in store.scan_iter("match:*", count=1000):
        board = store.hmget(key, ["updated_at", "status"])
        if board[0] is None or board[1] != "live":
            continue
        updated = parse_timestamp(board[0]).timestamp()
        if now - updated < FRESH_SECONDS and (newest is None or updated > newest[0]):
            newest = (updated, key.split(":", 1)[1])
    return None if newest is None else newest[1]


async def first_score(conf, match_id: str) -> dict | None:
    """The first score message a viewer of `match_id` gets after its welcome (within bounds)."""
    registry = RegistryClient(conf.registry.url, REGISTRY_KEY)
    client = GatewayClient(registry, match_id, f"platform-test-{int(time.time())}")

    async def read() -> dict | None:
        async for message in client.messages():
            if message.get("type") == "score":
                return message
        return None

    try:
        return await asyncio.wait_for(read(), FRESH_SECONDS)
    finally:
        await client.leave()
