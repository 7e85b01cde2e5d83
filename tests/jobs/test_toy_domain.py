"""Adding a domain, shown: a toy domain registered here (its schema, its simulator, its topic
in the configuration) flows through the ingest API, the simulator and the lake into its silver
table, and its bad records into the dead letters, with no other change to Pulse.

These are the steps of "Adding a domain" in docs/ARCHITECTURE.md. The ingest app and the lake
query run in this process (the domain is registered here, not in `pulse/events/domains.py`),
against the session's broker and SparkSession.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from deltalake import DeltaTable

from pulse.cli import build_parser
from pulse.config import ConfigError, PulseConfig, load_config
from pulse.events import SCHEMAS, Domain, EventSchema, Field, register, unregister
from pulse.events.schema import format_timestamp
from pulse.kafka.admin import ensure_topics
from pulse.kafka.producer import EventProducer
from pulse.local.run import simulator_children
from pulse.services.ingest.server import build_app
from pulse.simulate import GENERATORS, records
from pulse.simulate.bad import BAD_KINDS, malformed
from pulse.simulate.clock import parse_start
from pulse.simulate.runner import simulate
from pulse.testing import run_available_now
from tests.conftest import free_tcp_port
from tests.polling import wait_for
from tests.services.support import read_answer, read_until
from tests.simulate.test_generators import fails

pytestmark = [pytest.mark.spark, pytest.mark.broker]

TOY = EventSchema(
    domain="toy",
    id_field="toy_id",
    time_field="ts",
    key_field="box",
    fields=(
        Field("toy_id", "string", "toy-1", max_length=64),
        Field("box", "string", "b-1", max_length=64),
        Field("squeaks", "long", 3, minimum=0),
        Field("ts", "timestamp", "2026-11-22T20:15:00.000Z"),
    ),
)
KEY = "toy-key-0123456789"
SIMULATED, SEED, BAD_RATIO = 20, 7, 0.3


def toy_events(seed: int, rate: float, first: datetime) -> Iterator[dict[str, Any]]:
    """The toy's simulator: a toy squeaks in one of three boxes, `rate` times a second."""
    for n in itertools.count():
        yield {
            "toy_id": f"toy-{seed}-{n}",
            "box": f"b-{n % 3}",
            "squeaks": n,
            "ts": format_timestamp(first + timedelta(seconds=n / rate)),
        }


@pytest.fixture
def toy() -> Iterator[Domain]:
    """The toy domain, registered for the test (the one line a real domain adds to
    pulse/events/domains.py), and removed after it."""
    domain = register(Domain(TOY, toy_events, simulated_rate=5))
    try:
        yield domain
    finally:
        unregister("toy")


@pytest.fixture
def toy_conf(toy: Domain, test_env: dict[str, str], tmp_path: Path) -> PulseConfig:
    """The configuration with the toy's topic (its entry under `topics`, here from the
    environment), every topic prefixed for this test, and its own checkpoints and lake."""
    env = {
        **test_env,
        "PULSE_TOPICS__TOY__NAME": "toy.squeaks",
        "PULSE_TOPICS__TOY__PARTITIONS": "2",
        "PULSE_STREAMING__CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "PULSE_LAKE__PATH": str(tmp_path / "lake"),
        "PULSE_INGEST__API_KEYS": KEY,
    }
    prefix = f"toy{uuid.uuid4().hex[:8]}"
    for name, topic in load_config(environ=env).topics.all().items():
        env[f"PULSE_TOPICS__{name.upper()}__NAME"] = f"{prefix}.{topic.name}"
    conf = load_config(environ=env)
    ensure_topics(conf.kafka, {t.name: t.partitions for t in conf.topics.all().values()})
    return conf


