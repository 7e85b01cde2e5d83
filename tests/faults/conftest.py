"""The fault suite's stack: a broker, PostgreSQL, MariaDB and Redis of its own.

Private servers, because the faults are real (a frozen broker, stopped databases): the
machine's servers and the rest of the suite are never touched, so the suite could even run
beside it. Each test module gets a fresh stack: migrated stores, topics, subscribers of some
games (no delivery node is live: updates land in the inboxes only), user segments.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pulse.config import PROJECT_ROOT, PulseConfig, load_config
from pulse.local.broker import LocalBroker
from pulse.local.stack import setup
from pulse.simulate.game import GAME_IDS
from pulse.simulate.segments import seed_segments
from pulse.stores import mysql_connect
from tests.conftest import free_tcp_port
from tests.jobstack import JobStack
from tests.private_stores import PrivateMariaDB, PrivatePostgres, PrivateRedis

pytestmark = [pytest.mark.spark, pytest.mark.broker]

SUBSCRIPTIONS = [(f"fault-sub-{i}", GAME_IDS[i % len(GAME_IDS)]) for i in range(8)]


@dataclass
class FaultStack:
    """The jobs' stack and the servers under it, each of which a test may stop."""

    jobs: JobStack
    broker: LocalBroker
    postgres: PrivatePostgres
    mariadb: PrivateMariaDB
    redis: PrivateRedis

    @property
    def conf(self) -> PulseConfig:
        return self.jobs.conf

    def followers(self) -> dict[str, list[str]]:
        """The subscribers of each game."""
        games: dict[str, list[str]] = {game: [] for game in GAME_IDS}
        for subscriber, game in SUBSCRIPTIONS:
            games[game].append(subscriber)
        return games

    def stream(self, rate: int, seconds: int, seed: int) -> subprocess.Popen[bytes]:
        """`pulse simulate all` at `rate` events a second per domain, in the background."""
        return subprocess.Popen(
            [sys.executable, "-m", "pulse", "simulate", "all", "--rate", str(rate),
             "--duration", str(seconds), "--seed", str(seed), "--bad-ratio", "0.01", "--quiet"],
            cwd=PROJECT_ROOT, env=self.jobs.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    root = tmp_path_factory.mktemp("faults")
    broker = LocalBroker(f"127.0.0.1:{free_tcp_port()}", root / "broker")
    broker.start(timeout=20)
    postgres, mariadb, redis = PrivatePostgres(), PrivateMariaDB(), PrivateRedis()
    try:
        pg = postgres.with_password("fault-suite")
        postgres.psql(f'CREATE DATABASE pulse OWNER "{getpass.getuser()}"')
        env = {
            **os.environ,
            "PULSE_KAFKA__BOOTSTRAP": broker.bootstrap,
            "PULSE_POSTGRES__PORT": str(pg.port),
            "PULSE_POSTGRES__DATABASE": "pulse",
            "PULSE_POSTGRES__PASSWORD": "fault-suite",
            "PULSE_POSTGRES__SOCKET_DIR": str(pg.socket_dir),
            "PULSE_MYSQL__PORT": str(mariadb.port),
            "PULSE_MYSQL__DATABASE": mariadb.config.database,
            "PULSE_MYSQL__SOCKET": str(mariadb.config.socket),
            "PULSE_REDIS__URL": redis.config.url,
            "PULSE_STREAMING__CHECKPOINT_DIR": str(root / "checkpoints"),
            "PULSE_LAKE__PATH": str(root / "lake"),
            "PULSE_LOCAL__STATE_DIR": str(root / "state"),
        }
        conf = load_config(environ=env)
        _prepare(conf)
        logs = root / "logs"
        logs.mkdir()
        yield FaultStack(JobStack(env, conf, logs), broker, postgres, mariadb, redis)
    finally:
        for server in (redis, mariadb, postgres):
            server.remove()
        broker.stop()


def _prepare(conf: PulseConfig) -> None:
    """Topics and migrations (`pulse setup`), user segments and the subscriptions."""
    assert setup(conf) == 0, "pulse setup failed on the fault stack"
    seed_segments(conf.postgres)
    my = mysql_connect(conf.mysql)
    cur = my.cursor()
    cur.executemany(
        "INSERT INTO subscribers (subscriber_id, name) VALUES (%s, %s)",
        [(s, s) for s, _ in SUBSCRIPTIONS],
    )
    cur.executemany(
        "INSERT INTO subscriptions (subscriber_id, game_id) VALUES (%s, %s)", SUBSCRIPTIONS
    )
    my.commit()
    my.close()
