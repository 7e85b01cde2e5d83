"""How Pulse logs in to its stores: TCP first, the socket when TCP login is refused.

The PostgreSQL fallback is checked against a private cluster set up as on a fresh Debian machine
(TCP asks for a password, the socket lets the operating-system user in by peer auth).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from pulse.config import PostgresConfig, PulseConfig
from pulse.stores import (
    StoreUnavailable,
    mysql_address,
    mysql_connect,
    postgres_address,
    postgres_connect,
    redis_client,
    redis_ping,
)
from tests.conftest import free_tcp_port
from tests.private_stores import private_postgres


@pytest.fixture(scope="module")
def password_only_postgres() -> Iterator[PostgresConfig]:
    """A private PostgreSQL cluster: scram-sha-256 over TCP, peer auth on its own socket."""
    with private_postgres() as pg:
        yield pg


def test_postgres_login_refused_over_tcp_falls_back_to_the_socket(
    password_only_postgres: PostgresConfig,
) -> None:
    conn = postgres_connect(password_only_postgres)
    try:
        cur = conn.cursor()
        cur.execute("SELECT current_user")
        assert cur.fetchone() == (getpass.getuser(),)
        assert postgres_address(conn).startswith(f"socket {password_only_postgres.socket_dir}")
    finally:
        conn.close()


def test_postgres_refused_both_ways_names_both_reasons(
    password_only_postgres: PostgresConfig,
) -> None:
    as_someone_else = password_only_postgres.model_copy(update={"user": "postgres"})

    with pytest.raises(StoreUnavailable) as refused:
        postgres_connect(as_someone_else)

    assert refused.value.problem == "login"
    assert "TCP: fe_sendauth: no password supplied" in str(refused.value)
    assert 'socket: Peer authentication failed for user "postgres"' in str(refused.value)


def test_mysql_login_refused_over_tcp_falls_back_to_the_socket(conf: PulseConfig) -> None:
    wrong_password = conf.mysql.model_copy(update={"password": SecretStr("not-the-password")})

    conn = mysql_connect(wrong_password)
    try:
        assert mysql_address(conn) == f"socket {conf.mysql.socket} (database {conf.mysql.database})"
    finally:
        conn.close()


def test_an_unreachable_postgres_is_named_and_not_retried_through_the_socket(
    conf: PulseConfig,
) -> None:
    port = free_tcp_port()

    with pytest.raises(StoreUnavailable) as down:
        postgres_connect(conf.postgres.model_copy(update={"port": port}))

    assert down.value.problem == "unreachable"
    where = f"127.0.0.1:{port}/{conf.postgres.database}"
    assert str(down.value) == f"postgres: cannot connect to {where} (Connection refused)"


def test_an_unreachable_mysql_is_named_with_its_address(conf: PulseConfig) -> None:
    port = free_tcp_port()

    with pytest.raises(StoreUnavailable) as down:
        mysql_connect(conf.mysql.model_copy(update={"port": port}))

    assert down.value.problem == "unreachable"
    assert str(down.value).startswith(f"mysql: cannot connect to 127.0.0.1:{port}/test (")


def test_an_unreachable_redis_is_named_with_its_address(conf: PulseConfig) -> None:
    port = free_tcp_port()
    client = redis_client(conf.redis.model_copy(update={"url": f"redis://127.0.0.1:{port}/0"}))

    with pytest.raises(StoreUnavailable) as down:
        redis_ping(client)

    assert down.value.problem == "unreachable"
    assert str(down.value).startswith(f"redis: cannot connect to 127.0.0.1:{port}/0")


def test_a_missing_postgres_database_is_reported_as_missing(conf: PulseConfig) -> None:
    with pytest.raises(StoreUnavailable) as missing:
        postgres_connect(conf.postgres.model_copy(update={"database": "pulse_no_such_db"}))

    assert missing.value.problem == "database"
    assert 'database "pulse_no_such_db" does not exist' in str(missing.value)
