"""A private PostgreSQL cluster for tests that need a server configured unlike the machine's
(password-only TCP, TLS), so that the machine's own server and its settings are not touched.

initdb refuses to run as root, so the cluster belongs to the `postgres` user (`runuser`).
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pulse.config import PostgresConfig
from tests.conftest import free_tcp_port


@contextmanager
def private_postgres(
    settings: Mapping[str, str] | None = None, files: Mapping[str, bytes] | None = None
) -> Iterator[PostgresConfig]:
    """A running cluster: scram-sha-256 over TCP, peer auth on its own socket, a login role for
    the current user; `settings` are server settings (`-c name=value`) and `files` are written
    into its home, owned by postgres and private (a TLS key must be), before it starts."""
    assert os.geteuid() == 0, "a private cluster runs initdb as the postgres user: run as root"
    initdb = max(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    home = Path(tempfile.mkdtemp(prefix="pulse-pg-"))
    shutil.chown(home, "postgres")
    for name, content in (files or {}).items():
        path = home / name
        path.write_bytes(content)
        path.chmod(0o600)
        shutil.chown(path, "postgres")
    port = free_tcp_port()
    data = home / "data"
    _as_postgres(
        initdb, "-D", data, "-U", "postgres", "--auth-local=peer", "--auth-host=scram-sha-256"
    )
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    options += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
    pg_ctl = initdb.parent / "pg_ctl"
    _as_postgres(pg_ctl, "-D", data, "-o", options, "-l", home / "log", "-w", "start")
    try:
        role = getpass.getuser()
        _as_postgres(
            "psql", "-h", home, "-p", port, "-d", "postgres", "-c", f'CREATE ROLE "{role}" LOGIN'
        )
        yield PostgresConfig(
            host="127.0.0.1", port=port, database="postgres", user=None, socket_dir=str(home)
        )
    finally:
        _as_postgres(pg_ctl, "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


def set_password(pg: PostgresConfig, role: str, password: str) -> None:
    """Give `role` a password (through the socket, as postgres), for TCP logins."""
    _as_postgres(
        "psql", "-h", pg.socket_dir, "-p", pg.port, "-d", "postgres",
        "-c", f"ALTER ROLE \"{role}\" PASSWORD '{password}'",
    )  # fmt: skip


def _as_postgres(*command: object) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *map(str, command)], check=True, capture_output=True
    )
