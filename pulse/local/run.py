"""`pulse run` (`make run`): the stack up, traffic into every topic, a live console, until Ctrl-C.

Its processes are one table, `CHILDREN`, each in its own session and stopped with SIGTERM on
Ctrl-C; without `PULSE_INGEST__API_KEYS` it makes an API key for the run (docs/ARCHITECTURE.md,
"The local platform").
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import NoReturn, TextIO

import redis
from confluent_kafka import KafkaException

from pulse.config import PROJECT_ROOT, PulseConfig
from pulse.events import domains
from pulse.interrupts import stop_signals_as_interrupt
from pulse.kafka.admin import end_offsets
from pulse.kafka.confluent_client import ConfluentClient
from pulse.kafka.errors import KafkaSourceError
from pulse.local.broker import LocalBroker
from pulse.local.summary import Board, RateMeter, render
from pulse.queryhealth import describe, forget_all, read_all
from pulse.simulate.clients import ingest_url
from pulse.simulate.segments import seed_segments
from pulse.stores import redis_client

REFRESH_SECONDS = 2.0
# The `nice` of the processes that yield the cores to the platform's queries: the simulators
# (the traffic; on a real deployment its sources are other machines) and the dashboard's
# server. On two cores, a dashboard open in a browser (its server's queries and charts every
# refresh) took half a core, and live batches went from 0.8 s to 8-40 s. Each child is a
# session of its own, and with Linux's autogroup scheduling (on by default) a process's nice
# value only ranks it against its own session: the session's group is niced too (`_in_child`).
# The lake driver yielded too (nice 5) until the simulators did. At eight times the default
# traffic (benchmarks/live_platform.py --scales 8, 4 minutes, 19,300 events/s) with the
# simulators at nice 10, the lake's p95 was 8.80 s at nice 5, 7.85 s at 2 and 7.14 s at 0 (its
# promise: 7 s; batches 3.63 s at the median at 5, 1.94 s at 0), the live paths' p95 1.73-2.13 s
# throughout (goal 2.5); with the simulators at nice 0 and the lake at 5 the lake fell behind
# (p95 20 s). Under overload the traffic slows first: the rate produced is what is reported.
YIELDING_NICENESS = 10
# Traffic starts once every query of the drivers runs (its first batch planned), or after this
# long whatever the queries say. Started together with the drivers at eight times the default
# traffic, the lake began a million records behind (the traffic of the JVMs' start-up), which at
# that rate it never drained, and one query's Python worker missed Spark's fixed 10 s to
# connect back on the saturated cores (a restart). At the default traffic the queries run about
# 40 s after the start, and the first score reaches the page a second or two later.
TRAFFIC_WAIT_SECONDS = 180.0
STOP_SECONDS = 15.0  # a child's grace to flush and exit after SIGTERM, before SIGKILL
API_KEYS_ENV = "PULSE_INGEST__API_KEYS"
REGISTRY_KEYS_ENV = "PULSE_REGISTRY__API_KEYS"  # what the registry accepts
INGEST_KEY_ENV = "PULSE_GATEWAY__INGEST_KEY"  # what nodes present to forward viewers' emoji
REGISTRY_KEY_ENV = "PULSE_GATEWAY__REGISTRY_KEY"  # what nodes and clients present
# Signs (the registry) and checks (the nodes) the tokens that admit clients to their node.
ADMISSION_SECRET_ENV = "PULSE_GATEWAY__ADMISSION_SECRET"
# The delivery tier of the local platform: 3 clusters of 3 nodes, one publisher per cluster.
CLUSTERS = ("c1", "c2", "c3")
NODES_PER_CLUSTER = 3


@dataclass(frozen=True)
class Child:
    """A process of the platform: a name for the console and logs, its command line, whether
    it gets the run's ingest API key (`PULSE_INGEST__API_KEYS`), and the variable, if any, in
    which it gets the run's registry key (the registry's list, or the key nodes present; those
    children, the registry and the nodes, also get the run's admission secret), and whether it
    forwards to the ingest API with the run's key (`PULSE_GATEWAY__INGEST_KEY`)."""

    name: str
    argv: tuple[str, ...]
    api_key: bool = False
    registry_key_env: str | None = None
    forwards_to_ingest: bool = False
    niceness: int = 0  # its CPU priority, and its session's (YIELDING_NICENESS: it yields)
    traffic: bool = False  # a simulator: started once the queries run (TRAFFIC_WAIT_SECONDS)


