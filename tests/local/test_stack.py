"""`pulse up | status | down` as subprocesses, against real brokers and the machine's databases.

Each test that starts a broker gives it its own free port and state directory, so that it never
touches the session broker (except where a test checks that it is left alone).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from confluent_kafka import Producer

from pulse import queryhealth
from pulse.config import load_config
from pulse.kafka.admin import ensure_topics
from pulse.local.broker import LocalBroker, accepts_connections, wait_until_ready
from pulse.local.migrate import latest_version
from pulse.local.stack import KEPT_ASIDE
from tests.conftest import PulseRunner, free_tcp_port
from tests.private_stores import PrivateRedis

pytestmark = pytest.mark.broker

TOPIC_LINE = re.compile(r"^\s+(\S+)\s+(\d+) partitions\s+end offsets ((?:\d+:\d+ ?)+)", re.M)


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a stack of the test's own: a free broker port and a fresh state dir.

    Whatever the test leaves running is stopped afterwards, through the same pid file.
    """
    env = {
        "PULSE_KAFKA__BOOTSTRAP": f"127.0.0.1:{free_tcp_port()}",
        "PULSE_LOCAL__STATE_DIR": str(tmp_path / "state"),
        "PULSE_STREAMING__CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    yield env
    LocalBroker(env["PULSE_KAFKA__BOOTSTRAP"], tmp_path / "state").stop()


def _unique_topics() -> dict[str, str]:
    """Topic names no other test uses, for stacks that share the session broker."""
    suffix = uuid.uuid4().hex[:8]
    domains = load_config().topics.all()
    return {
        f"PULSE_TOPICS__{domain.upper()}__NAME": f"{topic.name}.{suffix}"
        for domain, topic in domains.items()
    }


def _pid(output: str) -> int:
    found = re.search(r"\(pid (\d+)", output)
    assert found, output
    return int(found.group(1))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in state.lower()


def _wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_second_up_is_harmless_and_keeps_the_same_broker(
    run_pulse: PulseRunner, own_stack: dict[str, str]
) -> None:
    first = run_pulse("up", env=own_stack)
    second = run_pulse("up", env=own_stack)

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert "started Tansu" in first.stdout
    assert "already running" in second.stdout
    assert _pid(second.stdout) == _pid(first.stdout)
    assert "none created" in second.stdout
    assert "nothing to apply" in second.stdout
    assert "created 8 of 8" not in second.stdout


@pytest.fixture
def private_redis(own_stack: dict[str, str]) -> Iterator[PrivateRedis]:
    """A Redis of the test's own, the one of `own_stack`: clearing a previous run's state must
    not touch the machine's Redis, which a running platform or other tests may use."""
    server = PrivateRedis()
    own_stack["PULSE_REDIS__URL"] = server.config.url
    yield server
    server.remove()


@pytest.mark.usefixtures("private_redis")
def test_a_fresh_broker_sets_the_previous_brokers_checkpoints_aside(
    run_pulse: PulseRunner, own_stack: dict[str, str], tmp_path: Path
) -> None:
    checkpoints = Path(own_stack["PULSE_STREAMING__CHECKPOINT_DIR"])
    (checkpoints / "emoji_windows" / "offsets").mkdir(parents=True)
    (checkpoints / "emoji_windows" / "offsets" / "0").write_text("offsets of an old broker")

    first = run_pulse("up", env=own_stack)
    (checkpoints / "lake").mkdir(parents=True)
    second = run_pulse("up", env=own_stack)  # the same broker: its checkpoints stay

    assert first.returncode == 0, first.stdout + first.stderr
    aside = [path for path in tmp_path.iterdir() if path.name.startswith("checkpoints.before-")]
    assert len(aside) == 1, first.stdout
    assert (aside[0] / "emoji_windows" / "offsets" / "0").read_text() == "offsets of an old broker"
    assert f"moved to {aside[0]}" in first.stdout
    assert second.returncode == 0 and (checkpoints / "lake").is_dir()
    assert "checkpoints" not in second.stdout


@pytest.mark.usefixtures("private_redis")
def test_only_the_newest_sets_of_checkpoints_aside_are_kept(
    run_pulse: PulseRunner, own_stack: dict[str, str], tmp_path: Path
) -> None:
    checkpoints = Path(own_stack["PULSE_STREAMING__CHECKPOINT_DIR"])
    earlier = [f"checkpoints.before-2026010{day}T120000" for day in range(1, 5)]  # oldest first
    for name in earlier:
        (tmp_path / name / "live").mkdir(parents=True)
    (checkpoints / "live" / "offsets").mkdir(parents=True)

    result = run_pulse("up", env=own_stack)

    assert result.returncode == 0, result.stdout + result.stderr
    aside = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("checkpoints.before-"))
    assert len(aside) == KEPT_ASIDE
    assert aside[: KEPT_ASIDE - 1] == earlier[-(KEPT_ASIDE - 1) :]  # the newest earlier ones
    assert aside[-1] > earlier[-1]  # and the set this start moved aside
    assert f"deleted {len(earlier) + 1 - KEPT_ASIDE} older set(s) aside" in result.stdout


