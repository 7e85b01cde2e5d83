"""Helpers of the delivery-tier tests: `pulse serve gateway` and `pulse serve publisher` as
real subprocesses, and a small fake registry for the tests that are about the nodes, not the
registry (the end-to-end tests run the real one).

The fake answers the node and client endpoints of the registry API's contract: nodes are live
while their last heartbeat is younger than `live_seconds`, a client goes to the live node of
highest rendezvous weight (`pulse.routing`, as the real one), 503 when there is none, and every
assignment carries an admission token signed with the test stacks' secret. Tests that connect
to a node themselves sign their own (`admitted_url`), as the registry would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pyarrow as pa
import pytest
from websockets.sync.client import ClientConnection, connect

from pulse import livestate
from pulse.config import PROJECT_ROOT, RedisConfig
from pulse.routing import rendezvous_node
from pulse.services.admission_tokens import AdmissionKey, Grant
from pulse.services.gateway.channels import cluster_emoji_channel
from pulse.sinks.base import BatchContext
from pulse.sinks.redis import RedisState
from pulse.stores import redis_client
from pulse.transforms.emoji import TOP_COLUMNS
from pulse.transforms.sports import SCOREBOARD_COLUMNS
from tests.conftest import ADMISSION_SECRET, free_tcp_port
from tests.polling import wait_for

QUIET = 0.5  # seconds a client waits to be sure nothing more comes
REGISTRY_KEY = "registry-key-0123456789"
ADMISSION = AdmissionKey(ADMISSION_SECRET.encode())
TOKEN_SECONDS = 60


def admission_token(
    node_id: str,
    client_id: str,
    match_id: str,
    subscriber_id: str | None = None,
    expires: float | None = None,
) -> str:
    """The token the registry would give `client_id` for `node_id` (valid `TOKEN_SECONDS`)."""
    grant = Grant(
        client_id=client_id, match_id=match_id, subscriber_id=subscriber_id, node_id=node_id
    )
    return ADMISSION.issue(grant, int(expires or time.time() + TOKEN_SECONDS))


@dataclass
class FakeRegistry:
    """The node and client endpoints of the registry API, in this process, on a free port."""

    live_seconds: float = 2.0
    key: str = REGISTRY_KEY  # the one API key it accepts
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", free_tcp_port()), _handler(self))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """Its base URL, for `PULSE_REGISTRY__URL`."""
        return f"http://127.0.0.1:{self.server.server_port}"

    def live(self) -> list[str]:
        """The ids of the nodes whose last heartbeat is recent enough."""
        now = time.monotonic()
        return [n for n, node in self.nodes.items() if now - node["beat"] < self.live_seconds]

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """The status and JSON body for one request."""
        parts = path.strip("/").split("/")[1:]  # without "v1"
        with self.lock:
            self.calls.append((method, path, body))
            if parts[0] == "nodes" and method == "PUT":
                self.nodes[parts[1]] = {**body, "beat": time.monotonic(), "connected": 0}
                return 200, {"node_id": parts[1], **body}
            if parts[0] == "nodes" and method == "POST":
                if parts[1] not in self.nodes:
                    return 404, {"detail": "no such node"}
                self.nodes[parts[1]].update(beat=time.monotonic(), connected=body["connected"])
                return 204, None
            if parts[0] == "nodes" and method == "DELETE":
                self.nodes.pop(parts[1], None)
                return 204, None
            if parts == ["clients"] and method == "POST":
                self.clients[body["client_id"]] = body["match_id"]
                return self._assignment(body["client_id"])
            if parts[0] == "clients" and parts[-1] == "assignment" and method == "POST":
                return self._assignment(parts[1])
            if parts[0] == "subscribers" and parts[-1] == "assignment" and method == "POST":
                return self._assignment(body["client_id"], parts[1])
            if parts[0] == "clients" and method == "DELETE":
                self.clients.pop(parts[1], None)
                return 204, None
        return 404, {"detail": f"no route {method} {path}"}

    def _assignment(self, client_id: str, subscriber_id: str | None = None) -> tuple[int, Any]:
        node = rendezvous_node(subscriber_id or client_id, self.live())
        if node is None:
            return 503, {"detail": "no live node"}
        if client_id not in self.clients:
            return 404, {"detail": f"no client {client_id}"}
        where, match_id = self.nodes[node], self.clients[client_id]
        return 200, {
            "client_id": client_id,
            "match_id": match_id,
            "node_id": node,
            "cluster": where["cluster"],
            "url": where["url"],
            "token": admission_token(node, client_id, match_id, subscriber_id),
        }

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def _handler(registry: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            if self.headers.get("X-API-Key") != registry.key:
                status, body = 401, {"detail": "bad key"}
            else:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = registry.answer(self.command, self.path, json.loads(raw or "null"))
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = _serve

        def log_message(self, *_args: Any) -> None:
            """Quiet: the test's output is for failures."""

    return Handler


@dataclass
class Service:
    """A `pulse serve ...` subprocess and its log."""

    process: subprocess.Popen[bytes]
    log: Path
    port: int | None = None
    node_id: str | None = None

    @property
    def url(self) -> str:
        """A node's WebSocket endpoint."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def output(self) -> str:
        """What it logged so far."""
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        """Still running; a failed start fails the test with its log."""
        if self.process.poll() is not None:
            raise AssertionError(f"exited {self.process.returncode}:\n{self.output()}")
        return True

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"did not stop:\n{self.output()}") from None

    def kill(self) -> None:
        """SIGKILL: a node dying without a word."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(10)