def pulse_command(*args: str) -> tuple[str, ...]:
    """The `pulse` command line in this interpreter, so children run in the same venv."""
    return (sys.executable, "-m", "pulse", *args)


def job_command(job: str) -> tuple[str, ...]:
    """A streaming job (`jobs/<job>.py`), submitted the way a cluster would run it
    (`./spark-submit.sh`)."""
    return (str(PROJECT_ROOT / "spark-submit.sh"), f"jobs/{job}.py")


# What each job writes, for the console's "where to look".
JOB_OUTPUTS: tuple[tuple[str, str], ...] = (
    (
        "lake",
        "Delta <lake>/bronze, silver/<domain>, quarantine, product_history (compacted every "
        "lake.compact_every_seconds: lake-compactor); topic platform.deadletter",
    ),
    (
        "live",
        "PostgreSQL emoji_windows, match_scores, player_stats; MySQL game_deliveries; "
        "Redis emoji:<match>, match:<match>, node:<node> channels; topic emoji.aggregated",
    ),
    ("enrich", "PostgreSQL events; Redis event:<id> (TTL); MySQL products"),
    (
        "monitor",
        "PostgreSQL topic_arrivals, monitoring_rollups, query_batches, event_acks; Redis gauge:*",
    ),
)


def delivery_children(base_port: int) -> tuple[Child, ...]:
    """The registry, a publisher per cluster and the nodes of every cluster, numbered from
    `base_port`; the nodes wait for the registry to answer before they register."""
    registry = Child(
        "registry", pulse_command("serve", "registry"), registry_key_env=REGISTRY_KEYS_ENV
    )
    publishers = tuple(
        Child(f"publisher-{cluster}", pulse_command("serve", "publisher", "--cluster", cluster))
        for cluster in CLUSTERS
    )
    nodes = tuple(
        Child(
            f"gateway-{cluster}-n{index}",
            pulse_command(
                *("serve", "gateway", "--cluster", cluster, "--node", f"{cluster}-n{index}"),
                *("--port", str(base_port + c * NODES_PER_CLUSTER + index)),
            ),
            registry_key_env=REGISTRY_KEY_ENV,
            forwards_to_ingest=True,
        )
        for c, cluster in enumerate(CLUSTERS)
        for index in range(NODES_PER_CLUSTER)
    )
    return (registry, *publishers, *nodes)


def simulator_children() -> tuple[Child, ...]:
    """One simulator per source domain of the registry, at the rate the domain declares
    (`Domain.simulated_rate`, pulse/events/domains.py), producing to Kafka directly."""
    return tuple(
        Child(
            f"simulate-{domain.name}",
            pulse_command(
                "simulate", domain.name, "--rate", f"{domain.simulated_rate:g}", "--quiet"
            ),
            traffic=True,
            niceness=YIELDING_NICENESS,
        )
        for domain in domains()
        if domain.is_source
    )


# The ingest API and the CDC relay first, so that they are up by the time their clients are.
# One simulator per domain; one more emoji simulator goes through the ingest API (a few
# clients at a modest rate), so that the API is exercised too. It waits for the API to answer.
VIA_API = "simulate emoji --via-api --clients 3 --rate 100 --api-wait 120 --quiet"
CHILDREN: tuple[Child, ...] = (
    Child("ingest-api", pulse_command("serve", "ingest"), api_key=True),
    Child("cdc-relay", pulse_command("serve", "cdc")),
    *simulator_children(),
    Child(
        "simulate-emoji-api",
        pulse_command(*VIA_API.split()),
        api_key=True,
        traffic=True,
        niceness=YIELDING_NICENESS,
    ),
    # The live views' queries (live, enrich) in one driver: on two cores, a JVM and Python
    # workers per job cost more than the queries themselves. The lake and the monitor in a
    # second driver: their batches are computed on the driver and, in the same Python process,
    # held the interpreter while live batches waited.
    Child("live-views", job_command("live_views")),
    Child("lake-monitor", job_command("lake_monitor")),
    Child("dashboard", pulse_command("dashboard"), niceness=YIELDING_NICENESS),
    # The lake's small files rewritten into large ones every lake.compact_every_seconds, apart
    # from the lake job (no lake batch waits for it), yielding as the traffic does.
    Child("lake-compactor", pulse_command("compact", "--repeat"), niceness=YIELDING_NICENESS),
)
# The Spark drivers among them (`jobs/<driver>.py`, pulse.pipelines.LOCAL_DRIVERS): their logs
# hold every query's batch lines.
DRIVERS: tuple[Child, ...] = tuple(c for c in CHILDREN if c.argv[-1].startswith("jobs/"))


