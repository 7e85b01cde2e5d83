"""Benchmark: fan-out of one gateway node: delivery latency from Redis publish to client receipt.

    .venv/bin/python benchmarks/fanout.py [--clients 1000,5000,10000] [--messages 20]
                                          [--interval 1.0] [--processes 4] [--runs 1]
                                          [--json PATH]

It starts a private stack (Tansu, a Redis server of its own, a scratch MySQL database migrated
for the registry; `pipeline_bench.stack.private_stack`), the registry API and ONE gateway node
as real processes (`pulse serve registry`, `pulse serve gateway`, capacity above the largest
size). For each size N, `--processes` viewer processes (`fanout_bench/viewers.py`) open N
WebSocket connections to the node between them, all watching one match, and wait for their
welcomes. Then `--messages` score messages are published on the match's Redis channel, one per
`--interval` seconds, in the live job's message form plus a `sent_at` (time.time()): each
reaches all N clients (the fan-out case), which time publish -> receipt on the same clock.
Reported per size: latency p50/p95/p99/max over every (message, client) pair, what arrived
of N x messages, the node's cores and RSS, and the viewers' cores (from /proc), since the
viewers share the machine's two cores with the node. With `--runs R` every size is measured R
times (a row per run); with `--json PATH` (or `$PULSE_BENCH_RESULTS`) the runs' figures and the
latencies go to a result file.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
from ingest_bench.processes import cores, machine, snapshot
from pipeline_bench.process import GroupProcess
from pipeline_bench.stack import free_port, private_stack, wait_for
from pipeline_bench.stats import percentile
from suite_bench.results import Row, Table, add_json_option, command_line, write_results
from tqdm import tqdm

from pulse.config import PROJECT_ROOT

KEY = "fanout-bench-key-0123456789"
GOAL = "10k clients on one node with p95 < 500 ms"
VIEWERS = Path(__file__).parent / "fanout_bench" / "viewers.py"


@dataclass(frozen=True)
class SizeResult:
    """What one size measured."""

    clients: int
    latencies_ms: list[float]
    expected: int
    connect_seconds: float
    node_cores: float
    viewer_cores: float
    node_rss_mib: float

    def row(self) -> str:
        """The markdown table row."""
        lat = sorted(self.latencies_ms)
        got = len(lat)
        p = [percentile(lat, q) if lat else float("nan") for q in (50, 95, 99)]
        return (
            f"| {self.clients:,} | {got:,} / {self.expected:,} | {p[0]:.1f} | **{p[1]:.1f}** | "
            f"{p[2]:.1f} | {max(lat) if lat else float('nan'):.1f} | {self.connect_seconds:.1f} | "
            f"{self.node_cores:.2f} / {self.viewer_cores:.2f} | {self.node_rss_mib:.0f} |"
        )

    @property
    def p95(self) -> float:
        """Latency p95 in ms."""
        return percentile(sorted(self.latencies_ms), 95) if self.latencies_ms else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1000,5000,10000")
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1, help="measurements of each size")
    add_json_option(parser)
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.clients.split(",")]
    command = command_line("fanout.py", argv)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="pulse-fanout-") as folder, ExitStack() as cleanup:
        work = Path(folder)
        stack = cleanup.enter_context(private_stack(work))
        registry_port, node_port = free_port(), free_port()
        env = {
            **stack.env,
            "PULSE_REGISTRY__API_KEYS": KEY,
            "PULSE_REGISTRY__URL": f"http://127.0.0.1:{registry_port}",
            "PULSE_GATEWAY__REGISTRY_KEY": KEY,
            "PULSE_GATEWAY__CAPACITY": str(max(sizes) + 100),
            "PULSE_GATEWAY__ADMISSION_SECRET": secrets.token_urlsafe(32),
        }
        registry = _service("registry", ["--port", str(registry_port)], env, work)
        cleanup.callback(registry.stop)
        wait_for("the registry", lambda: "Uvicorn running" in registry.tail(), 30)
        node = _service(
            "gateway", ["--cluster", "c0", "--node", "n0", "--port", str(node_port)], env, work
        )
        cleanup.callback(node.stop)
        wait_for("the gateway node", lambda: "node n0 of cluster c0" in node.tail(), 60)
        publisher = redis.Redis.from_url(stack.conf.redis.url)
        results = [
            _measure(size, args, node, publisher, f"ws://127.0.0.1:{node_port}/ws", env)
            for size in sizes
            for _ in range(args.runs)
        ]
    print(_report(results, command, args))
    write_results(
        "fanout",
        args.json,
        command=command,
        settings=vars(args),
        started=started,
        tables=[_table(results, sizes)],
        sample_sets={
            f"{size:,} clients": [
                ms for result in results if result.clients == size for ms in result.latencies_ms
            ]
            for size in sizes
        },
        data={"sample_unit": "ms", "goals": [list(_goal(results))]},
    )
    return 0


def _table(results: list[SizeResult], sizes: list[int]) -> Table:
    """The result file's table: latency p95 of each run, per number of clients."""
    table = Table("Delivery latency p95, publish -> receipt", "ms", "p95 ms")
    for size in sizes:
        runs = [result for result in results if result.clients == size]
        every = [ms for result in runs for ms in result.latencies_ms]
        table.rows.append(
            Row(
                f"{size:,} clients",
                [result.p95 for result in runs],
                {
                    "delivered / expected": f"{len(every):,} / "
                    f"{sum(result.expected for result in runs):,}",
                    "p50 ms (all runs)": percentile(every, 50),
                    "p99 ms (all runs)": percentile(every, 99),
                    "max ms": max(every, default=float("nan")),
                    "median connect s": statistics.median(r.connect_seconds for r in runs),
                    "median cores node / viewers": (
                        f"{statistics.median(r.node_cores for r in runs):.2f} / "
                        f"{statistics.median(r.viewer_cores for r in runs):.2f}"
                    ),
                    "max node RSS MiB": max(r.node_rss_mib for r in runs),
                },
            )
        )
    return table


