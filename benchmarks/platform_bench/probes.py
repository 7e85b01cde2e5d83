"""End-to-end latency, event time (`ts`) to visible in each path's sink.

- Subscriptions (`Listener`): Redis `PSUBSCRIBE match:* node:* emoji:*`. A scoreboard message
  carries its event's `updated_at`, a game delivery its update's `delivered_at`: latency =
  receive time - that. On `emoji:<match>`, the first message of a probe's match ends the probe.
- Probes (`Prober`): one emoji, one media event and one product change a second through the
  ingest API, each with ts = now and an id of its own; media is found by polling Redis
  `event:<id>` (50 ms), products by polling MySQL `products` (100 ms), and every 30 s one media
  probe is followed into the Delta table silver/media (polled every second).

Only what happens inside the measured window counts: messages received in it, probes sent in it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable

from pulse.config import PulseConfig
from pulse.events.schema import format_timestamp
from pulse.simulate.game import GAME_IDS
from pulse.stores import mysql_connect, redis_client

log = logging.getLogger("platform_bench")
PATHS = ("emoji", "scores", "game", "media", "product", "lake")
BENCH_SUBSCRIBER = "bench-subscriber"


class Latencies:
    """Latency samples per path, thread-safe, kept only inside the measured window."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.sent: dict[str, int] = defaultdict(int)
        self.failed: dict[str, int] = defaultdict(int)
        self.window: tuple[float, float] = (float("inf"), float("inf"))

    def open(self, seconds: float) -> None:
        now = time.time()
        self.window = (now, now + seconds)

    def inside(self, moment: float) -> bool:
        return self.window[0] <= moment <= self.window[1]

    def add(self, path: str, latency: float) -> None:
        with self._lock:
            self.samples[path].append(latency)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {path: len(self.samples.get(path, ())) for path in PATHS}