def scale_traffic(children: tuple[Child, ...], scale: float) -> tuple[Child, ...]:
    """`children` with every `--rate` multiplied by `scale` (the simulators' traffic)."""
    if scale == 1:
        return children
    return tuple(
        replace(child, argv=_scaled_rates(child.argv, scale)) if "--rate" in child.argv else child
        for child in children
    )


def _scaled_rates(argv: tuple[str, ...], scale: float) -> tuple[str, ...]:
    scaled = list(argv)
    for index, arg in enumerate(argv[:-1]):
        if arg == "--rate":
            scaled[index + 1] = f"{float(argv[index + 1]) * scale:g}"
    return tuple(scaled)


def run(
    conf: PulseConfig, children: tuple[Child, ...] | None = None, traffic_scale: float = 1.0
) -> int:
    """Bring the stack up, start the children (by default `CHILDREN`, each simulator's rate
    times `traffic_scale`, and the delivery tier), show the console; on Ctrl-C undo what it
    did."""
    from pulse.local import stack  # imported here: it pulls in the database drivers

    if children is None:
        children = (
            *scale_traffic(CHILDREN, traffic_scale),
            *delivery_children(conf.gateway.base_port),
        )

    # A key of the environment reaches every child as it is; a made one only those that need it.
    api_key = None if conf.ingest.api_keys else secrets.token_urlsafe(24)
    if api_key:
        print(f"pulse run: no {API_KEYS_ENV} set; the ingest API key of this run: {api_key}")
    given = conf.gateway.registry_key
    registry_key = given.get_secret_value() if given else secrets.token_urlsafe(24)
    # Made for each run unless configured: only this run's registry and nodes share it.
    signing = conf.gateway.admission_secret
    admission_secret = signing.get_secret_value() if signing else secrets.token_urlsafe(32)
    broker = LocalBroker(conf.kafka.bootstrap, conf.local.state_dir)
    running_before = broker.pid() is not None
    started_broker = False
    logs = conf.local.state_dir / "logs"
    try:
        with stop_signals_as_interrupt():
            code = stack.up(conf)
            started_broker = not running_before and broker.pid() is not None
            if code != 0:
                print(f"pulse run: the stack is not up (exit code {code}); see above")
                return code
            if seed_segments(conf.postgres):
                print("pulse run: user_segments was empty; filled for the simulated users")
            # The console and `pulse status` show this run's queries, not a previous run's.
            forget_all(redis_client(conf.redis))
            start = partial(
                start_children,
                logs=logs,
                api_key=api_key,
                registry_key=registry_key,
                admission_secret=admission_secret,
            )
            processes = start(tuple(child for child in children if not child.traffic))
            traffic = _Traffic(tuple(child for child in children if child.traffic), children)
            places = _places(conf, broker, started_broker, logs, api_key, registry_key)
            try:
                _watch(conf, processes, places, traffic, start)
            except (KeyboardInterrupt, BrokenPipeError):
                return 0  # the way to stop it; or its console is gone: stop as if closed
            finally:
                _tell("\npulse run: stopping the processes")
                stop_children(processes)
    except KeyboardInterrupt:
        return 130  # interrupted while the stack was coming up
    finally:
        if started_broker:
            stack.down(conf)


def _tell(text: str) -> None:
    """Print a line of the stop, unless the console is gone: a `make run | tee log` stopped by
    the same Ctrl-C, a closed terminal. The stop must go on: a failed print had left the job
    drivers running."""
    try:
        print(text, flush=True)
    except OSError:  # BrokenPipeError, EIO
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the rest of the process)