def _service(name: str, options: list[str], env: dict[str, str], work: Path) -> GroupProcess:
    process = GroupProcess(
        f"pulse serve {name}",
        [sys.executable, "-m", "pulse", "serve", name, *options],
        work / f"{name}.log",
        env,
        grace=15.0,
    )
    process.start()
    return process


def _measure(
    size: int,
    args: argparse.Namespace,
    node: GroupProcess,
    publisher: redis.Redis,
    url: str,
    env: dict[str, str],
) -> SizeResult:
    match_id = f"m-{uuid.uuid4().hex[:8]}"
    shares = [size // args.processes + (i < size % args.processes) for i in range(args.processes)]
    started = time.monotonic()
    viewers = [
        _viewers(url, match_id, share, args.messages, f"v{i}", env)
        for i, share in enumerate(shares)
        if share
    ]
    for viewer in tqdm(viewers, desc=f"{size:,} clients connecting", unit="process"):
        line = viewer.stdout.readline() if viewer.stdout else ""
        if line.strip() != "ready":
            raise RuntimeError(f"a viewer process did not connect: {line!r}\n{node.tail()}")
    connect_seconds = time.monotonic() - started
    pids = [node.pid, *(viewer.pid for viewer in viewers)]
    first = snapshot(pids)
    for sequence in tqdm(range(1, args.messages + 1), desc=f"{size:,} clients", unit="msg"):
        publisher.publish(f"match:{match_id}", json.dumps(_score(match_id, sequence)))
        time.sleep(args.interval)
    last = snapshot(pids)
    rss = _rss_mib(node.pid)
    latencies: list[float] = []
    for viewer in viewers:
        assert viewer.stdin is not None and viewer.stdout is not None
        viewer.stdin.close()  # those still waiting report what they have
        latencies += json.loads(viewer.stdout.readline())["latencies_ms"]
        viewer.wait(60)
    return SizeResult(
        clients=size,
        latencies_ms=latencies,
        expected=size * args.messages,
        connect_seconds=connect_seconds,
        node_cores=cores(first, last, [node.pid]),
        viewer_cores=cores(first, last, [viewer.pid for viewer in viewers]),
        node_rss_mib=rss,
    )


def _viewers(
    url: str, match_id: str, count: int, messages: int, tag: str, env: dict[str, str]
) -> subprocess.Popen:
    """A viewer process of `count` clients of node n0, which sign their tokens with the
    benchmark's admission secret (in `env`); it says `ready` once all are welcomed."""
    options = {
        "--url": url, "--node": "n0", "--match": match_id, "--count": count,
        "--messages": messages,
    }  # fmt: skip
    command = [sys.executable, str(VIEWERS), *(f"{k}={v}" for k, v in options.items())]
    return subprocess.Popen(
        [*command, f"--tag={tag}"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _score(match_id: str, sequence: int) -> dict[str, object]:
    """A scoreboard message as the live job's Redis sink publishes it, plus `sent_at`."""
    return {
        "match_id": match_id,
        "home_team": "Lions",
        "away_team": "Tigers",
        "home_score": sequence,
        "away_score": 0,
        "sequence": sequence,
        "updated_at": datetime.now(UTC).isoformat(),
        "batch_id": sequence,
        "seq": 0,
        "sent_at": time.time(),
    }


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _report(results: list[SizeResult], command: str, args: argparse.Namespace) -> str:
    at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    goal, measured, met = _goal(results)
    lines = [
        f"Machine: {machine()}. Measured {at}.",
        "",
        "```sh",
        command,
        "```",
        "",
        f"One node, all clients on one match, {args.messages} score messages "
        f"{args.interval:g} s apart, {args.processes} viewer processes:",
        "",
        "| clients | delivered / expected | p50 ms | p95 ms | p99 ms | max ms | connect s "
        "| cores: node / viewers | node RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        *(result.row() for result in results),
        "",
        "| goal (from the issue) | measured | met |",
        "|---|---|---|",
        f"| {goal} | {measured} | **{'yes' if met else 'no'}** |",
    ]
    return "\n".join(lines)


def _goal(results: list[SizeResult]) -> tuple[str, str, bool]:
    """(the goal, what the largest size measured over all its runs, met?)."""
    largest = max(result.clients for result in results)
    every = [ms for r in results if r.clients == largest for ms in r.latencies_ms]
    p95 = percentile(every, 95) if every else float("inf")
    p50 = percentile(every, 50) if every else float("nan")
    measured = f"{largest:,} clients: p95 {p95:.1f} ms, p50 {p50:.1f} ms"
    return GOAL, measured, largest >= 10_000 and p95 < 500


if __name__ == "__main__":
    raise SystemExit(main())