StartService = Callable[..., Service]


@contextlib.contextmanager
def service_starter(
    env: Mapping[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartService]:
    """`start(*args, ready=..., extra_env=..., port=..., node_id=...)` runs `pulse serve *args`
    with `env` added and waits until `ready(service)`; every service it started is stopped at
    the end."""
    started: list[Service] = []

    def start(
        *args: str,
        ready: Callable[[Service], bool],
        extra_env: Mapping[str, str] | None = None,
        port: int | None = None,
        node_id: str | None = None,
    ) -> Service:
        log = tmp_path_factory.mktemp("service") / f"{'-'.join(args)}.log"
        argv = [sys.executable, "-m", "pulse", "serve", *args]
        if port is not None:
            argv += ["--port", str(port)]
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                env={**os.environ, **env, **(extra_env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        service = Service(process, log, port, node_id)
        started.append(service)
        wait_for(lambda: service.alive() and ready(service), 30, f"pulse serve {' '.join(args)}")
        return service

    try:
        yield start
    finally:
        for service in started:
            if service.process.poll() is None:
                service.stop()


def admitted_url(
    node: Service,
    match_id: str,
    subscriber_id: str | None = None,
    client_id: str | None = None,
    token: str | None = None,
) -> str:
    """`node`'s WebSocket URL for a client of `match_id` (a fresh id unless given), with the
    token the registry would give it (unless `token` is given)."""
    assert node.node_id is not None
    client_id = client_id or f"c-{uuid.uuid4().hex[:8]}"
    params = {"client_id": client_id, "match_id": match_id}
    if subscriber_id:
        params["subscriber_id"] = subscriber_id
    params["token"] = token or admission_token(node.node_id, client_id, match_id, subscriber_id)
    return f"{node.url}?{urlencode(params)}"


@contextlib.contextmanager
def join(
    node: Service, match_id: str, subscriber_id: str | None = None, **options: Any
) -> Iterator[ClientConnection]:
    """A connected client of `match_id` that has had its welcome."""
    with connect(admitted_url(node, match_id, subscriber_id), **options) as client:
        assert json.loads(client.recv(10))["type"] == "welcome"
        yield client


def received(client: ClientConnection) -> list[dict[str, Any]]:
    """Every message that arrives until the client has been quiet for `QUIET` seconds."""
    messages = []
    while True:
        try:
            messages.append(json.loads(client.recv(QUIET)))
        except TimeoutError:
            return messages


def score(match_id: str, sequence: int, batch_id: int = 1, seq: int = 0) -> str:
    """A scoreboard as the live job publishes it on `match:{id}`."""
    return json.dumps(
        {"match_id": match_id, "home_score": sequence, "away_score": 0, "sequence": sequence,
         "updated_at": "2026-01-01T00:00:00Z", "batch_id": batch_id, "seq": seq}
    )  # fmt: skip


def write_scoreboard(conf: RedisConfig, match_id: str, home: int, away: int, sequence: int) -> None:
    """Write (and publish) a scoreboard through the live job's Redis sink, as the job would."""
    row = {"match_id": match_id, "home_team": "Lions", "away_team": "Tigers", "home_score": home,
           "away_score": away, "period": 2, "status": "live", "sequence": sequence,
           "updated_at": datetime.now(UTC)}  # fmt: skip
    sink = RedisState(
        "match_state", conf, livestate.MATCH, SCOREBOARD_COLUMNS,
        channel=livestate.MATCH, version_field="sequence",
    )  # fmt: skip
    sink.write(pa.Table.from_pylist([row]), _context())


def write_top_emojis(conf: RedisConfig, match_id: str, top: list[tuple[str, int]]) -> None:
    """Write a match's latest top emojis (emoji, count) through the live job's Redis sink."""
    ranked = [{"rank": rank, "emoji": emoji, "count": count, "units": -(-count // 10)}
              for rank, (emoji, count) in enumerate(top, start=1)]  # fmt: skip
    row = {"match_id": match_id, "window_start": datetime.now(UTC),
           "top": json.dumps(ranked, ensure_ascii=False)}  # fmt: skip
    sink = RedisState("emoji_top", conf, livestate.EMOJI, TOP_COLUMNS, channel=livestate.EMOJI)
    sink.write(pa.Table.from_pylist([row]), _context())


def publish_emoji(
    conf: RedisConfig, match_id: str, emoji: str, window_start: str, count: int
) -> None:
    """Publish a window's new count on the test node's cluster channel (`c-test`), as the
    cluster publisher relays it from `emoji.aggregated`."""
    message = {"match_id": match_id, "emoji": emoji, "window_start": window_start,
               "count": count, "units": -(-count // 10), "batch_id": 1, "seq": 0}  # fmt: skip
    client = redis_client(conf)
    try:
        client.publish(cluster_emoji_channel("c-test"), json.dumps(message, ensure_ascii=False))
    finally:
        client.close()


def _context() -> BatchContext:
    """A batch of a checkpoint of its own: the sink's ledger never takes it for a replay."""
    return BatchContext("live", f"test-{uuid.uuid4().hex[:8]}", 0)