def start_children(
    children: tuple[Child, ...],
    logs: Path,
    api_key: str | None = None,
    registry_key: str | None = None,
    admission_secret: str | None = None,
) -> dict[str, subprocess.Popen]:
    """Start every child, its output to `logs/<name>.log`; `api_key`, `registry_key` and
    `admission_secret` to those that need them."""
    logs.mkdir(parents=True, exist_ok=True)
    processes = {}
    for child in children:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if api_key and child.api_key:
            env[API_KEYS_ENV] = api_key
        if registry_key and child.registry_key_env:
            env[child.registry_key_env] = registry_key
        if admission_secret and child.registry_key_env:
            env[ADMISSION_SECRET_ENV] = admission_secret
        if child.forwards_to_ingest and INGEST_KEY_ENV not in env:
            # The run's made key, else the first configured one: viewers' emoji get through.
            given = os.environ.get(API_KEYS_ENV, "").split(",")[0].strip()
            if api_key or given:
                env[INGEST_KEY_ENV] = api_key or given
        with open(logs / f"{child.name}.log", "ab") as log:
            processes[child.name] = subprocess.Popen(
                child.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=partial(_in_child, child.niceness),
            )
    return processes


def stop_children(processes: dict[str, subprocess.Popen], timeout: float = STOP_SECONDS) -> None:
    """SIGTERM every child's process group, wait for the groups together, SIGKILL what is left.

    A whole group: a job is spark-submit.sh, its JVM, its Python driver and workers. The script
    ends with the JVM, while the Python driver may still be winding down (or stuck on a JVM that
    is gone): waiting for the child alone left drivers running, adopted by init.
    """
    for process in processes.values():
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.0, deadline - time.monotonic()))
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _group_alive(group: int) -> bool:
    """Whether any process of process group `group` is still running."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_state(process: subprocess.Popen) -> str:
    """What the console says about a child."""
    code = process.poll()
    if code is None:
        return f"running (pid {process.pid})"
    return f"exited with code {code}: see its log"


class _Traffic:
    """The simulators held back until the drivers' queries run (`TRAFFIC_WAIT_SECONDS`)."""

    def __init__(self, held: tuple[Child, ...], children: tuple[Child, ...]) -> None:
        self.held = held
        drivers = any(child in DRIVERS for child in children)
        self._jobs = {job for job, _ in JOB_OUTPUTS} if drivers else set()
        self._deadline = time.monotonic() + TRAFFIC_WAIT_SECONDS

    def due(self, reports: list[dict[str, str]]) -> bool:
        """Whether the held simulators start now: every job of the drivers has reported and
        none of its queries is still starting, or the wait is over."""
        if not self.held:
            return False
        states: dict[str, list[str]] = {}
        for report in reports:
            states.setdefault(report.get("job", ""), []).append(report.get("state", ""))
        return time.monotonic() >= self._deadline or all(
            job in states and "starting" not in states[job] for job in self._jobs
        )


def _watch(
    conf: PulseConfig,
    processes: dict[str, subprocess.Popen],
    places: tuple[tuple[str, str], ...],
    traffic: _Traffic,
    start: Callable[[tuple[Child, ...]], dict[str, subprocess.Popen]],
) -> NoReturn:
    """Redraw the console every `REFRESH_SECONDS` until Ctrl-C; start the held traffic when
    it is due (`processes` gets its simulators)."""
    topics = [topic.name for topic in conf.topics.all().values()]
    meter = RateMeter(topics)
    screen = _Screen(sys.stdout)
    health = redis_client(conf.redis)
    kafka = ConfluentClient(conf.kafka.client_params())
    next_at = time.monotonic()
    try:
        while True:
            problem = ""
            try:
                offsets = end_offsets(conf.kafka, topics, kafka, recent=True)
            except (KafkaSourceError, KafkaException) as exc:
                offsets, problem = {}, f"cannot read end offsets from {conf.kafka.bootstrap}: {exc}"
            totals = {topic: sum(ends.values()) for topic, ends in offsets.items()}
            rows = meter.sample(time.monotonic(), totals)
            reports = _reports(health)
            if isinstance(reports, list) and traffic.due(reports):
                processes.update(start(traffic.held))
                traffic.held = ()
            states = tuple((name, process_state(p)) for name, p in processes.items())
            states += tuple((child.name, "waits for the queries") for child in traffic.held)
            board = Board(rows, states, places, problem, queries=_query_lines(reports))
            screen.draw(render(board))
            next_at += REFRESH_SECONDS
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        kafka.close()
        screen.close()