def test_a_registered_domain_is_in_every_list_of_domains(toy: Domain, test_env) -> None:
    assert SCHEMAS["toy"] is TOY and list(islice(GENERATORS["toy"](1, 10, datetime.now(UTC)), 1))
    assert build_parser().parse_args(["simulate", "toy"]).domain == "toy"
    assert "simulate-toy" in [child.name for child in simulator_children()]
    with pytest.raises(ConfigError, match=r"topics\.toy: missing"):
        load_config(environ=test_env)  # the toy's config entry is part of adding it


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_every_bad_kind_of_the_simulator_breaks_a_toy_event(toy: Domain, kind: str) -> None:
    # The toy has no enum and no free-text field: those kinds break it another way.
    rng = random.Random(0)
    for event in islice(toy_events(1, 10, datetime.now(UTC)), 10):
        assert fails("toy", malformed(TOY, event, kind, rng))


@contextlib.contextmanager
def ingest_app(conf: PulseConfig) -> Iterator[int]:
    """The ingest app (`pulse serve ingest`'s) served in this process on a free port; on exit
    it stops as the server does, delivering what it accepted."""
    app, port = build_app(conf), free_tcp_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 20, "the ingest app to start")
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(60)
    assert app.lost == 0, "the ingest app lost accepted events"


def post(port: int, path: str, body: Any) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
        connection.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        return read_answer(connection.getresponse())
    finally:
        connection.close()


def test_a_toy_domain_flows_through_ingest_and_the_lake_and_its_bad_records_to_dead_letters(
    toy_conf: PulseConfig, spark
) -> None:
    conf, now = toy_conf, datetime.now(UTC)
    topic = conf.topics.toy.name
    valid = {"toy_id": "toy-api-1", "box": "b-9", "squeaks": 1, "ts": format_timestamp(now)}
    invalid = {**valid, "toy_id": "toy-api-2", "squeaks": "loud"}

    with ingest_app(conf) as port:
        accepted = post(port, "/v1/events/toy", valid)
        refused = post(port, "/v1/events/toy", invalid)
    # A producer that skips the API writes the refused event to the topic all the same.
    producer = EventProducer(conf.kafka)
    producer.send_bytes(topic, b"b-9", json.dumps(invalid).encode())
    producer.flush()
    # The simulator (`pulse simulate toy`), some of its records made bad on purpose.
    first = format_timestamp(now - timedelta(minutes=1))
    code = simulate(conf, "toy", rate=SIMULATED, duration=1, seed=SEED, bad_ratio=BAD_RATIO,
                    start=first, progress=False)  # fmt: skip
    sent = list(islice(records("toy", SEED, SIMULATED, parse_start(first), BAD_RATIO), SIMULATED))

    run_available_now(spark, conf, "lake")

    assert (accepted.status, accepted.body) == (202, {"event_id": "toy-api-1"})
    assert refused.status == 422 and refused.body["field"] == "squeaks"
    assert code == 0 and any(kind for _key, _value, kind in sent)
    silver = DeltaTable(f"{conf.lake.path}/silver/toy").to_pyarrow_table().to_pylist()
    good = {json.loads(value)["toy_id"] for _key, value, kind in sent if kind is None}
    assert {row["toy_id"] for row in silver} == {"toy-api-1", *good}
    assert all(row["kafka_topic"] == topic and row["date"] for row in silver)
    quarantine = DeltaTable(f"{conf.lake.path}/quarantine").to_pyarrow_table().to_pylist()
    letters = [row for row in quarantine if row["topic"] == topic]
    # Every bad record is a dead letter (their values are not compared: a `future_time` one
    # is made ahead of the wall clock when it is sent).
    assert len(letters) == 1 + sum(kind is not None for _key, _value, kind in sent)
    (letter,) = [row for row in letters if row["value"] == json.dumps(invalid).encode()]
    # The lake's reason is the API's: the same check at both doors.
    assert refused.body["message"] == f"toy event: {letter['reason']}"
    messages = read_until(
        conf,
        conf.topics.deadletter.name,
        lambda found: any(m["topic"] == topic and m["offset"] == letter["offset"] for m in found),
    )
    assert letter["reason"] in {m["reason"] for m in messages if m["topic"] == topic}
