"""Benchmark: the ingest API (`pulse serve ingest`): requests/s, latency, events/s in batches.

    .venv/bin/python benchmarks/ingest.py [--workers 1,2] [--clients 50] [--seconds 10]
                                          [--warmup 2] [--runs 3] [--batch-clients 4]
                                          [--batch-size 500] [--json PATH]

It starts its own Tansu broker on a free port, and for each `--workers` value fresh topics and
the API as a real uvicorn process (`python -m pulse serve ingest --port P [--workers N]`, the
broker, topics and an API key given as `PULSE_*` variables). Then, `--runs` times each:

1. `POST /v1/emoji`, one reaction per request, from `--clients` keep-alive connections, each
   sending its next request when the previous answer is in (closed loop): after `--warmup`
   seconds, `--seconds` are measured: 202 answers/s, latency p50/p99 (request written to
   answer read), and every other answer counted by status.
2. `POST /v1/events/emoji:batch` with `--batch-size` events a request (unique `event_id`s)
   from `--batch-clients` connections: accepted events/s, and the same latencies per request.

Afterwards the emoji topic must hold exactly the events that got a 202 (its end offsets), so
the figures are of events delivered to Kafka, and the monitoring topic one producer ack each.
The load generator is one asyncio process (raw HTTP/1.1 over keep-alive connections) on the
same cores as the API and the broker; the cores each of them used in the measured windows come
from /proc. Then the API is stopped with SIGTERM (graceful: it drains its producer) and its
exit and stop time are shown. Every process it starts is stopped at the end, also on Ctrl-C.
With `--json PATH` (or `$PULSE_BENCH_RESULTS`) every run's figures and the request latencies go
to a result file.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest_bench.load import Load, Tally
from ingest_bench.processes import (
    ApiError,
    ApiProcess,
    children,
    cores,
    machine,
    machine_cores,
    snapshot,
)
from pipeline_bench.stats import percentile
from suite_bench.results import Row, Table, add_json_option, command_line, write_results

from pulse.config import PulseConfig, load_config
from pulse.events.domains import EMOJIS
from pulse.events.schema import format_timestamp
from pulse.interrupts import stop_signals_as_interrupt
from pulse.kafka.admin import end_offsets, ensure_topics
from pulse.local.broker import LocalBroker, free_port

GOAL = (
    ">= 10k requests/s with p99 < 50 ms on 2 cores "
    "(several uvicorn workers if that is what it takes)"
)
GOAL_RATE, GOAL_P99_MS = 10_000, 50.0
KEY = "bench-ingest-key-0123456789"
DELIVERY_TIMEOUT = 60.0  # seconds for the topic to show every accepted event


@dataclass
class RunResult:
    """One measured window of one phase."""

    requests: int  # 202 answers in the window
    events: int  # events in them
    seconds: float
    latencies_ms: tuple[float, float]  # p50, p99
    refused: Counter[int]  # non-202 answers in the window, by status
    cores: dict[str, float]  # load generator, API, broker, other, machine
    worker_cores: list[float]
    delivered_per_s: float  # growth of the emoji topic's end offsets over the window
    samples_ms: list[float] = field(default_factory=list, repr=False)  # every latency, ms

    @property
    def requests_per_s(self) -> float:
        """202 answers per second."""
        return self.requests / self.seconds

    @property
    def events_per_s(self) -> float:
        """Accepted events per second."""
        return self.events / self.seconds


@dataclass
class ConfigResult:
    """Everything measured with one `--workers` value."""

    workers: int
    emoji: list[RunResult] = field(default_factory=list)
    batch: list[RunResult] = field(default_factory=list)
    accepted: int = 0  # events that got a 202, warm-ups and tails included
    broken: int = 0  # requests whose connection failed: their fate is unknown
    examples: dict[int, bytes] = field(default_factory=dict)
    in_topic: int = 0
    acks: int = 0
    exit_code: int | None = None
    stop_seconds: float | None = None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="API processes to try, e.g. 1,2")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=500)
    add_json_option(parser)
    args = parser.parse_args(argv)
    workers = [int(part) for part in args.workers.split(",") if part.strip()]
    command = command_line("ingest.py", argv)

    work = Path(tempfile.mkdtemp(prefix="pulse-bench-ingest-"))
    started = datetime.now(UTC)
    results: list[ConfigResult] = []
    try:
        with stop_signals_as_interrupt(), ExitStack() as cleanup:
            broker = LocalBroker(f"127.0.0.1:{free_port()}", work / "broker")
            broker.start(timeout=20)
            cleanup.callback(broker.stop)
            for count in workers:
                results.append(measure(args, count, broker, work, cleanup))
    except KeyboardInterrupt:
        print("\ninterrupted: everything the benchmark started has been stopped", file=sys.stderr)
        return 130
    except ApiError as exc:
        print(f"ingest benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(report(args, results, command, started))
    write_results(
        "ingest",
        args.json,
        command=command,
        settings=vars(args),
        started=started,
        tables=tables(args, results),
        sample_sets={
            f"{phase}, {r.workers} API process{'es' if r.workers > 1 else ''}": [
                ms for run in runs for ms in run.samples_ms
            ]
            for r in results
            for phase, runs in (
                ("POST /v1/emoji", r.emoji),
                ("POST /v1/events/emoji:batch", r.batch),
            )
        },
        data={"sample_unit": "ms", "goals": [list(goal_met(results))]},
    )
    return 0 if all(_delivered(result) for result in results) else 1


def measure(
    args: argparse.Namespace, workers: int, broker: LocalBroker, work: Path, cleanup: ExitStack
) -> ConfigResult:
    """Fresh topics and an API with `workers` processes; both phases; the delivery check."""
    tag = uuid.uuid4().hex[:8]
    base = load_config(environ={**os.environ, "PULSE_KAFKA__BOOTSTRAP": broker.bootstrap})
    settings = {"PULSE_KAFKA__BOOTSTRAP": broker.bootstrap, "PULSE_INGEST__API_KEYS": KEY}
    for domain, topic in base.topics.all().items():
        settings[f"PULSE_TOPICS__{domain.upper()}__NAME"] = f"i{tag}.{topic.name}"
    conf = load_config(environ={**os.environ, **settings})
    ensure_topics(conf.kafka, {t.name: t.partitions for t in conf.topics.all().values()})

    api = ApiProcess(free_port(), workers, settings, work / f"api-{workers}.log")
    cleanup.callback(api.stop)
    _say(f"API with {workers} process(es) on port {api.port}: starting")
    api.start()
    result = ConfigResult(workers)
    broker_pid = broker.pid()
    phases: list[tuple[str, list[RunResult], int, Callable[[], tuple[bytes, int]]]] = [
        ("POST /v1/emoji", result.emoji, args.clients, emoji_requests(api.port)),
        (
            f"POST /v1/events/emoji:batch x{args.batch_size}",
            result.batch,
            args.batch_clients,
            batch_requests(api.port, args.batch_size, tag),
        ),
    ]
    for name, runs, clients, next_request in phases:
        for run in range(args.runs):
            outcome, tally = asyncio.run(
                one_run(api, conf, broker_pid, clients, next_request, args.warmup, args.seconds)
            )
            runs.append(outcome)
            result.accepted += tally.accepted_events
            result.broken += tally.broken
            for status, body in tally.examples.items():
                result.examples.setdefault(status, body)
            _say(
                f"  {name}, run {run + 1}: {outcome.requests_per_s:,.0f} requests/s, "
                f"{outcome.events_per_s:,.0f} events/s, delivered "
                f"{outcome.delivered_per_s:,.0f}/s, p50 {outcome.latencies_ms[0]:.1f} ms, "
                f"p99 {outcome.latencies_ms[1]:.1f} ms, non-202 {sum(outcome.refused.values())}, "
                f"cores {_cores_text(outcome)}"
            )
    result.in_topic, result.acks = wait_delivered(conf, result.accepted)
    _say(
        f"  accepted {result.accepted:,} events; the topic holds {result.in_topic:,}, "
        f"producer acks {result.acks:,}"
    )
    api.stop()
    result.exit_code, result.stop_seconds = api.returncode, api.stop_seconds
    if result.examples:
        for status, body in result.examples.items():
            _say(f"  first {status} answer: {body.decode(errors='replace')}")
    return result


async def one_run(
    api: ApiProcess,
    conf: PulseConfig,
    broker_pid: int | None,
    clients: int,
    next_request: Callable[[], tuple[bytes, int]],
    warmup: float,
    seconds: float,
) -> tuple[RunResult, Tally]:
    """Connect, warm up, measure `seconds`, let the requests in flight finish, disconnect."""
    load = Load("127.0.0.1", api.port, clients, next_request)
    await load.start()
    await asyncio.sleep(warmup)
    workers = api.worker_pids()
    api_pids = sorted({api.pid, *children(api.pid)})
    me = os.getpid()
    watched = [me, *api_pids, *([broker_pid] if broker_pid else [])]
    # Blocking reads at the window's edges (a few ms): the load pauses for as long.
    offsets_before, offsets_at = _in_topic(conf), time.monotonic()
    first = snapshot(watched)
    began = load.open_window()
    await asyncio.sleep(seconds)
    ended = load.close_window()
    last = snapshot(watched)
    delivered = (_in_topic(conf) - offsets_before) / (time.monotonic() - offsets_at)
    await load.stop()
    tally = load.tally
    used = {
        "load": cores(first, last, [me]),
        "api": cores(first, last, api_pids),
        "broker": cores(first, last, [broker_pid]) if broker_pid else 0.0,
        "machine": machine_cores(first, last),
    }
    used["other"] = max(0.0, used["machine"] - used["load"] - used["api"] - used["broker"])
    latencies = [value * 1000 for value in tally.latencies]
    return (
        RunResult(
            requests=tally.statuses[202],
            events=tally.window_events,
            seconds=ended - began,
            latencies_ms=(percentile(latencies, 50), percentile(latencies, 99)),
            refused=Counter({s: n for s, n in tally.statuses.items() if s != 202}),
            cores=used,
            worker_cores=[cores(first, last, [pid]) for pid in workers],
            delivered_per_s=delivered,
            samples_ms=latencies,
        ),
        tally,
    )


def emoji_requests(port: int) -> Callable[[], tuple[bytes, int]]:
    """Prepared `POST /v1/emoji` requests (1,000 users x 20 matches x the emojis), cycled."""
    ts = format_timestamp(datetime.now(UTC))
    prepared = []
    for i in range(1024):
        body = json.dumps(
            {"user_id": f"u-{i}", "match_id": f"m-{i % 20}", "emoji": EMOJIS[i % len(EMOJIS)],
             "ts": ts},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()  # fmt: skip
        prepared.append((_request(port, "/v1/emoji", body), 1))
    return itertools.cycle(prepared).__next__


def batch_requests(port: int, size: int, tag: str) -> Callable[[], tuple[bytes, int]]:
    """`POST /v1/events/emoji:batch` requests of `size` events with fresh `event_id`s each."""
    ts = format_timestamp(datetime.now(UTC))
    template = (
        '{"event_id":"b' + tag + '-%d","user_id":"u-%d","match_id":"m-%d","emoji":"%s","ts":"'
        + ts + '"}'
    )  # fmt: skip
    counter = itertools.count()

    def next_request() -> tuple[bytes, int]:
        start = next(counter) * size
        items = [
            template % (n, n % 1000, n % 20, EMOJIS[n % len(EMOJIS)])
            for n in range(start, start + size)
        ]
        body = ("[" + ",".join(items) + "]").encode()
        return _request(port, "/v1/events/emoji:batch", body), size

    return next_request


def _request(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def wait_delivered(conf: PulseConfig, accepted: int) -> tuple[int, int]:
    """(events in the emoji topic, producer acks on monitoring) once both reach `accepted`, or
    as they are after `DELIVERY_TIMEOUT` seconds."""
    topics = [conf.topics.emoji.name, conf.topics.monitoring.name]
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        ends = end_offsets(conf.kafka, topics)
        counts = [sum(ends.get(topic, {}).values()) for topic in topics]
        if all(count >= accepted for count in counts) or time.monotonic() > deadline:
            return counts[0], counts[1]
        time.sleep(0.5)


def _in_topic(conf: PulseConfig) -> int:
    """Records in the emoji topic now (sum of its end offsets)."""
    topic = conf.topics.emoji.name
    return sum(end_offsets(conf.kafka, [topic]).get(topic, {}).values())


def _delivered(result: ConfigResult) -> bool:
    return result.in_topic == result.accepted and result.broken == 0


def report(
    args: argparse.Namespace, results: list[ConfigResult], command: str, started: datetime
) -> str:
    """The Markdown tables, the machine, the command and the goal."""
    lines = [
        f"Machine: {machine()}. Measured {started:%Y-%m-%d %H:%M} UTC.",
        "",
        "```sh",
        command,
        "```",
        "",
        f"### `POST /v1/emoji`: {args.clients} clients, {args.runs} runs of {args.seconds:g} s "
        f"after {args.warmup:g} s warm-up",
        "",
        "| API processes | median requests/s (202) | min | max | delivered/s | p50 ms | p99 ms "
        "| non-202 | cores: load generator / API (per worker) / broker / other "
        "| API CPU per request |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for result in results:
        lines.append(_row(result.workers, result.emoji, "requests"))
    lines += [
        "",
        f"### `POST /v1/events/emoji:batch`: {args.batch_size} events a request, "
        f"{args.batch_clients} clients, {args.runs} runs of {args.seconds:g} s",
        "",
        "| API processes | median events/s (202) | min | max | delivered/s | p50 ms | p99 ms "
        "| non-202 | cores: load generator / API (per worker) / broker / other "
        "| API CPU per event |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for result in results:
        lines.append(_row(result.workers, result.batch, "events"))
    lines += [
        "",
        "### Delivered",
        "",
        "| API processes | events accepted (202) | in the emoji topic | producer acks "
        "| requests lost with their connection | stop (SIGTERM): exit, seconds |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        stop = "did not stop" if r.stop_seconds is None else f"{r.exit_code}, {r.stop_seconds:.1f}"
        lines.append(
            f"| {r.workers} | {r.accepted:,} | {r.in_topic:,} "
            f"{'(exact)' if r.in_topic == r.accepted else '**(mismatch)**'} | {r.acks:,} "
            f"| {r.broken} | {stop} |"
        )
    goal, measured, met = goal_met(results)
    lines += [
        "",
        "| goal (from the issue) | best measured | met |",
        "|---|---|---|",
        f"| {goal} | {measured} | {'**yes**' if met else '**no**'} |",
    ]
    return "\n".join(lines)


def goal_met(results: list[ConfigResult]) -> tuple[str, str, bool]:
    """(the goal, the best measured, met?): the number of API processes with the highest
    median requests/s, and its median p99."""
    best = max(results, key=lambda r: statistics.median(x.requests_per_s for x in r.emoji))
    rate = statistics.median(x.requests_per_s for x in best.emoji)
    p99 = statistics.median(x.latencies_ms[1] for x in best.emoji)
    measured = (
        f"{rate:,.0f} requests/s, p99 {p99:.1f} ms ({best.workers} API "
        f"process{'es' if best.workers > 1 else ''})"
    )
    return GOAL, measured, rate >= GOAL_RATE and p99 < GOAL_P99_MS


def tables(args: argparse.Namespace, results: list[ConfigResult]) -> list[Table]:
    """The result file's tables: 202 requests/s of `POST /v1/emoji` and accepted events/s of
    the batch endpoint, one value per run, per number of API processes."""
    phases = (
        (f"`POST /v1/emoji`, {args.clients} clients", "requests/s", "emoji"),
        (
            f"`POST /v1/events/emoji:batch`, {args.batch_size} events a request, "
            f"{args.batch_clients} clients",
            "events/s",
            "batch",
        ),
    )
    out = []
    for title, unit, phase in phases:
        table = Table(title, unit, f"{unit} (202)")
        for result in results:
            runs: list[RunResult] = getattr(result, phase)
            rates = [r.requests_per_s if phase == "emoji" else r.events_per_s for r in runs]
            refused = sum((r.refused for r in runs), Counter())
            table.rows.append(
                Row(
                    f"{result.workers} API process{'es' if result.workers > 1 else ''}",
                    rates,
                    {
                        "median p50 ms": statistics.median(r.latencies_ms[0] for r in runs),
                        "median p99 ms": statistics.median(r.latencies_ms[1] for r in runs),
                        "median delivered/s": statistics.median(r.delivered_per_s for r in runs),
                        "non-202": ", ".join(f"{n} x {s}" for s, n in sorted(refused.items()))
                        or "0",
                        "in topic / accepted": f"{result.in_topic:,} / {result.accepted:,}",
                    },
                )
            )
        out.append(table)
    return out


def _row(workers: int, runs: list[RunResult], unit: str) -> str:
    rates = [r.requests_per_s if unit == "requests" else r.events_per_s for r in runs]
    p50 = statistics.median(r.latencies_ms[0] for r in runs)
    p99s = [r.latencies_ms[1] for r in runs]
    refused = sum((r.refused for r in runs), Counter())
    refused_text = ", ".join(f"{n} x {s}" for s, n in sorted(refused.items())) or "0"
    # The median run by rate stands for the CPU split.
    middle = sorted(runs, key=lambda r: r.requests)[len(runs) // 2]
    done = middle.requests_per_s if unit == "requests" else middle.events_per_s
    cost = middle.cores["api"] / done * 1e6 if done else float("nan")
    return (
        f"| {workers} | **{statistics.median(rates):,.0f}** | {min(rates):,.0f} "
        f"| {max(rates):,.0f} | {statistics.median(r.delivered_per_s for r in runs):,.0f} "
        f"| {p50:.1f} | {statistics.median(p99s):.1f} "
        f"({min(p99s):.1f}-{max(p99s):.1f}) | {refused_text} | {_cores_text(middle)} "
        f"| {cost:,.0f} µs |"
    )


def _cores_text(run: RunResult) -> str:
    c = run.cores
    per_worker = ""
    if len(run.worker_cores) > 1:
        per_worker = " (" + " + ".join(f"{v:.2f}" for v in run.worker_cores) + ")"
    return f"{c['load']:.2f} / {c['api']:.2f}{per_worker} / {c['broker']:.2f} / {c['other']:.2f}"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
