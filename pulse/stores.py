"""Connections to Pulse's stores: PostgreSQL, MySQL (MariaDB) and Redis; one place decides how
Pulse logs in, for the local stack, the migrations and the sinks alike (the login order:
"Stores and migrations" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal, cast

import mysql.connector
import psycopg2
import psycopg2.extensions
import redis
from mysql.connector import errorcode
from mysql.connector.abstracts import MySQLConnectionAbstract, MySQLCursorAbstract

from pulse.config import MySQLConfig, PostgresConfig, RedisConfig

log = logging.getLogger(__name__)
# mysql.connector logs its plugin loading at INFO on every login: noise in `pulse` output.
logging.getLogger("mysql.connector").setLevel(logging.WARNING)

Problem = Literal["unreachable", "login", "database"]

# libpq reports connection failures as text only (no SQLSTATE before the session exists).
_PG_LOGIN_REFUSED = re.compile(
    r"authentication failed|no password supplied|no pg_hba\.conf entry|role .* does not exist",
    re.IGNORECASE,
)
_PG_NO_DATABASE = re.compile(r"database .* does not exist", re.IGNORECASE)
_MYSQL_LOGIN_REFUSED = frozenset(
    {
        errorcode.ER_ACCESS_DENIED_ERROR,  # 1045: wrong password
        errorcode.ER_ACCESS_DENIED_NO_PASSWORD_ERROR,  # 1698: Debian root, unix_socket only
        errorcode.ER_HOST_NOT_PRIVILEGED,  # 1130: no account for this host
    }
)


class StoreUnavailable(RuntimeError):
    """A store cannot be used; names it, where it was tried, and whether it is down or refuses."""

    def __init__(self, store: str, where: str, problem: Problem, reason: str) -> None:
        self.store, self.where, self.problem, self.reason = store, where, problem, reason
        what = {
            "unreachable": "cannot connect to",
            "login": "login refused at",
            "database": "database missing at",
        }[problem]
        super().__init__(f"{store}: {what} {where} ({reason})")


def postgres_connect(
    pg: PostgresConfig,
    *,
    timeout: float = 5.0,
    connection_factory: type[psycopg2.extensions.connection] | None = None,
    application_name: str = "pulse",
) -> psycopg2.extensions.connection:
    """A new PostgreSQL connection, not autocommit: TCP, or the socket if TCP login is refused.

    `connection_factory` makes another kind of connection the same way, e.g. psycopg2's
    `LogicalReplicationConnection` (which is autocommit).
    """
    params: dict[str, object] = {
        "port": pg.port,
        "dbname": pg.database,
        "user": pg.user,  # None: libpq takes the operating-system user
        "password": pg.password.get_secret_value() if pg.password else None,
        "connect_timeout": max(1, round(timeout)),
        "application_name": application_name,
        "sslmode": pg.sslmode,  # libpq ignores it on the unix socket, which is local
        **{
            name: path
            for name, path in (
                ("sslrootcert", pg.sslrootcert),
                ("sslcert", pg.sslcert),
                ("sslkey", pg.sslkey),
            )
            if path
        },
    }
    if connection_factory is not None:
        params["connection_factory"] = connection_factory
    tcp = f"{pg.host}:{pg.port}/{pg.database}"
    try:
        return psycopg2.connect(host=pg.host, **params)
    except psycopg2.OperationalError as exc:
        tcp_error = _first_line(exc)
    if not (_PG_LOGIN_REFUSED.search(tcp_error) and pg.socket_dir):
        raise StoreUnavailable("postgres", tcp, _pg_problem(tcp_error), tcp_error) from None
    socket = f"socket {pg.socket_dir} (port {pg.port}, database {pg.database})"
    try:
        conn = psycopg2.connect(host=pg.socket_dir, **params)
    except psycopg2.OperationalError as exc:
        socket_error = _first_line(exc)
        raise StoreUnavailable(
            "postgres",
            f"{tcp} and {socket}",
            _worse(_pg_problem(tcp_error), _pg_problem(socket_error)),
            f"TCP: {tcp_error}; socket: {socket_error}",
        ) from None
    log.debug(
        "postgres: TCP login refused at %s (%s); connected through %s", tcp, tcp_error, socket
    )
    return conn


def mysql_connect(
    my: MySQLConfig, *, use_database: bool = True, timeout: float = 5.0
) -> MySQLConnectionAbstract:
    """A new MySQL connection, not autocommit: TCP, or the socket if TCP login is refused.

    `use_database=False` connects without selecting the database, to create it when missing.
    """
    params: dict[str, object] = {
        "user": my.user,
        "password": my.password.get_secret_value() if my.password else "",
        "connection_timeout": max(1, round(timeout)),
        "charset": "utf8mb4",
        "autocommit": False,
        "time_zone": "+00:00",  # DATETIME columns hold UTC
    }
    if use_database:
        params["database"] = my.database
    tcp = f"{my.host}:{my.port}" + (f"/{my.database}" if use_database else "")
    # `connect` is typed to return a pooled connection too: it does only when given pool
    # arguments (pool_name, pool_size), which Pulse never passes.
    try:
        conn = cast(
            MySQLConnectionAbstract,
            mysql.connector.connect(host=my.host, port=my.port, **params, **_mysql_tls(my)),
        )
    except mysql.connector.Error as exc:
        tcp_errno, tcp_error = exc.errno, _mysql_reason(exc)
    else:
        _require_tls(conn, my, tcp)
        return conn
    if tcp_errno not in _MYSQL_LOGIN_REFUSED or not my.socket:
        raise StoreUnavailable("mysql", tcp, _mysql_problem(tcp_errno), tcp_error) from None
    socket = f"socket {my.socket}" + (f" (database {my.database})" if use_database else "")
    try:
        conn = cast(
            MySQLConnectionAbstract, mysql.connector.connect(unix_socket=my.socket, **params)
        )
    except mysql.connector.Error as exc:
        raise StoreUnavailable(
            "mysql",
            f"{tcp} and {socket}",
            _worse(_mysql_problem(tcp_errno), _mysql_problem(exc.errno)),
            f"TCP: {tcp_error}; socket: {_mysql_reason(exc)}",
        ) from None
    log.debug("mysql: TCP login refused at %s (%s); connected through %s", tcp, tcp_error, socket)
    return conn


def _mysql_tls(my: MySQLConfig) -> dict[str, object]:
    """mysql-connector's TLS arguments for `my.tls` (MySQL's `--ssl-mode` values).

    The connector uses TLS whenever the server offers it unless told not to; it has no
    "required" of its own, so `_require_tls` checks the session after the login.
    """
    if my.tls == "disabled":
        return {"ssl_disabled": True}
    files = {"ssl_ca": my.ssl_ca, "ssl_cert": my.ssl_cert, "ssl_key": my.ssl_key}
    params: dict[str, object] = {name: path for name, path in files.items() if path}
    if my.tls in ("verify_ca", "verify_identity"):
        params["ssl_verify_cert"] = True
    if my.tls == "verify_identity":
        params["ssl_verify_identity"] = True
    return params


def _require_tls(conn: MySQLConnectionAbstract, my: MySQLConfig, where: str) -> None:
    """Refuse a plain TCP session when `my.tls` asks for TLS (the unix socket is local)."""
    if my.tls in ("disabled", "preferred"):
        return
    cur = conn.cursor()
    cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    row = mysql_row(cur)
    cur.close()
    if not row or not row[1]:
        conn.close()
        raise StoreUnavailable(
            "mysql", where, "unreachable", f"mysql.tls is {my.tls} but the server offers no TLS"
        )


# A row of a MySQL cursor. mysql-connector types every fetch as a tuple or a dict (the rows of a
# `dictionary=True` cursor) of any column type; Pulse's cursors are plain, and each query knows
# its columns' types, so its rows are tuples of values typed where they are read.
MySQLRow = tuple[Any, ...]


def mysql_row(cur: MySQLCursorAbstract) -> MySQLRow | None:
    """The next row of a plain cursor's result, or None when there is none."""
    return cast("MySQLRow | None", cur.fetchone())


