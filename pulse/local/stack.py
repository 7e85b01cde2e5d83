"""`pulse up`, `pulse status`, `pulse down`: the one-laptop stack, one line per component. It owns
only what it starts (the Tansu broker, through its pid file): a broker already answering at
`kafka.bootstrap` and the machine's PostgreSQL, MySQL and Redis are checked (and migrated), never
stopped. Every component is reported, so one run shows everything wrong; exit 0 only if all is.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from mysql.connector import Error as MySQLError

from pulse.config import KafkaConfig, PulseConfig
from pulse.kafka.admin import end_offsets, ensure_topics
from pulse.kafka.errors import KafkaSourceError
from pulse.livestate import clear_run_state
from pulse.local.broker import AddressTaken, BrokerError, LocalBroker, accepts_connections
from pulse.local.migrate import (
    Dialect,
    MigrationError,
    create_mysql_database,
    current_version,
    latest_version,
    migrate_mysql,
    migrate_postgres,
)
from pulse.queryhealth import describe, read_all, troubled
from pulse.stores import (
    StoreUnavailable,
    mysql_address,
    mysql_connect,
    postgres_address,
    postgres_connect,
    redis_address,
    redis_client,
    redis_ping,
)

_KAFKA_PROBE_SECONDS = 5.0
_HINTS = {
    ("postgres", "unreachable"): "start it with `make services`",
    ("postgres", "login"): (
        "set PULSE_POSTGRES__USER / PULSE_POSTGRES__PASSWORD, or run `make services` as root "
        "to create the role"
    ),
    ("postgres", "database"): "create it with `make services`",
    ("mysql", "unreachable"): "start it with `make services`",
    ("mysql", "login"): (
        "set PULSE_MYSQL__USER / PULSE_MYSQL__PASSWORD (MariaDB's root logs in through the "
        "socket only as the system's root)"
    ),
    ("mysql", "database"): "`pulse up` creates it",
    ("redis", "unreachable"): "start it with `make services`",
    ("redis", "login"): "set PULSE_REDIS__PASSWORD",
}


def up(conf: PulseConfig) -> int:
    """Start the broker (or use the one that answers), create topics, migrate, check Redis."""
    broker_ok = _up_broker(conf)
    return _prepare(conf, broker_ok)


def setup(conf: PulseConfig) -> int:
    """What `up` does on a deployment whose Kafka runs already (compose, a cluster): create the
    topics, migrate the databases, check Redis; never starts a broker."""
    if _kafka_answers(conf.kafka):
        return _prepare(conf, _say("broker", f"Kafka at {conf.kafka.bootstrap} answers"))
    return _prepare(conf, _fail("broker", f"nothing answers as Kafka at {conf.kafka.bootstrap}"))


def _prepare(conf: PulseConfig, broker_ok: bool) -> int:
    topics_ok = _up_topics(conf) if broker_ok else _fail("topics", "skipped: no broker")
    results = [broker_ok, topics_ok, _up_postgres(conf), _up_mysql(conf), _check_redis(conf)]
    return 0 if all(results) else 1


def status(conf: PulseConfig) -> int:
    """Report what runs, the databases' migration versions, and each topic's end offsets."""
    broker_ok = _status_broker(conf)
    results = [broker_ok, _status_postgres(conf), _status_mysql(conf), _check_redis(conf)]
    results.append(_status_topics(conf) if broker_ok else _fail("topics", "unknown: no broker"))
    results.append(_status_queries(conf))
    return 0 if all(results) else 1


def down(conf: PulseConfig) -> int:
    """Stop the broker `up` started, and nothing else."""
    broker = LocalBroker(conf.kafka.bootstrap, conf.local.state_dir)
    recorded, pid = broker.recorded_pid(), broker.pid()
    try:
        stopped = broker.stop()
    except OSError as exc:
        ok = _fail("broker", f"cannot stop Tansu (pid {pid}): {exc}")
    else:
        ok = True
        if stopped:
            _say("broker", f"stopped Tansu at {conf.kafka.bootstrap} (pid {pid})")
        elif _kafka_answers(conf.kafka):
            _say(
                "broker",
                f"Kafka at {conf.kafka.bootstrap} was not started by `pulse up`: left running",
            )
        else:
            _say("broker", "not running")
        if not stopped and recorded is not None:
            _say(
                "broker",
                f"stale pid file named pid {recorded}, not a broker `pulse up` started: "
                "that process was left alone, the pid file removed",
            )
    _say("databases", "postgres, mysql and redis are machine services: left running")
    return 0 if ok else 1


def _up_broker(conf: PulseConfig) -> bool:
    bootstrap = conf.kafka.bootstrap
    if "," in bootstrap:  # a cluster's list of brokers: only ever used, never started
        if _kafka_answers(conf.kafka):
            return _say("broker", f"external Kafka at {bootstrap} answers; using it")
        return _fail(
            "broker",
            f"nothing answers at {bootstrap}; `pulse up` starts a local broker only for one "
            "host:port",
        )
    broker = LocalBroker(bootstrap, conf.local.state_dir)
    try:
        # Decided under the broker's lock: two `pulse up` at once start one broker, and the
        # second says it is already running.
        pid, started = broker.ensure_running(conf.local.broker_start_timeout_seconds)
    except AddressTaken:
        if _kafka_answers(conf.kafka):
            return _say(
                "broker",
                f"external Kafka at {bootstrap} answers; using it (`pulse down` leaves it)",
            )
        return _fail(
            "broker",
            f"{bootstrap} is taken by a program that does not answer as Kafka; stop it or set "
            "PULSE_KAFKA__BOOTSTRAP to a free address",
        )
    except BrokerError as exc:
        return _fail("broker", str(exc).removeprefix("broker: "))
    what = "started Tansu" if started else "already running"
    _say("broker", f"{what} at {bootstrap} (pid {pid})")
    if started and _set_aside_checkpoints(conf.streaming.checkpoint_dir):
        return _clear_previous_run(conf)
    return True


# Checkpoints set aside by earlier starts, kept for a look at what a previous run did: the newest
# this many. Every `make run` on a new broker sets a set aside (4-26 MB each after runs of
# minutes), so without a bound they would fill the disk over weeks of runs.
KEPT_ASIDE = 3
_ASIDE = ".before-"


def _set_aside_checkpoints(checkpoints: Path) -> bool:
    """Move the queries' checkpoints out of the way when a fresh local broker starts; whether
    there were any (a previous run of this stack).

    Tansu keeps its topics in memory: a broker started now has none of the records whose
    offsets the checkpoints hold, and every job would stop on offsets that are gone (or, with
    failOnDataLoss=false, skip silently). The old checkpoints are kept beside (the newest
    `KEPT_ASIDE` sets), not reused; the sinks' ledgers are per checkpoint, so the new ones start
    their own.
    """
    if not checkpoints.is_dir() or not any(checkpoints.iterdir()):
        return False
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = checkpoints.with_name(f"{checkpoints.name}{_ASIDE}{stamp}")
    checkpoints.rename(aside)
    _say(
        "checkpoints",
        f"the new broker starts empty: the previous broker's checkpoints moved to {aside}",
    )
    # Their stamps sort as their times: the oldest first.
    older = sorted(checkpoints.parent.glob(f"{checkpoints.name}{_ASIDE}*"))[:-KEPT_ASIDE]
    for gone in older:
        shutil.rmtree(gone, ignore_errors=True)
    if older:
        _say(
            "checkpoints", f"deleted {len(older)} older set(s) aside; the {KEPT_ASIDE} newest kept"
        )
    return True


def _clear_previous_run(conf: PulseConfig) -> bool:
    """Clear the live Redis state that the set-aside checkpoints' run left (`pulse.livestate`).

    Only when checkpoints were set aside: that is the evidence that this stack ran before and
    that the state is its own. A fresh stack beside another one sharing the Redis (a test's
    broker on another port) finds no checkpoints and deletes nothing.
    """
    client = redis_client(conf.redis)
    try:
        deleted = clear_run_state(client)
    except redis.RedisError as exc:
        return _fail("redis", f"the previous run's live state was not cleared: {exc}")
    finally:
        client.close()
    return _say("redis", f"cleared the previous run's live state ({deleted} keys)")


def _up_topics(conf: PulseConfig) -> bool:
    wanted = {topic.name: topic.partitions for topic in conf.topics.all().values()}
    try:
        created = ensure_topics(conf.kafka, wanted)
        actual = _partition_counts(conf.kafka)
    except (KafkaException, KafkaSourceError) as exc:
        return _fail("topics", f"cannot create topics at {conf.kafka.bootstrap}: {exc}")
    # Just created topics have the configured count; a broker may not list them yet.
    wrong = [
        f"{name} has {actual[name]} partitions, configured {count}"
        for name, count in wanted.items()
        if name not in created and name in actual and actual[name] != count
    ]
    if wrong:
        return _fail(
            "topics",
            "; ".join(wrong) + " (delete the topic, or set PULSE_TOPICS__<DOMAIN>__PARTITIONS)",
        )
    if created:
        return _say("topics", f"created {len(created)} of {len(wanted)}: {', '.join(created)}")
    return _say("topics", f"all {len(wanted)} exist, none created")


def _up_postgres(conf: PulseConfig) -> bool:
    def migrate(conn: Any) -> bool:
        applied = migrate_postgres(conn)
        version = current_version(conn, "postgres")
        return _say(
            "postgres",
            f"{postgres_address(conn)} at migration version {version}{_applied(applied)}",
        )

    return _on_sql_store(
        "postgres",
        lambda: postgres_connect(conf.postgres),
        "migration failed",
        migrate,
        (MigrationError, psycopg2.Error),
    )


def _up_mysql(conf: PulseConfig) -> bool:
    def migrate(conn: Any) -> bool:
        created = create_mysql_database(conn, conf.mysql.database)
        applied = migrate_mysql(conn)
        version = current_version(conn, "mysql")
        made = f", created database {conf.mysql.database}" if created else ""
        return _say(
            "mysql",
            f"{mysql_address(conn)} at migration version {version}{made}{_applied(applied)}",
        )

    return _on_sql_store(
        "mysql",
        lambda: mysql_connect(conf.mysql, use_database=False),
        "migration failed",
        migrate,
        (MigrationError, MySQLError),
    )


def _check_redis(conf: PulseConfig) -> bool:
    client = redis_client(conf.redis)
    try:
        redis_ping(client)
    except StoreUnavailable as exc:
        return _unavailable(exc)
    finally:
        client.close()
    return _say("redis", f"{redis_address(client)} answers PING")


def _status_queries(conf: PulseConfig) -> bool:
    """Each streaming query's health as its driver last reported it (pulse.queryhealth); a
    query restarting or failed makes the status fail."""
    client = redis_client(conf.redis)
    try:
        reports = read_all(client)
    except redis.RedisError as exc:
        return _fail("queries", f"unknown: Redis does not answer ({exc})")
    finally:
        client.close()
    if not reports:
        return _say("queries", "none reported yet (no job has run against this Redis)")
    healthy = True
    for report in reports:
        line = describe(report)
        if troubled(report):
            healthy = _fail("queries", line)
        else:
            _say("queries", line)
    return healthy


def _status_broker(conf: PulseConfig) -> bool:
    bootstrap = conf.kafka.bootstrap
    broker = LocalBroker(bootstrap, conf.local.state_dir)
    pid = broker.pid()
    answers = _kafka_answers(conf.kafka)
    if pid is not None and answers:
        return _say(
            "broker", f"running at {bootstrap} (pid {pid}, started by `pulse up` or `pulse run`)"
        )
    if pid is not None:
        return _fail(
            "broker", f"Tansu (pid {pid}) does not answer at {bootstrap}; see {broker.log_file}"
        )
    if answers:
        return _say("broker", f"external Kafka at {bootstrap} (not started by `pulse up`)")
    return _fail("broker", f"down: nothing answers at {bootstrap}; start it with `pulse up`")


def _status_postgres(conf: PulseConfig) -> bool:
    def report(conn: Any) -> bool:
        version = current_version(conn, "postgres")
        return _report_version("postgres", postgres_address(conn), version)

    return _on_sql_store(
        "postgres",
        lambda: postgres_connect(conf.postgres),
        "cannot read the migration version",
        report,
        (psycopg2.Error,),
    )


def _status_mysql(conf: PulseConfig) -> bool:
    def report(conn: Any) -> bool:
        return _report_version("mysql", mysql_address(conn), current_version(conn, "mysql"))

    return _on_sql_store(
        "mysql",
        lambda: mysql_connect(conf.mysql),
        "cannot read the migration version",
        report,
        (MySQLError,),
    )


def _on_sql_store(
    store: str,
    connect: Callable[[], Any],
    failing: str,
    work: Callable[[Any], bool],
    errors: tuple[type[Exception], ...],
) -> bool:
    """`work` on a new connection to `store`, closed after; a store that does not answer, or
    one of `errors` from `work`, is reported (as `failing: error`) rather than raised."""
    try:
        conn = connect()
    except StoreUnavailable as exc:
        return _unavailable(exc)
    try:
        return work(conn)
    except errors as exc:
        return _fail(store, f"{failing}: {exc}")
    finally:
        conn.close()


def _status_topics(conf: PulseConfig) -> bool:
    wanted = {topic.name: topic.partitions for topic in conf.topics.all().values()}
    try:
        offsets = end_offsets(conf.kafka, list(wanted))
    except (KafkaException, KafkaSourceError) as exc:
        return _fail("topics", f"cannot read end offsets at {conf.kafka.bootstrap}: {exc}")
    ok = _say("topics", f"{len(offsets)} of {len(wanted)} configured topics exist")
    width = max(len(name) for name in wanted)
    for name, count in wanted.items():
        if name not in offsets:
            ok = _fail(f"  {name:<{width}}", "missing; create it with `pulse up`", label=False)
            continue
        ends = offsets[name]
        marks = " ".join(f"{partition}:{ends[partition]}" for partition in sorted(ends))
        line = f"{len(ends)} partitions  end offsets {marks}  ({sum(ends.values())} records)"
        if len(ends) != count:
            ok = _fail(f"  {name:<{width}}", f"{line}; configured {count} partitions", label=False)
        else:
            _say(f"  {name:<{width}}", line, label=False)
    return ok


def _report_version(store: Dialect, where: str, version: int) -> bool:
    latest = latest_version(store)
    if version < latest:
        return _fail(
            store, f"{where} reachable, migration version {version} of {latest}; run `pulse up`"
        )
    return _say(store, f"{where} reachable, migration version {version} of {latest}")


def _partition_counts(kafka: KafkaConfig) -> dict[str, int]:
    # a dict display: the stub's dict parameter is invariant in its values' type
    metadata = AdminClient({**kafka.client_params()}).list_topics(timeout=_KAFKA_PROBE_SECONDS)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def _listening(bootstrap: str) -> bool:
    """Whether something listens; a list of brokers cannot be checked this cheaply, so yes."""
    if "," in bootstrap:
        return True
    try:
        return accepts_connections(bootstrap)
    except BrokerError:
        return False


def _kafka_answers(kafka: KafkaConfig) -> bool:
    if not _listening(kafka.bootstrap):
        return False
    # log_level 0: a probe of a port that is not Kafka must not fill the terminal with retries.
    admin = AdminClient({**kafka.client_params(), "log_level": 0})
    try:
        admin.list_topics(timeout=_KAFKA_PROBE_SECONDS)
    except KafkaException:
        return False
    return True


def _unavailable(exc: StoreUnavailable) -> bool:
    hint = _HINTS.get((exc.store, exc.problem))
    return _fail(exc.store, str(exc).removeprefix(f"{exc.store}: ") + (f"; {hint}" if hint else ""))


def _applied(names: list[str]) -> str:
    return f", applied {', '.join(names)}" if names else ", nothing to apply"


def _say(component: str, text: str, *, label: bool = True) -> bool:
    """Print one user-facing line; True, so that callers can `return _say(...)`."""
    prefix = f"{component + ':':<10} " if label else f"{component}  "
    print(prefix + text, flush=True)
    return True


def _fail(component: str, text: str, *, label: bool = True) -> bool:
    _say(component, text, label=label)
    return False
