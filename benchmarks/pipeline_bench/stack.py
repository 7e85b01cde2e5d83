"""A private stack for one benchmark run, and the live job running on it.

Other engineers run tests and jobs on the same machine at the same time, against the same
PostgreSQL, MariaDB and Redis. Their tests truncate `emoji_windows`, read `emoji:{match_id}` in
Redis database 0, and the crash tests pause every Redis writer on the server for up to three
minutes (`CLIENT PAUSE 180000 WRITE`), which stalled the job's Redis sink for 40 s in a trial
run. So everything here is private to the run: a Tansu broker and a Redis server (no
persistence, as the machine's) on free ports, topics with a unique prefix, a PostgreSQL and a
MariaDB database created and migrated for the run, and checkpoints and lake in a temporary
directory. Where no `redis-server` binary is installed, an empty database of the configured
Redis is claimed instead. All of it is removed when the context ends, also after Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2.extensions
from psycopg2 import sql

from pipeline_bench.process import GroupProcess
from pulse.config import PROJECT_ROOT, PulseConfig, load_config
from pulse.kafka.admin import ensure_topics
from pulse.local.broker import LocalBroker, free_port
from pulse.local.migrate import create_mysql_database, migrate_mysql, migrate_postgres
from pulse.stores import mysql_connect, postgres_connect, redis_client

log = logging.getLogger("bench.stack")

CLAIM_KEY = "pulse-bench:claim"
# Keys the run leaves in its Redis database: the live job's emoji state and ledger, and the
# baseline's counters. Only these are deleted at the end, never the whole database.
OWN_KEY_PATTERNS = ("emoji:*", "pulse:ledger", "baseline:*", CLAIM_KEY)


class StackError(RuntimeError):
    """The private stack or the job could not be set up; says what failed."""


@dataclass(frozen=True)
class BenchStack:
    """What one run owns: its broker, its `PULSE_*` environment and the config it yields."""

    tag: str
    work: Path
    broker: LocalBroker
    env: dict[str, str]
    conf: PulseConfig
    redis_pid: int | None  # the private Redis server, if one could be started

    @property
    def emoji_topic(self) -> str:
        """The private emoji topic the load goes to and the job reads."""
        return self.conf.topics.emoji.name


@contextmanager
def private_stack(work: Path) -> Iterator[BenchStack]:
    """Broker, Redis, topics and migrated databases for one run; all removed at exit."""
    tag = uuid.uuid4().hex[:8]
    with ExitStack() as cleanup:
        broker = LocalBroker(f"127.0.0.1:{free_port()}", work / "broker")
        broker.start(timeout=20)
        cleanup.callback(_quietly, "stop the broker", broker.stop)
        base = load_config(environ={"PULSE_KAFKA__BOOTSTRAP": broker.bootstrap})
        env = {
            "PULSE_KAFKA__BOOTSTRAP": broker.bootstrap,
            "PULSE_STREAMING__CHECKPOINT_DIR": str(work / "checkpoints"),
            "PULSE_LAKE__PATH": str(work / "lake"),
            "PULSE_LOCAL__STATE_DIR": str(work / "state"),
            "PULSE_POSTGRES__DATABASE": f"pulse_bench_{tag}",
            "PULSE_MYSQL__DATABASE": f"pulse_bench_{tag}",
        }
        for domain, topic in base.topics.all().items():
            env[f"PULSE_TOPICS__{domain.upper()}__NAME"] = f"b{tag}.{topic.name}"
        redis_pid = None
        if shutil.which("redis-server"):
            server = RedisServer.start(work / "redis")
            cleanup.callback(_quietly, "stop the private Redis", server.process.stop)
            redis_pid = server.process.pid
            env["PULSE_REDIS__URL"] = f"redis://127.0.0.1:{server.port}/0"
        else:
            log.warning("no redis-server binary: claiming a database of the configured Redis")
            env["PULSE_REDIS__URL"] = _with_db(base.redis.url, _claim_redis_db(base, tag))
        conf = load_config(environ=env)
        if redis_pid is None:
            cleanup.callback(_quietly, "delete the run's Redis keys", _release_redis_db, conf)
        ensure_topics(conf.kafka, {t.name: t.partitions for t in conf.topics.all().values()})
        _create_postgres(base, conf)
        cleanup.callback(_quietly, "drop the PostgreSQL database", _drop_postgres, base, conf)
        _create_mysql(conf)
        cleanup.callback(_quietly, "drop the MariaDB database", _drop_mysql, conf)
        yield BenchStack(tag, work, broker, env, conf, redis_pid)


class LiveJob(GroupProcess):
    """`./spark-submit.sh jobs/live.py` on the run's stack; SIGTERM to its process group (the
    job stops its queries), SIGKILL after 30 s."""

    def __init__(self, stack: BenchStack) -> None:
        super().__init__(
            "the live job",
            [str(PROJECT_ROOT / "spark-submit.sh"), "jobs/live.py"],
            stack.work / "live-job.log",
            stack.env,
            grace=30.0,
        )

    def check_alive(self) -> None:
        """Raise `StackError` with the end of the job's log if it has exited."""
        if self.returncode is not None:
            raise StackError(
                f"the live job exited with code {self.returncode}; its log "
                f"({self.log_path}) ends with:\n{self.tail()}"
            )


