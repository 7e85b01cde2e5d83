"""Private PostgreSQL, MariaDB and Redis servers for tests that need a server configured unlike
the machine's (password-only TCP, TLS) or that stop and start one (the fault suite), so that
the machine's own servers, their settings and whoever else uses them are not touched.

Each is a real server process on a free port, under a temporary directory, with `stop()` and
`start()` (the same data survives: PostgreSQL's and MariaDB's files, Redis's append-only file).
initdb and mariadbd refuse to run as root, so their files belong to `postgres` and `mysql`.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import redis
from pydantic import SecretStr

from pulse.config import MySQLConfig, PostgresConfig, RedisConfig
from tests.conftest import free_tcp_port
from tests.polling import wait_for

_START_SECONDS = 30


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def _until_listening(name: str, port: int, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while not _listening(port):
        if process is not None and process.poll() is not None:
            raise AssertionError(f"private {name} exited {process.returncode} on start")
        if time.monotonic() > deadline:
            raise AssertionError(f"private {name} did not listen on {port} within 30 s")
        time.sleep(0.05)


def _home(owner: str | None) -> Path:
    home = Path(tempfile.mkdtemp(prefix="pulse-private-"))
    if owner:
        shutil.chown(home, owner)
    return home


def _run_as(user: str, *command: object) -> None:
    subprocess.run(
        ["runuser", "-u", user, "--", *map(str, command)], check=True, capture_output=True
    )


class PrivatePostgres:
    """A PostgreSQL cluster: scram-sha-256 over TCP, peer auth on its own socket, a login role
    for the current user; `settings` are server settings (`-c name=value`) and `files` are
    written into its home, owned by postgres and private (a TLS key must be), before it starts."""

    def __init__(
        self, settings: Mapping[str, str] | None = None, files: Mapping[str, bytes] | None = None
    ) -> None:
        assert os.geteuid() == 0, "a private cluster runs initdb as the postgres user: run as root"
        self._bin = max(Path("/usr/lib/postgresql").glob("*/bin/initdb")).parent
        self.home = _home("postgres")
        for name, content in (files or {}).items():
            path = self.home / name
            path.write_bytes(content)
            path.chmod(0o600)
            shutil.chown(path, "postgres")
        self.port = free_tcp_port()
        self._data = self.home / "data"
        _run_as(
            "postgres", self._bin / "initdb", "-D", self._data, "-U", "postgres",
            "--auth-local=peer", "--auth-host=scram-sha-256",
        )  # fmt: skip
        self._options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1" + "".join(
            f" -c {name}={value}" for name, value in (settings or {}).items()
        )
        self.start()
        self.psql(f'CREATE ROLE "{getpass.getuser()}" LOGIN')
        self.config = PostgresConfig(
            host="127.0.0.1", port=self.port, database="postgres", user=None,
            socket_dir=str(self.home),
        )  # fmt: skip

    def psql(self, sql: str) -> None:
        """Run `sql` as postgres through the socket."""
        _run_as("postgres", "psql", "-h", self.home, "-p", self.port, "-d", "postgres", "-c", sql)

    def with_password(self, password: str) -> PostgresConfig:
        """Give the current user's role `password`; settings that log in with it over TCP."""
        self.psql(f"ALTER ROLE \"{getpass.getuser()}\" PASSWORD '{password}'")
        return self.config.model_copy(update={"password": SecretStr(password)})

    def start(self) -> None:
        _run_as(
            "postgres", self._bin / "pg_ctl", "-D", self._data, "-o", self._options,
            "-l", self.home / "log", "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        _run_as("postgres", self._bin / "pg_ctl", "-D", self._data, "-m", "fast", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _run_as("postgres", self._bin / "pg_ctl", "-D", self._data, "-m", "immediate", "stop")
        shutil.rmtree(self.home, ignore_errors=True)


@contextlib.contextmanager
def private_postgres(
    settings: Mapping[str, str] | None = None, files: Mapping[str, bytes] | None = None
) -> Iterator[PostgresConfig]:
    """A running `PrivatePostgres`' settings, removed at the end."""
    server = PrivatePostgres(settings, files)
    try:
        yield server.config
    finally:
        server.remove()


def set_password(pg: PostgresConfig, role: str, password: str) -> None:
    """Give `role` a password (through the socket, as postgres), for TCP logins."""
    _run_as(
        "postgres", "psql", "-h", pg.socket_dir, "-p", pg.port, "-d", "postgres",
        "-c", f"ALTER ROLE \"{role}\" PASSWORD '{password}'",
    )  # fmt: skip


class _ServerProcess:
    """A server run as a child process under a home of its own: stopped cleanly (SIGTERM,
    waited for), killed and its home removed at the end."""

    def __init__(self, owner: str | None) -> None:
        self.home = _home(owner)
        self.port = free_tcp_port()
        self._process: subprocess.Popen | None = None

    def stop(self) -> None:
        assert self._process is not None
        self._process.terminate()
        self._process.wait(timeout=60)

    def remove(self) -> None:
        # SIGTERM first: runuser passes it on to the server, while a SIGKILL ends runuser alone
        # and left MariaDB running, orphaned, after every fault test.
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
        shutil.rmtree(self.home, ignore_errors=True)


class PrivateMariaDB(_ServerProcess):
    """A MariaDB server: root without a password over TCP, a socket of its own."""

    def __init__(self) -> None:
        super().__init__("mysql")
        subprocess.run(
            ["mariadb-install-db", f"--datadir={self.home / 'data'}", "--user=mysql",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.start()
        self.config = MySQLConfig(
            host="127.0.0.1", port=self.port, database="pulse", user="root",
            socket=str(self.home / "mysqld.sock"),
        )  # fmt: skip

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["runuser", "-u", "mysql", "--", "/usr/sbin/mariadbd", "--no-defaults",
             f"--datadir={self.home / 'data'}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--socket={self.home / 'mysqld.sock'}", f"--pid-file={self.home / 'mysqld.pid'}",
             "--skip-log-bin", "--innodb-buffer-pool-size=64M"],
            stdout=subprocess.DEVNULL, stderr=(self.home / "log").open("ab"),
        )  # fmt: skip
        _until_listening("mariadb", self.port, self._process)


class PrivateRedis(_ServerProcess):
    """A Redis server whose append-only file keeps every write across a stop and a start."""

    def __init__(self) -> None:
        super().__init__(None)
        self.start()
        self.config = RedisConfig(url=f"redis://127.0.0.1:{self.port}/0", event_ttl_seconds=3600)

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.home,
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _until_listening("redis", self.port, self._process)
        client = redis.Redis(port=self.port)
        try:
            wait_for(lambda: _loaded(client), _START_SECONDS, "redis to load its append-only file")
        finally:
            client.close()


def _loaded(client: redis.Redis) -> bool:
    """Redis answers, its data loaded (until then it refuses commands with LOADING)."""
    try:
        return bool(client.ping())
    except redis.BusyLoadingError:
        return False