def event_time(text: str) -> float:
    """Seconds since the epoch of an ISO-8601 timestamp (`...Z` or with an offset)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Listener(threading.Thread):
    """Redis subscriber for scores, game deliveries and probe emoji windows."""

    def __init__(self, conf: PulseConfig, latencies: Latencies, probes: dict[str, float]) -> None:
        super().__init__(name="redis-listener", daemon=True)
        self._conf, self._lat, self._probes = conf, latencies, probes
        self.stopping = threading.Event()
        self.messages: dict[str, int] = defaultdict(int)

    def run(self) -> None:
        client = redis_client(self._conf.redis)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.psubscribe("match:*", "node:*", "emoji:*")
        try:
            while not self.stopping.is_set():
                message = pubsub.get_message(timeout=0.5)
                if message is not None:
                    self._take(message, time.time())
        finally:
            pubsub.close()

    def _take(self, message: dict, received: float) -> None:
        channel = _text(message["channel"])
        kind, _, name = channel.partition(":")
        self.messages[kind] += 1
        if kind == "emoji":
            sent = self._probes.pop(name, None)
            if sent is not None and self._lat.inside(sent):
                self._lat.add("emoji", received - sent)
            return
        if not self._lat.inside(received):
            return
        field = {"match": "updated_at", "node": "delivered_at"}.get(kind)
        try:
            row = json.loads(message["data"])
            self._lat.add(
                "scores" if kind == "match" else "game", received - event_time(row[field])
            )
        except (ValueError, KeyError, TypeError):
            self.messages[f"{kind} unreadable"] += 1


class Prober:
    """Sends the probes through the ingest API and polls the sinks that have no channel."""

    def __init__(
        self, conf: PulseConfig, latencies: Latencies, api_key: str, registry_key: str
    ) -> None:
        self._conf, self._lat = conf, latencies
        self._api = httpx.Client(base_url=conf.ingest.url, headers={"X-API-Key": api_key})
        self._registry = httpx.Client(
            base_url=conf.registry.url, headers={"X-API-Key": registry_key}
        )
        self._run = uuid.uuid4().hex[:8]
        self.emoji: dict[str, float] = {}  # match id -> probe ts, shared with the Listener
        self._media: dict[str, float] = {}
        self._products: dict[str, float] = {}
        self._lake: dict[str, float] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.sending = threading.Event()
        self.errors: list[str] = []

    def subscribe_games(self) -> bool:
        """Make sure one subscriber follows every game, so that game updates are delivered."""
        try:
            answer = self._registry.put(
                f"/v1/subscribers/{BENCH_SUBSCRIBER}", json={"name": "Platform benchmark"}
            )
            answer.raise_for_status()
            for game in GAME_IDS:
                self._registry.put(
                    f"/v1/subscribers/{BENCH_SUBSCRIBER}/subscriptions/{game}"
                ).raise_for_status()
        except httpx.HTTPError as exc:
            self._note(f"registry: {exc}")
            return False
        return True

    def unsubscribe_games(self) -> None:
        try:
            self._registry.delete(f"/v1/subscribers/{BENCH_SUBSCRIBER}")
        except httpx.HTTPError as exc:
            self._note(f"registry: {exc}")

    def threads(self) -> list[threading.Thread]:
        return [
            threading.Thread(target=self._send_loop, name="probe-send", daemon=True),
            threading.Thread(target=self._poll_redis, name="poll-redis", daemon=True),
            threading.Thread(target=self._poll_mysql, name="poll-mysql", daemon=True),
            threading.Thread(target=self._poll_lake, name="poll-lake", daemon=True),
        ]

    def pending(self) -> int:
        with self._lock:
            return len(self._media) + len(self._products) + len(self._lake) + len(self.emoji)

    def _send_loop(self) -> None:
        n, next_at = 0, time.monotonic()
        while not self.stopping.is_set():
            if self.sending.is_set():
                n += 1
                self._send_all(n)
            next_at += 1.0
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def _send_all(self, n: int) -> None:
        """One probe of each path. Every media probe is a lake probe too: one a second lands at
        every phase of the lake's trigger, so its p95 is the wait a record really has (one
        lake probe every 30 s against a 30 s trigger met the trigger at one phase only, and
        the figure depended on which)."""
        tag = f"bench-{self._run}-{n}"
        match = f"bench-probe-{self._run}-{n}"
        sent = time.time()
        ts = format_timestamp(datetime.fromtimestamp(sent, UTC))
        sent = event_time(ts)  # what the sinks see: milliseconds
        self.emoji[match] = sent
        emoji = {"user_id": "u-bench", "match_id": match, "emoji": "🔥", "ts": ts}
        self._post("emoji", "/v1/emoji", emoji)
        if self._post("media", "/v1/events/media", media_probe(tag, ts)):
            with self._lock:
                self._media[tag] = sent
                self._lake[tag] = sent
        if self._post("product", f"/v1/products/{tag}", product_probe(tag, ts)):
            with self._lock:
                self._products[tag] = sent

    def _post(self, path: str, url: str, body: dict) -> bool:
        self._lat.sent[path] += 1
        try:
            answer = self._api.post(url, json=body, timeout=5)
        except httpx.HTTPError as exc:
            self._lat.failed[path] += 1
            self._note(f"POST {url}: {exc}")
            return False
        if answer.status_code != 202:
            self._lat.failed[path] += 1
            self._note(f"POST {url}: {answer.status_code} {answer.text[:200]}")
            return False
        return True

    def _poll_redis(self) -> None:
        client = redis_client(self._conf.redis)
        while not self.stopping.wait(0.05):
            with self._lock:
                ids = list(self._media)
            if not ids:
                continue
            pipe = client.pipeline(transaction=False)
            for probe in ids:
                pipe.exists(f"event:{probe}")
            found = [probe for probe, hit in zip(ids, pipe.execute(), strict=True) if hit]
            self._found("media", self._media, found, time.time())

    def _poll_mysql(self) -> None:
        conn = mysql_connect(self._conf.mysql)
        conn.autocommit = True  # each SELECT sees the latest commits
        try:
            while not self.stopping.wait(0.1):
                with self._lock:
                    ids = list(self._products)
                if not ids:
                    continue
                cursor = conn.cursor()
                marks = ",".join(["%s"] * len(ids))
                cursor.execute(
                    f"SELECT product_id FROM products WHERE product_id IN ({marks})", ids
                )
                found = [row[0] for row in cursor.fetchall()]
                cursor.close()
                self._found("product", self._products, found, time.time())
        finally:
            conn.close()

    def _poll_lake(self) -> None:
        """Every 0.2 s, only the table's files not looked at before: a probe is in a file the
        lake adds after it was sent. (A scan of the whole table each second grew with it, and
        by minute 8 of the measured window the benchmark loaded the machine it measured.) The
        interval is the figure's error: with a poll a second, up to 1 s was added."""
        path = Path(self._conf.lake.path) / "silver" / "media"
        seen: set[str] = set()
        table: DeltaTable | None = None
        while not self.stopping.wait(0.2):
            with self._lock:
                ids = list(self._lake)
            if not ids:
                continue
            try:
                if table is None:
                    table = DeltaTable(str(path))
                else:
                    table.update_incremental()  # the commits since the last poll only
                files = set(table.file_uris())
                new = sorted(files - seen)
                found = (
                    ds.dataset(new, format="parquet").to_table(
                        columns=["id"], filter=pc.field("id").isin(ids)
                    )
                    if new
                    else None
                )
            except Exception as exc:  # the table may not exist yet, or be mid-commit
                self._note(f"lake: {exc}")
                continue
            seen |= files
            if found is not None:
                self._found("lake", self._lake, found.column("id").to_pylist(), time.time())

    def _found(self, path: str, pending: dict[str, float], found: list[str], at: float) -> None:
        with self._lock:
            for probe in set(found):
                sent = pending.pop(probe, None)
                if sent is not None and self._lat.inside(sent):
                    self._lat.add(path, at - sent)

    def _note(self, error: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(error)
        log.debug(error)

    def close(self) -> None:
        self._api.close()
        self._registry.close()


def media_probe(probe_id: str, ts: str) -> dict:
    """A valid media event (pulse/events/domains.py MEDIA)."""
    return {
        "id": probe_id,
        "timestamp": ts,
        "type": "view",
        "user": "u-00001",
        "metadata": {
            "quality": "720p",
            "device": "mobile",
            "duration_ms": 60_000,
            "content_id": "c-00001",
        },
    }


def product_probe(product_id: str, ts: str) -> dict:
    """A valid product creation (pulse/events/domains.py PRODUCT), version 1."""
    return {
        "change_id": f"pc-{product_id}",
        "product_id": product_id,
        "version": 1,
        "op": "create",
        "source": "api",
        "after": {
            "name": "Benchmark probe",
            "category": "bench",
            "price": 1.0,
            "currency": "EUR",
            "stock": 1,
        },
        "ts": ts,
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
