"""The delivery tier end to end: the real registry (`pulse serve registry`), the ingest API,
2 clusters of 2 nodes with their publishers, and `jobs/live.py`, all real processes on the
session's stack; and the live web page in a real headless Chromium.

One module-scoped stack (the live job takes a while to start); tests register their own
matches, subscribers and clients (unique ids). The node-kill test runs last but one, since its
node stays dead, and the last test checks that no client received anything twice, across all
of the module's clients and their reconnections.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from confluent_kafka import Producer
from selenium.webdriver.common.by import By

from pulse.config import PROJECT_ROOT, PulseConfig, load_config
from pulse.events import SCHEMAS, example
from pulse.events.schema import format_timestamp, wire_bytes
from pulse.kafka.admin import ensure_topics
from pulse.services.gateway.client import GatewayClient
from pulse.services.gateway.registry import RegistryClient
from pulse.stores import mysql_connect, redis_client
from tests.browser import screenshot, watching
from tests.conftest import free_tcp_port
from tests.jobs.conftest import databases  # noqa: F401  (the migrated schemas, a fixture)
from tests.polling import wait_for
from tests.services.gateway.support import REGISTRY_KEY, Service, StartService, service_starter

pytestmark = [pytest.mark.spark, pytest.mark.broker]

CLUSTERS = ("a", "b")
NODES_PER_CLUSTER = 2
JOB_START_TIMEOUT = 240.0
INGEST_KEY = "ingest-key-0123456789"
LIVE_QUERIES = ("live",)  # jobs/live.py
HEARTBEAT_EXPIRY = 3  # streaming.node_heartbeat_seconds of this stack: a dead node goes quickly


@dataclass
class DeliveryStack:
    """The running stack: its configuration, registry address, nodes and a producer."""

    conf: PulseConfig
    prefix: str
    registry_url: str
    nodes: dict[str, Service]
    producer: Producer
    start: StartService | None = None  # starts (or starts again) a `pulse serve` service
    registry: Service | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One registry request: status and JSON body."""
        host = self.registry_url.removeprefix("http://")
        connection = http.client.HTTPConnection(host, timeout=10)
        try:
            payload = None if body is None else json.dumps(body)
            headers = {"X-API-Key": REGISTRY_KEY, "Content-Type": "application/json"}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        return response.status, json.loads(data) if data else None

    def produce(self, domain: str, key: str, event: dict[str, Any]) -> float:
        """Produce one event to its domain's topic; the time it was sent."""
        topic = getattr(self.conf.topics, domain).name
        self.producer.produce(topic, wire_bytes(event), key=key.encode())
        assert self.producer.flush(10) == 0
        return time.time()


@dataclass
class Viewer:
    """A `GatewayClient` running on the viewers' loop, and what it received (with `_at`)."""

    client: GatewayClient
    messages: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        """The messages of `kind` whose fields have the given values."""
        return [
            m
            for m in list(self.messages)
            if m["type"] == kind and all(m.get(k) == v for k, v in fields.items())
        ]

    @property
    def node_id(self) -> str:
        """The node of its last welcome."""
        return self.of("welcome")[-1]["node_id"]

    @property
    def cluster(self) -> str:
        """The cluster of its last welcome."""
        return self.of("welcome")[-1]["cluster"]


class Viewers:
    """Clients on one event loop in a thread, so that sync tests watch many at once."""

    def __init__(self, registry_url: str) -> None:
        self.registry_url = registry_url
        self.all: list[Viewer] = []
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def add(self, match_id: str, subscriber_id: str | None = None) -> Viewer:
        """A connected viewer of `match_id` (welcomed by its node)."""
        registry = RegistryClient(self.registry_url, REGISTRY_KEY)
        client_id = f"c-{uuid.uuid4().hex[:10]}"
        viewer = Viewer(GatewayClient(registry, match_id, client_id, subscriber_id, patience=60))
        asyncio.run_coroutine_threadsafe(self._collect(viewer), self.loop)
        wait_for(lambda: bool(viewer.of("welcome")), 20, f"{client_id} to be welcomed")
        self.all.append(viewer)
        return viewer

    @staticmethod
    async def _collect(viewer: Viewer) -> None:
        async for message in viewer.client.messages():
            viewer.messages.append({**message, "_at": time.time()})

    def close(self) -> None:
        """Stop every client, each closing its socket, then the loop.

        A client only cancelled from outside its loop never answers its node's close frame, and
        each node then waits out its close timeout (10 s) when the stack stops."""
        asyncio.run_coroutine_threadsafe(self._stop_clients(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)

    @staticmethod
    async def _stop_clients() -> None:
        clients = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)