def test_a_second_run_shows_none_of_the_previous_runs_live_state(
    run_pulse: PulseRunner,
    own_stack: dict[str, str],
    private_redis: PrivateRedis,
) -> None:
    client = redis.Redis.from_url(private_redis.config.url)
    old_run = {
        "match:m-old": {"home_score": "3", "sequence": "9"},
        "emoji:m-old": {"top": "[]"},
        "gauge:topic:emoji.reactions": {"events": "10"},
        "gauge:query:live": {"duration_ms": "900"},
        "pulse:query:live": {"state": "failed"},
    }
    for name, fields in old_run.items():
        client.hset(name, mapping=fields)
    client.sadd(queryhealth.NAMES, "live")
    client.set("someone-else:key", "kept")  # not live state of a run: left alone
    first_run = run_pulse("up", env=own_stack)
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    assert client.exists(*old_run, queryhealth.NAMES) == 6  # no checkpoints: nothing of ours
    run_pulse("down", env=own_stack)
    checkpoints = Path(own_stack["PULSE_STREAMING__CHECKPOINT_DIR"])
    (checkpoints / "live" / "offsets").mkdir(parents=True)  # what the first run's jobs leave

    second_run = run_pulse("up", env=own_stack)

    assert second_run.returncode == 0, second_run.stdout + second_run.stderr
    assert "cleared the previous run's live state (6 keys)" in second_run.stdout
    assert client.exists(*old_run, queryhealth.NAMES) == 0
    assert client.get("someone-else:key") == b"kept"
    client.close()


def test_up_prints_one_line_per_component(
    run_pulse: PulseRunner, own_stack: dict[str, str]
) -> None:
    result = run_pulse("up", env=own_stack)

    assert result.returncode == 0, result.stdout + result.stderr
    components = [line.split(":")[0] for line in result.stdout.splitlines()]
    assert components == ["broker", "topics", "postgres", "mysql", "redis"]


def test_status_shows_every_topic_with_its_partitions_and_end_offsets(
    run_pulse: PulseRunner, own_stack: dict[str, str]
) -> None:
    assert run_pulse("up", env=own_stack).returncode == 0
    conf = load_config(environ=own_stack)
    producer = Producer({"bootstrap.servers": conf.kafka.bootstrap})
    for i in range(5):
        producer.produce(conf.topics.emoji.name, value=b"{}", partition=1, key=str(i).encode())
    assert producer.flush(10) == 0

    result = run_pulse("status", env=own_stack)

    assert result.returncode == 0, result.stdout + result.stderr
    shown = {
        name: (int(count), marks.split())
        for name, count, marks in TOPIC_LINE.findall(result.stdout)
    }
    configured = {topic.name: topic.partitions for topic in conf.topics.all().values()}
    assert {name: count for name, (count, _) in shown.items()} == configured
    for name, (count, marks) in shown.items():
        produced = {1: 5} if name == conf.topics.emoji.name else {}
        assert marks == [f"{p}:{produced.get(p, 0)}" for p in range(count)], name
    assert f"pid {_pid(result.stdout)}, started by `pulse up`" in result.stdout
    for store in ("postgres", "mysql"):
        latest = latest_version(store)
        assert f"migration version {latest} of {latest}" in result.stdout


def test_down_stops_the_broker_up_started(
    run_pulse: PulseRunner, own_stack: dict[str, str]
) -> None:
    pid = _pid(run_pulse("up", env=own_stack).stdout)

    result = run_pulse("down", env=own_stack)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"stopped Tansu at {own_stack['PULSE_KAFKA__BOOTSTRAP']} (pid {pid})" in result.stdout
    _wait_until(lambda: not _alive(pid), 5, f"broker pid {pid} to exit")
    assert not accepts_connections(own_stack["PULSE_KAFKA__BOOTSTRAP"])
    assert not (Path(own_stack["PULSE_LOCAL__STATE_DIR"]) / "broker.pid").exists()