def mysql_one_row(cur: MySQLCursorAbstract) -> MySQLRow:
    """The row of a query that always returns one (an aggregate, a function call)."""
    return cast("MySQLRow", cur.fetchone())


def mysql_rows(cur: MySQLCursorAbstract) -> list[MySQLRow]:
    """The remaining rows of a plain cursor's result."""
    return cast("list[MySQLRow]", cur.fetchall())


def redis_client(rd: RedisConfig, *, timeout: float = 5.0) -> redis.Redis:
    """A Redis client for the configured URL; it connects on its first command."""
    tls = {"ssl_ca_certs": rd.ssl_ca_certs} if rd.url.startswith("rediss:") else {}
    return redis.Redis.from_url(
        rd.url,
        password=rd.password.get_secret_value() if rd.password else None,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        **tls,
    )


def redis_address(client: redis.Redis) -> str:
    """host:port/db of a client, for messages: never the URL, which may carry a password."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"socket {kwargs['path']}/{kwargs.get('db', 0)}"
    return f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"


def postgres_address(conn: psycopg2.extensions.connection) -> str:
    """Where a PostgreSQL connection went (host:port/db or socket), for messages."""
    info = conn.info
    if info.host.startswith("/"):
        return f"socket {info.host} (port {info.port}, database {info.dbname})"
    return f"{info.host}:{info.port}/{info.dbname}"


def mysql_address(conn: MySQLConnectionAbstract) -> str:
    """Where a MySQL connection went (host:port/db or socket), for messages."""
    database = conn.database
    if conn.unix_socket:
        return f"socket {conn.unix_socket}" + (f" (database {database})" if database else "")
    where = f"{conn.server_host}:{conn.server_port}"
    return f"{where}/{database}" if database else where


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    # libpq prefixes every message with where it tried; the reason is what follows.
    text = re.sub(
        r'^connection to server (at "[^"]*", port \d+|on socket "[^"]*") failed: ', "", text
    )
    return text.splitlines()[0].replace("FATAL:  ", "") if text else type(exc).__name__


def _mysql_reason(exc: mysql.connector.Error) -> str:
    text = str(exc.msg or exc)
    # "Can't connect to MySQL server on 'h:p' (Errno 111: Connection refused)": the address is
    # in the message already; keep the reason.
    found = re.match(r"Can't connect to (?:local )?MySQL server .*\((.*)\)$", text)
    return found.group(1) if found else text


def _worse(tcp: Problem, socket: Problem) -> Problem:
    """What to report when both ways failed: a missing socket does not hide a refused login."""
    return tcp if socket == "unreachable" else socket


def _pg_problem(message: str) -> Problem:
    if _PG_NO_DATABASE.search(message):
        return "database"
    return "login" if _PG_LOGIN_REFUSED.search(message) else "unreachable"


def _mysql_problem(errno: int | None) -> Problem:
    if errno == errorcode.ER_BAD_DB_ERROR:
        return "database"
    return "login" if errno in _MYSQL_LOGIN_REFUSED else "unreachable"


def redis_ping(client: redis.Redis) -> None:
    """Check that Redis answers (PING), or raise `StoreUnavailable` saying why not."""
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise StoreUnavailable("redis", redis_address(client), "login", str(exc)) from None
    except redis.RedisError as exc:
        raise StoreUnavailable("redis", redis_address(client), "unreachable", str(exc)) from None