def now() -> str:
    return format_timestamp(datetime.now(UTC))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def stack(
    test_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    databases: None,  # noqa: F811
) -> Iterator[DeliveryStack]:
    """Registry, publishers, nodes and the live job, on topics of their own."""
    prefix = f"e{uuid.uuid4().hex[:6]}"
    work = tmp_path_factory.mktemp("delivery")
    port, ingest_port = free_tcp_port(), free_tcp_port()
    registry_url = f"http://127.0.0.1:{port}"
    env = {
        **test_env,
        "PULSE_STREAMING__CHECKPOINT_DIR": str(work / "checkpoints"),
        "PULSE_LAKE__PATH": str(work / "lake"),
        "PULSE_STREAMING__TRIGGER_SECONDS": "1",
        "PULSE_STREAMING__NODE_HEARTBEAT_SECONDS": str(HEARTBEAT_EXPIRY),
        "PULSE_GATEWAY__HEARTBEAT_SECONDS": "0.5",
        "PULSE_REGISTRY__PORT": str(port),
        "PULSE_REGISTRY__URL": registry_url,
        "PULSE_REGISTRY__API_KEYS": REGISTRY_KEY,
        "PULSE_GATEWAY__REGISTRY_KEY": REGISTRY_KEY,
        "PULSE_INGEST__PORT": str(ingest_port),
        "PULSE_INGEST__URL": f"http://127.0.0.1:{ingest_port}",
        "PULSE_INGEST__API_KEYS": INGEST_KEY,
        "PULSE_GATEWAY__INGEST_KEY": INGEST_KEY,
    }
    for domain, topic in load_config(environ=test_env).topics.all().items():
        env[f"PULSE_TOPICS__{domain.upper()}__NAME"] = f"{prefix}.{topic.name}"
    conf = load_config(environ=env)
    ensure_topics(conf.kafka, {t.name: t.partitions for t in conf.topics.all().values()})
    producer = Producer(conf.kafka.client_params())
    with service_starter(env, tmp_path_factory) as start:
        delivery = DeliveryStack(conf, prefix, registry_url, {}, producer, start)
        delivery.registry = start("registry", port=port, ready=lambda _s: _answers(delivery))
        start("ingest", port=ingest_port, ready=lambda s: "ingest API on" in s.output())
        for cluster in CLUSTERS:
            name = f"{prefix}{cluster}"
            start(
                "publisher",
                "--cluster",
                name,
                ready=lambda s, name=name: f"publisher of cluster {name}" in s.output(),
            )
            for index in range(NODES_PER_CLUSTER):
                node = f"{name}-n{index}"
                delivery.nodes[node] = start(
                    "gateway", "--cluster", name, "--node", node, port=free_tcp_port(),
                    node_id=node, ready=lambda s, node=node: f"node {node} of" in s.output(),
                )  # fmt: skip
        log = (work / "live.log").open("wb")
        job = subprocess.Popen(
            [str(PROJECT_ROOT / "spark-submit.sh"), "jobs/live.py"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_the_job(delivery, job, work)
            yield delivery
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pid, signal.SIGKILL)
            job.wait(30)
            log.close()
            _forget(conf, prefix)


def _answers(delivery: DeliveryStack) -> bool:
    with contextlib.suppress(OSError):
        return delivery.request("GET", "/health")[0] == 200
    return False


def _wait_for_the_job(delivery: DeliveryStack, job: subprocess.Popen[bytes], work: Any) -> None:
    """Until each of the job's queries has committed a batch of warm-up events (one per domain
    it reads) and the warm-up score is in Redis `match:{id}`.

    The job starts its queries one after another, each once the one before has planned its
    first batch, so a ready scoreboard says nothing of the game fan-out: a CI run on a busy
    machine started it late enough that a test's game update waited out its 15 s there.
    """
    warm = {"sports": "match_id", "emoji": "match_id", "game": "game_id"}
    match_id = unique("warm")
    for domain, key in warm.items():
        event = {**example(SCHEMAS[domain]), key: match_id, "ts": now()}
        if domain == "sports":
            event |= {"event_id": unique("se"), "sequence": 1}
        delivery.produce(domain, match_id, event)
    client = redis_client(delivery.conf.redis)

    def ready() -> bool:
        if job.poll() is not None:
            raise AssertionError(f"the live job exited:\n{(work / 'live.log').read_text()[-3000:]}")
        committed = all(
            any((work / "checkpoints" / query / "commits").glob("[0-9]*")) for query in LIVE_QUERIES
        )
        return committed and bool(client.exists(f"match:{match_id}"))

    try:
        wait_for(ready, JOB_START_TIMEOUT, f"a committed batch of each of {LIVE_QUERIES}")
    finally:
        client.close()


def _forget(conf: PulseConfig, prefix: str) -> None:
    """Remove the rows this module made (its nodes, clients, subscribers) from MySQL."""
    conn = mysql_connect(conf.mysql)
    cursor = conn.cursor()
    cursor.execute("DELETE FROM delivery_nodes WHERE node_id LIKE %s", (f"{prefix}%",))
    cursor.execute("DELETE FROM subscriptions WHERE subscriber_id LIKE %s", (f"{prefix}%",))
    cursor.execute("DELETE FROM game_deliveries WHERE subscriber_id LIKE %s", (f"{prefix}%",))
    cursor.execute("DELETE FROM subscribers WHERE subscriber_id LIKE %s", (f"{prefix}%",))
    conn.commit()
    cursor.close()
    conn.close()


@pytest.fixture(scope="module")
def viewers(stack: DeliveryStack) -> Iterator[Viewers]:
    """Every client the module's tests connect."""
    running = Viewers(stack.registry_url)
    yield running
    running.close()


def test_a_score_event_reaches_a_connected_client_within_3_seconds(stack, viewers):
    match_id = unique("m")
    viewer = viewers.add(match_id)
    event = {**example(SCHEMAS["sports"]), "event_id": unique("se"), "match_id": match_id,
             "sequence": 5, "home_score": 2, "ts": now()}  # fmt: skip
    sent = stack.produce("sports", match_id, event)
    wait_for(lambda: bool(viewer.of("score", sequence=5)), 10, "the score at the client")
    [score] = viewer.of("score", sequence=5)
    assert score["home_score"] == 2
    assert score["_at"] - sent < 3.0


def test_an_emoji_burst_reaches_the_clients_of_its_match_in_every_cluster_as_units(stack, viewers):
    match_id = unique("m")
    watching = [viewers.add(match_id) for _ in range(4)]
    clusters = {v.cluster for v in watching}
    while len(clusters) < len(CLUSTERS) and len(watching) < 30:  # HRW spreads by client id
        watching.append(viewers.add(match_id))
        clusters.add(watching[-1].cluster)
    assert len(clusters) == len(CLUSTERS)
    bystander = viewers.add(unique("m"))
    ts = now()
    for i in range(2500):
        reaction = {"event_id": unique("er"), "user_id": f"u-{i % 97:04d}",
                    "match_id": match_id, "emoji": "🔥", "ts": ts}  # fmt: skip
        stack.producer.produce(
            stack.conf.topics.emoji.name, wire_bytes(reaction), key=match_id.encode()
        )
    assert stack.producer.flush(10) == 0
    for viewer in watching:
        wait_for(lambda v=viewer: bool(v.of("emoji", count=2500)), 30, "the burst's window")
        [total] = viewer.of("emoji", count=2500)
        assert (total["match_id"], total["emoji"], total["units"]) == (match_id, "🔥", 3)
    assert bystander.of("emoji") == []


def test_a_game_update_reaches_a_connected_subscriber_and_the_inbox_of_an_offline_one(
    stack, viewers
):
    game_id = unique("g")
    online, offline = unique(f"{stack.prefix}-on"), unique(f"{stack.prefix}-off")
    for subscriber in (online, offline):
        path = f"/v1/subscribers/{quote(subscriber)}"
        assert stack.request("PUT", path, {"name": subscriber})[0] in (200, 201)
        assert stack.request("PUT", f"{path}/subscriptions/{quote(game_id)}")[0] in (200, 201, 204)
    since = now()
    viewer = viewers.add(unique("m"), subscriber_id=online)
    update_id = unique("gu")
    event = {**example(SCHEMAS["game"]), "update_id": update_id, "game_id": game_id, "ts": now()}
    stack.produce("game", game_id, event)
    wait_for(lambda: bool(viewer.of("game", update_id=update_id)), 15, "the game update")

    def in_inbox() -> bool:
        status, body = stack.request(
            "GET", f"/v1/subscribers/{quote(offline)}/inbox?since={quote(since)}"
        )
        return status == 200 and update_id in {u["update_id"] for u in body["updates"]}

    wait_for(in_inbox, 15, "the update in the offline subscriber's inbox")


def test_the_live_page_shows_the_score_change_and_sends_emoji_that_come_back_as_units(stack):
    match_id = unique("m")
    first = {**example(SCHEMAS["sports"]), "event_id": unique("se"), "match_id": match_id,
             "sequence": 1, "home_score": 1, "ts": now()}  # fmt: skip
    stack.produce("sports", match_id, first)
    redis = redis_client(stack.conf.redis)
    try:
        wait_for(lambda: bool(redis.exists(f"match:{match_id}")), 15, "the match's scoreboard")
    finally:
        redis.close()
    node = next(iter(stack.nodes.values()))
    with watching(f"http://127.0.0.1:{node.port}/", match_id) as (browser, text):
        wait_for(lambda: text("home-score") == "1", 5, "the scoreboard as it is")
        stack.produce("sports", match_id, {**first, "event_id": unique("se"), "sequence": 2,
                                           "home_score": 2, "ts": now()})  # fmt: skip
        wait_for(lambda: text("home-score") == "2", 10, "the score change on the page")
        fire = browser.find_element(By.CSS_SELECTOR, '#emoji-buttons button[data-emoji="🔥"]')
        for _ in range(5):
            fire.click()
        wait_for(lambda: text("sent-count") == "5", 10, "five emoji taken by the ingest API")
        units = '#units tr.unit-row[data-emoji="🔥"]'
        wait_for(
            lambda: bool(browser.find_elements(By.CSS_SELECTOR, units)), 20, "units on the page"
        )
        screenshot(browser, "live-page")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors


def test_the_page_api_sends_a_subscribers_viewer_to_its_subscribers_node_and_names_bad_fields(
    stack,
):
    subscriber = unique(f"{stack.prefix}-page")
    assert stack.request("PUT", f"/v1/subscribers/{subscriber}", {"name": "p"})[0] in (200, 201)
    node = next(iter(stack.nodes.values()))

    def page_api(target: str) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
        try:
            connection.request("POST", target)
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read())
        finally:
            connection.close()

    client = unique("c")
    status, body = page_api(
        f"/api/assignment?match_id={unique('m')}&client_id={client}&subscriber_id={subscriber}"
    )
    expected = stack.request(
        "POST", f"/v1/subscribers/{subscriber}/assignment", {"client_id": client}
    )[1]
    assert status == 200
    assert (body["node_id"], body["url"]) == (expected["node_id"], expected["url"])
    status, body = page_api("/api/assignment?match_id=m%20x&client_id=c")
    assert (status, body["field"], body["value"]) == (400, "match_id", "m x")


