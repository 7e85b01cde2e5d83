"""Helpers of the service tests: a `pulse serve` process (the ingest API on topics of its own,
the registry, ...), polling with a deadline, and reading a topic back.

Each API gets topics of its own (`PULSE_TOPICS__<DOMAIN>__NAME`), so what a test reads back is
what that API wrote. Reading goes through one consumer with assign (no group: joins are slow on
Tansu) that waits for a condition, then reads on to the topic's true end, so that a repeat
written along with the awaited records is seen too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from pulse.config import PROJECT_ROOT, MySQLConfig, PulseConfig, load_config
from pulse.events import SCHEMAS
from pulse.kafka.admin import end_offsets, ensure_topics
from tests.conftest import free_tcp_port
from tests.polling import wait_for

Events = list[dict[str, Any]]
KEYS = ("key-one-0123456789", "key-two-9876543210")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers (lower-case names) and the body, parsed when JSON."""

    status: int
    headers: Mapping[str, str]
    body: Any


@dataclass
class Service:
    """A running `pulse serve <service>` process and the `PULSE_*` settings it runs with."""

    service: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    env: Mapping[str, str]
    stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = KEYS[0],
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request on a fresh connection; `body` is sent as JSON (and says so) unless it is
        bytes."""
        raw = body if isinstance(body, bytes | None) else json.dumps(body).encode()
        sent = {
            **({"X-API-Key": key} if key is not None else {}),
            **({"Content-Type": "application/json"} if raw is not body else {}),
            **(headers or {}),
        }
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=raw, headers=sent)
            return read_answer(connection.getresponse())
        finally:
            connection.close()

    def post(self, path: str, body: Any, **options: Any) -> Answer:
        """POST `body` to `path`."""
        return self.request("POST", path, body, **options)

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM, then wait for the exit; the exit code (-15: ended by the re-raised SIGTERM)."""
        if not self.stopped:
            self.stopped = True
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(
                f"pulse serve {self.service} did not stop:\n{self.log.read_text()}"
            ) from None


@dataclass
class Api(Service):
    """A running `pulse serve ingest` process and the configuration it runs with."""

    conf: PulseConfig = field(kw_only=True)

    def topic(self, domain: str) -> str:
        """The topic this API writes `domain` events to."""
        return getattr(self.conf.topics, domain).name


S = TypeVar("S", bound=Service)


def launch(
    service: str,
    settings: Mapping[str, str],
    log_dir: Path,
    make: Callable[..., S] = Service,
    timeout: float = 20,
) -> S:
    """Start `pulse serve <service>` on a free port with `settings` added to the environment,
    and wait until its `/health` answers 200; `make` builds the handle (`Service`, `Api`)."""
    port = free_tcp_port()
    log = log_dir / f"{service}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pulse", "serve", service, "--port", str(port)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **settings},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = make(service, port, process, log, settings)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"pulse serve {service} exited {process.returncode}:\n{log.read_text()}"
            )
        with contextlib.suppress(OSError):
            return running.request("GET", "/health", key=None).status == 200
        return False

    wait_for(healthy, timeout, f"pulse serve {service} to answer /health")
    return running


def read_answer(response: http.client.HTTPResponse) -> Answer:
    """The answer of a response, its body read."""
    data = response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    is_json = headers.get("content-type", "").startswith("application/json")
    return Answer(response.status, headers, json.loads(data) if is_json else data.decode())


StartApi = Callable[..., Api]


@contextlib.contextmanager
def api_starter(
    test_env: Mapping[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartApi]:
    """A function that starts `pulse serve ingest` on fresh topics, with `ingest` settings given
    as keywords and other `PULSE_*` settings in `env`; every API it started is stopped at the
    end of the block."""
    started: list[Api] = []

    def start(env: Mapping[str, str] | None = None, **ingest: Any) -> Api:
        prefix = f"i{uuid.uuid4().hex[:8]}"
        settings = {**test_env, **(env or {}), "PULSE_INGEST__API_KEYS": ",".join(KEYS)}
        for domain, topic in load_config(environ=test_env).topics.all().items():
            settings[f"PULSE_TOPICS__{domain.upper()}__NAME"] = f"{prefix}.{topic.name}"
        for name, value in ingest.items():
            settings[f"PULSE_INGEST__{name.upper()}"] = str(value)
        conf = load_config(environ={**os.environ, **settings})
        ensure_topics(conf.kafka, {t.name: t.partitions for t in conf.topics.all().values()})
        api = launch("ingest", settings, tmp_path_factory.mktemp("ingest"), partial(Api, conf=conf))
        started.append(api)
        return api

    try:
        yield start
    finally:
        for api in started:
            api.stop()


def read_until(
    conf: PulseConfig,
    topic: str,
    done: Callable[[Events], bool] = lambda _events: True,
    timeout: float = 15,
) -> Events:
    """Every record of `topic` once `done(records so far)` holds, as JSON with `_key`,
    `_partition` and `_offset` added; fails the test after `timeout` seconds."""
    consumer = Consumer(
        {**conf.kafka.client_params(), "group.id": "pulse-tests", "enable.auto.commit": False}
    )
    deadline = time.monotonic() + timeout
    events: Events = []

    def poll() -> None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s reading {topic}")
        for message in consumer.consume(10_000, 0.1):
            assert message.error() is None, message.error()
            events.append(
                {
                    **json.loads(message.value()),
                    "_key": message.key(),
                    "_partition": message.partition(),
                    "_offset": message.offset(),
                }
            )

    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        while not done(events):
            poll()
        total = sum(end_offsets(conf.kafka, [topic]).get(topic, {}).values())
        while len(events) < total:
            poll()
    finally:
        consumer.close()
    return events


def assert_each_in_kafka_once(api: Api, accepted: Mapping[str, set[str]]) -> None:
    """Every event id an API accepted (by domain) is in its domain's topic exactly once."""
    for domain, ids in accepted.items():
        id_field = SCHEMAS[domain].id_field
        events = read_until(
            api.conf,
            api.topic(domain),
            lambda got, ids=ids, key=id_field: ids <= {e[key] for e in got},
        )
        counts = Counter(event[id_field] for event in events)
        repeated_or_missing = {i: counts[i] for i in ids if counts[i] != 1}
        assert repeated_or_missing == {}, f"{domain}: ids not in Kafka once: {repeated_or_missing}"


def registry_service(
    test_env: dict[str, str],
    registry_mysql: MySQLConfig,
    tmp_path_factory: pytest.TempPathFactory,
    **extra: str,
) -> Iterator[Service]:
    """`pulse serve registry` on the scratch database with the two test keys and `extra`
    settings, stopped cleanly at the end."""
    settings = {
        **test_env,
        **extra,
        "PULSE_MYSQL__DATABASE": registry_mysql.database,
        "PULSE_REGISTRY__API_KEYS": ",".join(KEYS),
    }
    service = launch("registry", settings, tmp_path_factory.mktemp("registry"))
    yield service
    assert service.stop() == 0, service.log.read_text()