def _reports(client: redis.Redis) -> list[dict[str, str]] | str:
    """Every query's health report (pulse.queryhealth), or why Redis did not give them."""
    try:
        return read_all(client)
    except redis.RedisError as exc:
        return f"unknown: Redis does not answer ({exc})"


def _query_lines(reports: list[dict[str, str]] | str) -> tuple[str, ...]:
    """What the console says about each streaming query."""
    if isinstance(reports, str):
        return (reports,)
    return tuple(describe(report) for report in reports) or ("starting: no batch reported yet",)


def _places(
    conf: PulseConfig,
    broker: LocalBroker,
    started_broker: bool,
    logs: Path,
    api_key: str | None = None,
    registry_key: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """Where things are: the broker (and whether this run stops it), the ingest API and its key,
    the registry, the nodes and how to watch a match, state and logs."""
    if started_broker:
        owner = "started by this run, stopped at the end"
    elif broker.pid() is not None:
        owner = "started by `pulse up`, left running"
    else:
        owner = "external, left running"
    local = broker.pid() is not None
    broker_log = f", broker: {broker.log_file}" if local else ""
    lake = conf.lake.path
    last_port = conf.gateway.base_port + len(CLUSTERS) * NODES_PER_CLUSTER - 1
    key = f"{api_key}, made for this run" if api_key else f"from {API_KEYS_ENV}"
    return (
        ("broker", f"{conf.kafka.bootstrap} ({owner})"),
        ("ingest API", f"{ingest_url(conf.ingest)} (X-API-Key: {key}); GET /health, /metrics"),
        ("registry", f"{conf.registry.url} (X-API-Key: {registry_key})"),
        (
            "gateways",
            f"{len(CLUSTERS)} clusters x {NODES_PER_CLUSTER} nodes, ws://{conf.gateway.host}:"
            f"{conf.gateway.base_port}-{last_port}/ws; publishers relay emoji.aggregated to "
            "Redis cluster:<c>:emoji",
        ),
        ("live page", f"http://{conf.gateway.host}:{conf.gateway.base_port}/ (any node serves it)"),
        ("dashboard", f"http://{conf.dashboard.host}:{conf.dashboard.port}/ (Streamlit)"),
        ("notebooks", "make notebooks (JupyterLab on notebooks/)"),
        (
            "watch",
            f"{REGISTRY_KEY_ENV}={registry_key} pulse client --match <id> "
            f"(live matches: curl -s http://{conf.gateway.host}:{conf.gateway.base_port}"
            "/api/matches)",
        ),
        ("state", str(conf.local.state_dir)),
        ("logs", f"{logs}/<process>.log{broker_log}"),
        *((f"job {job}", text.replace("<lake>", lake)) for job, text in JOB_OUTPUTS),
    )


class _Screen:
    """Draws a block of text in place on a terminal; elsewhere (a log file) appends it, at most
    every `LOG_EVERY_SECONDS` (every 2 s, a 50-line block made 919 KB of log in 24 minutes)."""

    LOG_EVERY_SECONDS = 60.0

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._tty = out.isatty()
        self._height = 0
        self._logged_at = float("-inf")
        if self._tty:
            out.write("\x1b[?25l")  # hide the cursor while redrawing

    def draw(self, text: str) -> None:
        """Replace the previous block with `text`."""
        if not self._tty:
            if time.monotonic() - self._logged_at < self.LOG_EVERY_SECONDS:
                return
            self._logged_at = time.monotonic()
        if self._tty and self._height:
            # To the start of the block's first line, then clear to the end of the screen.
            self._out.write(f"\x1b[{self._height}F\x1b[J")
        self._out.write(text + "\n")
        self._out.flush()
        self._height = text.count("\n") + 1

    def close(self) -> None:
        """Give the cursor back."""
        if self._tty:
            self._out.write("\x1b[?25h")
            self._out.flush()


def _in_child(niceness: int) -> None:
    """In the child before exec, in its new session: get SIGTERM when `pulse run` dies, even by
    SIGKILL (Linux), and take `niceness` for itself and for its session's scheduling group.

    Raising a nice value needs no privilege; a kernel without autogroups has no
    `/proc/self/autogroup`, and there the process's own nice value is what counts."""
    if _LIBC is not None:  # on Linux only
        pr_set_pdeathsig = 1
        _LIBC.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if niceness:
        os.nice(niceness)
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(niceness))


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