@pytest.mark.counts
def test_a_restarted_registry_leaves_every_client_its_stream(stack, viewers):
    """The registry is the control plane only: killed, its clients keep their sockets and their
    updates; started again, nodes heartbeat into it and new clients are assigned."""
    match_id = unique("m")
    watching = [viewers.add(match_id) for _ in range(4)]
    port = int(stack.registry_url.rsplit(":", 1)[1])

    stack.registry.kill()
    assert not _answers(stack)
    during = {**example(SCHEMAS["sports"]), "event_id": unique("se"), "match_id": match_id,
              "sequence": 5, "ts": now()}  # fmt: skip
    stack.produce("sports", match_id, during)
    for viewer in watching:
        wait_for(lambda v=viewer: bool(v.of("score", sequence=5)), 10, "a score, registry down")
    stack.registry = stack.start("registry", port=port, ready=lambda _s: _answers(stack))
    newcomer = viewers.add(match_id)
    after = {**during, "event_id": unique("se"), "sequence": 6, "ts": now()}
    stack.produce("sports", match_id, after)

    for viewer in [*watching, newcomer]:
        wait_for(lambda v=viewer: bool(v.of("score", sequence=6)), 10, "a score, registry back")
    print(f"\nregistry killed and started again: {len(watching)} clients kept their one "
          f"connection and got both scores; a new client was assigned afterwards")  # fmt: skip
    assert all(v.client.connections == 1 for v in watching)


def test_a_killed_nodes_clients_move_and_receive_the_next_updates(stack, viewers):
    match_id = unique("m")
    watching = [viewers.add(match_id) for _ in range(8)]
    victim = watching[0].node_id
    moving = [v for v in watching if v.node_id == victim]
    staying = [v for v in watching if v.node_id != victim]
    stack.nodes[victim].kill()
    for viewer in moving:
        wait_for(
            lambda v=viewer: len(v.of("welcome")) == 2, 10 + 3 * HEARTBEAT_EXPIRY, "a new node"
        )
        assert viewer.node_id != victim
    assert all(v.client.connections == 1 for v in staying)  # only the dead node's clients move
    event = {**example(SCHEMAS["sports"]), "event_id": unique("se"), "match_id": match_id,
             "sequence": 9, "ts": now()}  # fmt: skip
    stack.produce("sports", match_id, event)
    for viewer in watching:
        wait_for(lambda v=viewer: bool(v.of("score", sequence=9)), 10, "the next score")


def test_no_client_received_anything_twice(viewers):
    assert viewers.all
    for viewer in viewers.all:
        ids = [m["id"] for m in viewer.messages if m["type"] != "welcome"]
        assert len(ids) == len(set(ids)), viewer.client.client_id
