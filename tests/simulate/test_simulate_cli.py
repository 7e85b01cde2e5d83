"""`pulse simulate` as a user runs it: a subprocess producing into the session's Tansu broker."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from pulse.config import PulseConfig
from pulse.events import InvalidEvent, schema_for, validate
from pulse.kafka.admin import end_offsets, ensure_topics
from tests.conftest import PulseRunner, free_tcp_port

pytestmark = pytest.mark.broker

START = "2026-11-22T20:15:00Z"


@pytest.fixture
def new_topic(conf: PulseConfig, topic_name: str) -> Callable[[], str]:
    """Creates topics no other test uses, as `pulse up` would (4 partitions)."""
    count = 0

    def create() -> str:
        nonlocal count
        count += 1
        name = f"{topic_name}-{count}"
        ensure_topics(conf.kafka, {name: 4})
        return name

    return create


def emoji_into(topic: str) -> dict[str, str]:
    return {"PULSE_TOPICS__EMOJI__NAME": topic}


def record_count(conf: PulseConfig, topic: str) -> int:
    return sum(end_offsets(conf.kafka, [topic])[topic].values())


def read_records(conf: PulseConfig, *topics: str) -> dict[str, list[tuple[bytes | None, bytes]]]:
    """Every record of the topics, read with assign (no consumer group: joins are slow on Tansu)."""
    ends = end_offsets(conf.kafka, list(topics))
    wanted = sum(sum(partitions.values()) for partitions in ends.values())
    consumer = Consumer(
        {**conf.kafka.client_params(), "group.id": "pulse-tests", "enable.auto.commit": False}
    )
    consumer.assign(
        [
            TopicPartition(t, p, OFFSET_BEGINNING)
            for t, partitions in ends.items()
            for p in partitions
        ]
    )
    found: dict[str, list[tuple[bytes | None, bytes]]] = {topic: [] for topic in topics}
    count = 0
    deadline = time.monotonic() + 60
    try:
        while count < wanted and time.monotonic() < deadline:
            for message in consumer.consume(min(10_000, wanted - count), 0.2):
                assert message.error() is None, message.error()
                found[message.topic()].append((message.key(), message.value()))
                count += 1
    finally:
        consumer.close()
    assert count == wanted
    return found


def test_twenty_thousand_a_second_for_ten_seconds_lands_two_hundred_thousand(
    conf: PulseConfig, run_pulse: PulseRunner, new_topic: Callable[[], str]
) -> None:
    topic = new_topic()
    began = time.monotonic()
    args = ("simulate", "emoji", "--rate", "20000", "--duration", "10", "--seed", "1", "--quiet")
    result = run_pulse(*args, env=emoji_into(topic))
    took = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    assert abs(record_count(conf, topic) - 200_000) <= 10_000
    assert took < 14, f"the rate was not kept: {took:.1f} s for 10 s of events"
    assert f"{topic}: 200,000 events" in result.stdout


def test_same_seed_and_start_give_byte_identical_records(
    conf: PulseConfig, run_pulse: PulseRunner, new_topic: Callable[[], str]
) -> None:
    args = ("simulate", "emoji", "--rate", "3000", "--duration", "1", "--seed", "5")
    topics = (new_topic(), new_topic())

    def simulate_into(topic: str) -> subprocess.CompletedProcess[str]:
        return run_pulse(*args, "--start", START, "--quiet", env=emoji_into(topic))

    with ThreadPoolExecutor(2) as pool:  # two independent runs, at the same time
        for result in pool.map(simulate_into, topics):
            assert result.returncode == 0, result.stderr
    found = read_records(conf, *topics)
    one, two = (
        sorted(found[topic], key=lambda record: json.loads(record[1])["event_id"])
        for topic in topics
    )
    assert len(one) == 3_000
    assert one == two


def test_bad_ratio_sends_that_share_of_records_that_fail_validation(
    conf: PulseConfig, run_pulse: PulseRunner, new_topic: Callable[[], str]
) -> None:
    topic = new_topic()
    args = ("simulate", "emoji", "--rate", "5000", "--duration", "1", "--bad-ratio", "0.05")
    result = run_pulse(*args, "--quiet", env=emoji_into(topic))
    assert result.returncode == 0, result.stderr
    values = [value for _, value in read_records(conf, topic)[topic]]
    failed = 0
    for value in values:
        try:
            validate(schema_for("emoji"), json.loads(value.decode()))
        except (UnicodeDecodeError, json.JSONDecodeError, InvalidEvent):
            failed += 1
    assert len(values) == 5_000
    assert 0.035 < failed / len(values) < 0.065


def test_all_domains_go_to_their_topics_keyed_by_their_key_field(
    conf: PulseConfig, run_pulse: PulseRunner, new_topic: Callable[[], str]
) -> None:
    domains = ("game", "sports", "emoji", "product", "media")
    topics = {domain: new_topic() for domain in domains}
    env = {f"PULSE_TOPICS__{domain.upper()}__NAME": topic for domain, topic in topics.items()}
    result = run_pulse("simulate", "all", "--rate", "200", "--duration", "1", "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    found = read_records(conf, *topics.values())
    for domain, topic in topics.items():
        assert len(found[topic]) == 200
        key_field = schema_for(domain).key_field
        for key, value in found[topic]:
            event = validate(schema_for(domain), json.loads(value))
            assert key == event[key_field].encode()


def test_an_unreachable_broker_fails_fast_naming_the_address(run_pulse: PulseRunner) -> None:
    nowhere = f"127.0.0.1:{free_tcp_port()}"
    began = time.monotonic()
    result = run_pulse(
        "simulate", "emoji", "--duration", "1", env={"PULSE_KAFKA__BOOTSTRAP": nowhere}
    )
    assert result.returncode == 1
    assert nowhere in result.stderr
    assert time.monotonic() - began < 10


def test_a_missing_topic_is_named_instead_of_waited_for(run_pulse: PulseRunner) -> None:
    result = run_pulse("simulate", "emoji", "--duration", "1", env=emoji_into("no-such-topic"))
    assert result.returncode == 1
    assert "no-such-topic" in result.stderr