def test_down_leaves_alone_a_process_named_in_the_pid_file_that_it_did_not_start(
    run_pulse: PulseRunner, broker: LocalBroker, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        (state / "broker.pid").write_text(
            json.dumps({"pid": stranger.pid, "cmd": ["tansu", "broker", "--listener-url", "x"]})
        )
        env = {"PULSE_KAFKA__BOOTSTRAP": broker.bootstrap, "PULSE_LOCAL__STATE_DIR": str(state)}

        result = run_pulse("down", env=env)

        assert result.returncode == 0, result.stdout + result.stderr
        assert stranger.poll() is None, "down signalled a process it did not start"
        assert f"pid {stranger.pid}" in result.stdout and "left alone" in result.stdout
        wait_until_ready(broker.bootstrap, timeout=5)  # the session broker still answers
    finally:
        stranger.kill()
        stranger.wait()


def test_up_uses_a_broker_it_did_not_start_as_external_and_down_leaves_it_running(
    run_pulse: PulseRunner, broker: LocalBroker, tmp_path: Path
) -> None:
    env = {
        "PULSE_KAFKA__BOOTSTRAP": broker.bootstrap,
        "PULSE_LOCAL__STATE_DIR": str(tmp_path / "state"),
        **_unique_topics(),
    }

    started = run_pulse("up", env=env)
    stopped = run_pulse("down", env=env)

    assert started.returncode == 0, started.stdout + started.stderr
    assert f"external Kafka at {broker.bootstrap}" in started.stdout
    assert "created 8 of 8" in started.stdout
    assert not (tmp_path / "state" / "broker.pid").exists()
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "left running" in stopped.stdout
    assert broker.pid() is not None
    wait_until_ready(broker.bootstrap, timeout=5)


def test_two_ups_at_once_start_one_broker(
    test_env: dict[str, str], own_stack: dict[str, str]
) -> None:
    env = {**os.environ, **test_env, **own_stack}
    command = [sys.executable, "-m", "pulse", "up"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    assert _pid(outputs[0]) == _pid(outputs[1])
    assert sum("started Tansu" in output for output in outputs) == 1


def test_status_exits_1_and_says_how_to_start_when_the_broker_is_down(
    run_pulse: PulseRunner, own_stack: dict[str, str]
) -> None:
    result = run_pulse("status", env=own_stack)

    assert result.returncode == 1
    assert f"down: nothing answers at {own_stack['PULSE_KAFKA__BOOTSTRAP']}" in result.stdout
    assert "start it with `pulse up`" in result.stdout


def test_setup_prepares_a_running_kafka_and_never_starts_a_broker(
    run_pulse: PulseRunner, own_stack: dict[str, str], broker
) -> None:
    # The session's broker stands in for a deployment's Kafka (compose, Kubernetes).
    env = {**own_stack, **_unique_topics(), "PULSE_KAFKA__BOOTSTRAP": broker.bootstrap}
    result = run_pulse("setup", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Kafka at {broker.bootstrap} answers" in result.stdout
    assert "created 8 of 8" in result.stdout
    assert not LocalBroker(broker.bootstrap, Path(own_stack["PULSE_LOCAL__STATE_DIR"])).pid()


def test_setup_without_kafka_fails_naming_the_address(
    run_pulse: PulseRunner, own_stack: dict[str, str]
) -> None:
    result = run_pulse("setup", env=own_stack)

    assert result.returncode == 1
    assert f"nothing answers as Kafka at {own_stack['PULSE_KAFKA__BOOTSTRAP']}" in result.stdout
    assert not LocalBroker(
        own_stack["PULSE_KAFKA__BOOTSTRAP"], Path(own_stack["PULSE_LOCAL__STATE_DIR"])
    ).pid()


def test_up_names_an_unreachable_database_and_what_to_do(
    run_pulse: PulseRunner, own_stack: dict[str, str], free_port: int
) -> None:
    result = run_pulse("up", env={**own_stack, "PULSE_POSTGRES__PORT": str(free_port)})

    assert result.returncode == 1
    assert (
        f"postgres:  cannot connect to 127.0.0.1:{free_port}/test (Connection refused); "
        "start it with `make services`"
    ) in result.stdout
    assert re.search(r"^mysql: .* at migration version \d+", result.stdout, re.M)


def test_up_names_a_topic_whose_partition_count_differs_from_the_config(
    run_pulse: PulseRunner, broker: LocalBroker, tmp_path: Path
) -> None:
    env = {
        "PULSE_KAFKA__BOOTSTRAP": broker.bootstrap,
        "PULSE_LOCAL__STATE_DIR": str(tmp_path / "state"),
        **_unique_topics(),
    }
    conf = load_config(environ=env)
    ensure_topics(conf.kafka, {conf.topics.emoji.name: 1})

    result = run_pulse("up", env=env)

    assert result.returncode == 1
    assert (
        f"topics:    {conf.topics.emoji.name} has 1 partitions, configured "
        f"{conf.topics.emoji.partitions}"
    ) in result.stdout
