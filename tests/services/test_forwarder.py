"""Two Pulse instances (two brokers) and `pulse serve forwarder` between them: chosen domains
copied with their origin, nothing lost across a killed forwarder, nothing forwarded in a loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from pulse.config import PROJECT_ROOT, PulseConfig, load_config
from pulse.kafka.admin import end_offsets, ensure_topics
from pulse.local.broker import LocalBroker
from pulse.services.forwarder import ORIGIN_HEADER, forwarded_headers
from tests.conftest import free_tcp_port
from tests.polling import wait_for

pytestmark = pytest.mark.broker


@dataclass(frozen=True)
class Instance:
    """One Pulse instance: its name and the settings that point at its broker and topics."""

    name: str
    env: dict[str, str]

    @property
    def conf(self) -> PulseConfig:
        return load_config(environ={**os.environ, **self.env})

    def topic(self, domain: str) -> str:
        return getattr(self.conf.topics, domain).name


def read(instance: Instance, domain: str) -> list[tuple[dict, str | None]]:
    """Every event of a domain's topic with its origin header (None: produced here)."""
    conf = instance.conf
    topic = instance.topic(domain)
    ends = end_offsets(conf.kafka, [topic]).get(topic, {})
    consumer = Consumer({**conf.kafka.client_params(), "group.id": "tests-read"})
    events = []
    try:
        for partition, end in ends.items():
            consumer.assign([TopicPartition(topic, partition, 0)])
            got = 0
            while got < end:
                for message in consumer.consume(min(10_000, end - got), 10):
                    assert message.error() is None, message.error()
                    origin = dict(message.headers() or []).get(ORIGIN_HEADER)
                    events.append((json.loads(message.value()), origin and origin.decode()))
                    got += 1
    finally:
        consumer.close()
    return events


@pytest.fixture
def two_instances(
    broker: LocalBroker, test_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Instance, Instance]]:
    """Instance `site-a` on the session broker, `site-b` on a broker of its own; the same
    topic names on both, as the forwarder expects."""
    other = LocalBroker(f"127.0.0.1:{free_tcp_port()}", tmp_path / "site-b")
    other.start(timeout=20)
    prefix = f"f{uuid.uuid4().hex[:8]}"
    topics = {
        f"PULSE_TOPICS__{domain.upper()}__NAME": f"{prefix}.{topic.name}"
        for domain, topic in load_config(environ=test_env).topics.all().items()
    }
    a = Instance("site-a", {**test_env, **topics})
    b = Instance("site-b", {**test_env, **topics, "PULSE_KAFKA__BOOTSTRAP": other.bootstrap})
    for instance in (a, b):
        conf = instance.conf
        ensure_topics(conf.kafka, {t.name: t.partitions for t in conf.topics.all().values()})
    yield a, b
    other.stop()


def held(instance: Instance, domain: str) -> int:
    """Records in a domain's topic, by its end offsets."""
    topic = instance.topic(domain)
    return sum(end_offsets(instance.conf.kafka, [topic]).get(topic, {}).values())


def simulate(instance: Instance, domain: str, events: int, seed: int) -> None:
    """Send `events` events and return once the broker shows them all: right after the
    producer's flush the local broker has been seen to report fewer records than it
    acknowledged (15,001 of 20,000), and a read started then stops short."""
    before = held(instance, domain)
    subprocess.run(
        [sys.executable, "-m", "pulse", "simulate", domain, "--rate", str(events),
         "--duration", "1", "--seed", str(seed), "--quiet"],
        cwd=PROJECT_ROOT, env={**os.environ, **instance.env}, check=True, timeout=60,
    )  # fmt: skip
    wait_for(
        lambda: held(instance, domain) >= before + events, 30, f"{events} {domain} events shown"
    )


def forwarder(source: Instance, target: Instance, domains: str, log: Path) -> subprocess.Popen:
    settings = {
        "PULSE_FORWARD__ORIGIN": source.name,
        "PULSE_FORWARD__TARGET_BOOTSTRAP": target.conf.kafka.bootstrap,
        "PULSE_FORWARD__DOMAINS": domains,
        "PULSE_FORWARD__GROUP": f"forward-{source.name}-{log.stem}",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pulse", "serve", "forwarder"],
            cwd=PROJECT_ROOT, env={**os.environ, **source.env, **settings},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop(process: subprocess.Popen, log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, log.read_text()


def ids(events: list[tuple[dict, str | None]]) -> Counter[str]:
    return Counter(event["event_id"] for event, _ in events)


def test_a_record_from_another_instance_is_never_forwarded_again():
    assert forwarded_headers([("trace", b"1")], "site-a") == [
        ("trace", b"1"),
        (ORIGIN_HEADER, b"site-a"),
    ]
    assert forwarded_headers(None, "site-a") == [(ORIGIN_HEADER, b"site-a")]
    assert forwarded_headers([(ORIGIN_HEADER, b"site-b")], "site-a") is None


def test_forwarded_events_arrive_once_each_with_their_origin_even_across_a_kill(
    two_instances, tmp_path
):
    a, b = two_instances
    simulate(a, "emoji", 20_000, seed=1)
    simulate(a, "sports", 200, seed=1)  # not a forwarded domain
    sent = ids(read(a, "emoji"))
    log = tmp_path / "forwarder.log"

    first = forwarder(a, b, "emoji", log)
    wait_for(lambda: len(read(b, "emoji")) > 0, 30, "the first forwarded records")
    first.send_signal(signal.SIGKILL)  # mid-stream, no chance to flush or commit
    first.wait(10)
    second = forwarder(a, b, "emoji", log)
    wait_for(lambda: set(ids(read(b, "emoji"))) >= set(sent), 60, "every event at site-b")
    stop(second, log)

    arrived = read(b, "emoji")
    counted = ids(arrived)
    assert set(counted) == set(sent)  # nothing lost
    repeated = sum(count - 1 for count in counted.values())
    assert repeated <= 5000, f"{repeated} repeats: more than one poll was sent again"
    assert {origin for _, origin in arrived} == {"site-a"}
    assert read(b, "sports") == []
    print(f"forwarded {len(sent)} events; {repeated} sent again after the kill")


def test_two_instances_forwarding_to_each_other_make_no_loop(two_instances, tmp_path):
    a, b = two_instances
    simulate(a, "emoji", 500, seed=2)
    simulate(b, "emoji", 300, seed=3)
    local_a, local_b = ids(read(a, "emoji")), ids(read(b, "emoji"))
    logs = tmp_path / "a-to-b.log", tmp_path / "b-to-a.log"
    a_to_b = forwarder(a, b, "emoji", logs[0])
    b_to_a = forwarder(b, a, "emoji", logs[1])
    total = len(local_a) + len(local_b)
    wait_for(
        lambda: len(read(a, "emoji")) >= total and len(read(b, "emoji")) >= total,
        60,
        "each instance to hold both sites' events",
    )
    stop(a_to_b, logs[0])
    stop(b_to_a, logs[1])

    at_a, at_b = read(a, "emoji"), read(b, "emoji")
    assert ids(at_a) == local_a + local_b and ids(at_b) == local_a + local_b
    assert Counter(origin for _, origin in at_a) == {None: len(local_a), "site-b": len(local_b)}
    assert Counter(origin for _, origin in at_b) == {None: len(local_b), "site-a": len(local_a)}