def wait_for(what: str, check: Callable[[], bool], timeout: float, poll: float = 0.5) -> None:
    """Poll `check()` until it is true; raise `StackError` naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def _quietly(what: str, action: Callable[..., object], *args: object) -> None:
    """Run one cleanup step; a failure is logged, so the remaining steps still run and the
    error that ended the run stays the one reported."""
    try:
        action(*args)
    except Exception as exc:
        log.warning("could not %s: %s", what, exc)


@dataclass(frozen=True)
class RedisServer:
    """A Redis server of the run's own."""

    process: GroupProcess
    port: int

    @classmethod
    def start(cls, folder: Path) -> RedisServer:
        """On a free port, without persistence (as the machine's), answering when returned."""
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        process = GroupProcess(
            "the private Redis",
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(folder)],
            folder / "redis.log",
            grace=10.0,
        )  # fmt: skip
        process.start()
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return cls(process, port)
            if process.returncode is not None or time.monotonic() > deadline:
                process.stop()
                raise StackError(f"redis-server did not start on port {port}; see {folder}")
            time.sleep(0.1)


def _with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def _claim_redis_db(base: PulseConfig, tag: str) -> int:
    """The highest-numbered empty Redis database, marked as this run's with a claim key."""
    for db in range(15, 0, -1):
        conf = load_config(environ={"PULSE_REDIS__URL": _with_db(base.redis.url, db)})
        client = redis_client(conf.redis)
        try:
            if client.dbsize() == 0 and client.set(CLAIM_KEY, tag, nx=True, ex=6 * 3600):
                return db
        finally:
            client.close()
    raise StackError("no empty Redis database among 1..15 for the benchmark's private keys")


def _release_redis_db(conf: PulseConfig) -> None:
    client = redis_client(conf.redis)
    try:
        for pattern in OWN_KEY_PATTERNS:
            keys = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
    finally:
        client.close()


def _admin_postgres(base: PulseConfig) -> psycopg2.extensions.connection:
    conn = postgres_connect(base.postgres)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return conn


def _create_postgres(base: PulseConfig, conf: PulseConfig) -> None:
    admin = _admin_postgres(base)
    try:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(conf.postgres.database))
            )
    finally:
        admin.close()
    conn = postgres_connect(conf.postgres)
    try:
        migrate_postgres(conn)
    finally:
        conn.close()


def _drop_postgres(base: PulseConfig, conf: PulseConfig) -> None:
    admin = _admin_postgres(base)
    try:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(conf.postgres.database)
                )
            )
    finally:
        admin.close()


def _create_mysql(conf: PulseConfig) -> None:
    admin = mysql_connect(conf.mysql, use_database=False)
    try:
        create_mysql_database(admin, conf.mysql.database)
    finally:
        admin.close()
    conn = mysql_connect(conf.mysql)
    try:
        migrate_mysql(conn)
    finally:
        conn.close()


def _drop_mysql(conf: PulseConfig) -> None:
    admin = mysql_connect(conf.mysql, use_database=False)
    try:
        cur = admin.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS `{conf.mysql.database}`")
        cur.close()
    finally:
        admin.close()
