"""`pulse run`: its children are started, logged and stopped, and it undoes only what it did."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pulse.config import PROJECT_ROOT
from pulse.local import run
from pulse.local.run import CHILDREN, Child, start_children, stop_children
from tests.conftest import free_tcp_port


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def wait_for_text(log: Path, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{log} never said {text!r}"
        time.sleep(0.02)


def test_children_write_to_their_own_log(tmp_path: Path) -> None:
    processes = start_children((Child("hello", python("print('hello from the child')")),), tmp_path)
    processes["hello"].wait(10)
    assert (tmp_path / "hello.log").read_text() == "hello from the child\n"


def test_stopping_sends_sigterm_so_children_can_clean_up(tmp_path: Path) -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (print('flushed'), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    processes = start_children((Child("polite", python(code)),), tmp_path)
    log = tmp_path / "polite.log"
    wait_for_text(log, "ready")
    stop_children(processes, timeout=10)
    assert processes["polite"].returncode == 0
    assert log.read_text().endswith("flushed\n")


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    processes = start_children((Child("stubborn", python(code)),), tmp_path)
    wait_for_text(tmp_path / "stubborn.log", "ready")
    began = time.monotonic()
    stop_children(processes, timeout=0.5)
    assert processes["stubborn"].returncode == -signal.SIGKILL
    assert time.monotonic() - began < 5


def test_a_yielding_child_and_its_session_run_at_its_niceness(tmp_path: Path) -> None:
    # Each child is a session of its own: with autogroup scheduling its nice value alone would
    # rank it only against its own session, so the session's group must be niced as well.
    code = (
        "import os, pathlib\n"
        "group = pathlib.Path('/proc/self/autogroup')\n"
        "print(os.getpriority(os.PRIO_PROCESS, 0), group.read_text().split()[-1] "
        "if group.exists() else 'none')\n"
    )
    children = (Child("yielding", python(code), niceness=7), Child("plain", python(code)))
    processes = start_children(children, tmp_path)
    for process in processes.values():
        process.wait(10)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    niceness, group = (tmp_path / "yielding.log").read_text().split()
    assert int(niceness) == own + 7
    if Path("/proc/self/autogroup").exists():
        assert group == "7"
    assert (tmp_path / "plain.log").read_text().split()[0] == str(own)


def test_the_runs_api_key_reaches_only_the_children_that_need_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULSE_INGEST__API_KEYS", raising=False)
    code = "import os; print(os.environ.get('PULSE_INGEST__API_KEYS'))"
    children = (Child("keyed", python(code), api_key=True), Child("plain", python(code)))
    processes = start_children(children, tmp_path, api_key="key-of-the-run")
    for process in processes.values():
        process.wait(10)
    assert (tmp_path / "keyed.log").read_text() == "key-of-the-run\n"
    assert (tmp_path / "plain.log").read_text() == "None\n"


def test_the_runs_admission_secret_reaches_the_registry_and_the_nodes_only(
    tmp_path: Path,
) -> None:
    code = "import os; print(os.environ.get('PULSE_GATEWAY__ADMISSION_SECRET'))"
    children = (
        Child("registry", python(code), registry_key_env="PULSE_REGISTRY__API_KEYS"),
        Child("node", python(code), registry_key_env="PULSE_GATEWAY__REGISTRY_KEY"),
        Child("plain", python(code)),
    )
    processes = start_children(children, tmp_path, admission_secret="secret-of-the-run")
    for process in processes.values():
        process.wait(10)
    for signing in ("registry", "node"):
        assert (tmp_path / f"{signing}.log").read_text() == "secret-of-the-run\n"
    assert (tmp_path / "plain.log").read_text() == "None\n"


RUN_WITH_A_SLEEPER = """
import sys
from pulse.config import load_config
from pulse.local.run import Child, run
sleeper = Child("sleeper", (sys.executable, "-c", "import time; time.sleep(120)"))
raise SystemExit(run(load_config(), children=(sleeper,)))
"""


@pytest.mark.broker
def test_a_run_whose_console_is_gone_still_stops_everything_it_started(tmp_path: Path) -> None:
    """`make run | tee log` stopped by Ctrl-C: tee dies with the same signal, so every line
    of the stop meets a closed pipe. The stop must go on all the same."""
    port = free_tcp_port()
    env = {
        **os.environ,
        "PULSE_KAFKA__BOOTSTRAP": f"127.0.0.1:{port}",
        "PULSE_INGEST__API_KEYS": "a-key",
        "PULSE_LOCAL__STATE_DIR": str(tmp_path / "state"),
        "PULSE_STREAMING__CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    run = subprocess.Popen(
        [sys.executable, "-c", RUN_WITH_A_SLEEPER],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert run.stdout is not None
    sleeper = None
    deadline = time.monotonic() + 90
    while sleeper is None and time.monotonic() < deadline:
        found = re.search(r"sleeper\s+running \(pid (\d+)\)", run.stdout.readline())
        sleeper = int(found[1]) if found else None
    assert sleeper is not None, "the console never showed the sleeper running"

    run.stdout.close()  # the console is gone
    run.send_signal(signal.SIGINT)
    run.wait(60)

    assert not Path(f"/proc/{sleeper}").exists(), "the child outlived a run whose console closed"
    with pytest.raises(ConnectionRefusedError):  # the broker it started is stopped too
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_traffic_waits_until_every_query_of_the_drivers_runs() -> None:
    """The simulators start once every job's queries have planned their first batch, so that
    the lake does not begin with the traffic of the JVMs' start-up as its backlog."""
    traffic = run._Traffic(tuple(c for c in CHILDREN if c.traffic), CHILDREN)
    assert {c.name for c in traffic.held} >= {"simulate-emoji", "simulate-emoji-api"}
    running = [{"job": job, "state": "running"} for job, _ in run.JOB_OUTPUTS]
    assert not traffic.due([])
    assert not traffic.due(running[1:])
    assert not traffic.due([*running, {"job": "lake", "state": "starting"}])
    assert traffic.due(running)
    assert traffic.due([{**running[0], "state": "retrying a failed write"}, *running[1:]])


def test_traffic_starts_after_its_wait_whatever_the_queries_say(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run, "TRAFFIC_WAIT_SECONDS", 0.0)
    traffic = run._Traffic(tuple(c for c in CHILDREN if c.traffic), CHILDREN)
    assert traffic.due([])
    traffic.held = ()
    assert not traffic.due([])  # started once
