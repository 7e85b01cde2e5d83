"""`pulse simulate`: send a domain's generated events to its topic at a steady rate.

User-facing: it shows a progress bar and prints a summary, and explains a broker it cannot reach
rather than hanging on it.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from tqdm import tqdm

from pulse.config import KafkaConfig, PulseConfig
from pulse.events.domains import SOURCE_DOMAINS
from pulse.interrupts import sigterm_as_interrupt
from pulse.kafka.producer import EventProducer, ProduceError
from pulse.simulate.clock import StartTimeError, parse_start
from pulse.simulate.pacing import Pacer
from pulse.simulate.records import Record, records

BURST_SECONDS = 0.1  # the most sent in one go when catching up, so the loop stays responsive
PROBE_TIMEOUT = 3.0  # seconds for a TCP connect to a bootstrap address
METADATA_TIMEOUT = 6.0  # with the probe, the broker check gives up within about 10 s
# Records the broker has not acknowledged after this long fail, and stop the run (the default,
# five minutes, would leave a simulator sending into a dead broker unnoticed).
DELIVERY_TIMEOUT_MS = 30_000


Outcome = Literal["done", "interrupted", "failed"]


class SimulateError(RuntimeError):
    """The simulator cannot run: unreachable broker, missing topic; says what to do."""


@dataclass
class _Stream:
    """One domain's records on their way to one topic, and what was sent."""

    domain: str
    topic: str
    records: Iterator[Record]
    sent: int = 0
    bad: int = 0
    finished_at: float = 0.0  # seconds after the start when its last record was queued

    def send(self, producer: EventProducer, count: int) -> None:
        """Queue the next `count` records; the counts stay exact if Ctrl-C cuts a burst short."""
        topic, send_bytes, sent, bad = self.topic, producer.send_bytes, 0, 0
        try:
            for key, value, kind in islice(self.records, count):
                send_bytes(topic, key, value)
                sent += 1
                if kind is not None:
                    bad += 1
        finally:
            self.sent += sent
            self.bad += bad


def simulate(
    conf: PulseConfig,
    domain: str,
    *,
    rate: float,
    duration: float | None,
    seed: int,
    bad_ratio: float,
    start: str | None,
    progress: bool,
) -> int:
    """Send `rate` events per second per domain (`all`: each source domain) until done or Ctrl-C.

    `start` (ISO-8601, default now) is the event time of the first event: with it fixed, the
    records are the same on every run. Returns the process exit code.
    """
    domains = SOURCE_DOMAINS if domain == "all" else (domain,)
    try:
        first = parse_start(start)
        topics = {name: getattr(conf.topics, name).name for name in domains}
        check_broker(conf.kafka, list(topics.values()))
    except (StartTimeError, SimulateError) as exc:
        print(f"pulse simulate: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, StartTimeError) else 1
    except KeyboardInterrupt:
        return 130
    streams = [
        _Stream(name, topic, records(name, seed, rate, first, bad_ratio))
        for name, topic in topics.items()
    ]
    total = None if duration is None else max(1, round(duration * rate))
    producer = EventProducer(conf.kafka, **{"message.timeout.ms": DELIVERY_TIMEOUT_MS})
    with sigterm_as_interrupt():
        outcome = _pace(streams, producer, rate, total, progress)
    code = {"done": 0, "failed": 1}.get(outcome, 0 if total is None else 130)
    try:
        producer.flush()
    except ProduceError as exc:
        print(f"pulse simulate: {exc} (broker {conf.kafka.bootstrap})", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print(
            "pulse simulate: interrupted while flushing; queued records may be lost",
            file=sys.stderr,
        )
        code = 130
    for stream in streams:
        print(_summary_line(stream, rate, finished=outcome == "done"))
    return code


def check_broker(kafka: KafkaConfig, topics: list[str]) -> None:
    """Raise `SimulateError` within about 10 s unless the broker answers and has the topics."""
    addresses = [address.strip() for address in kafka.bootstrap.split(",") if address.strip()]
    if not any(_accepts_connections(address) for address in addresses):
        raise SimulateError(
            f"cannot reach the Kafka broker at {kafka.bootstrap} (connection failed); "
            "start the local one with `pulse up`, or set PULSE_KAFKA__BOOTSTRAP"
        )
    logs = _LastLog()  # librdkafka would print every failed attempt; keep the last for the error
    admin = AdminClient({**kafka.client_params(), "logger": logs})
    try:
        metadata = admin.list_topics(timeout=METADATA_TIMEOUT)
    except KafkaException as exc:
        admin.poll(0)  # hands the client's queued log lines to `logs`
        error = exc.args[0] if exc.args else exc
        reason = error.str() if hasattr(error, "str") else str(error)
        detail = f" ({logs.last})" if logs.last else ""
        raise SimulateError(
            f"the Kafka broker at {kafka.bootstrap} does not answer: {reason}{detail}"
        ) from None
    missing = [topic for topic in topics if topic not in metadata.topics]
    if missing:
        raise SimulateError(
            f"topic {', '.join(missing)} does not exist on {kafka.bootstrap}; "
            "create the configured topics with `pulse up`"
        )


def _pace(
    streams: list[_Stream],
    producer: EventProducer,
    rate: float,
    total: int | None,
    progress: bool,
) -> Outcome:
    """Send every stream's due records in bursts until each has sent `total` (None: Ctrl-C)."""
    burst = max(1, int(rate * BURST_SECONDS))
    bar = tqdm(
        total=None if total is None else total * len(streams),
        disable=not progress,
        unit=" events",
        unit_scale=True,
        mininterval=0.5,
        smoothing=0.2,
        desc=streams[0].domain if len(streams) == 1 else "all",
    )
    pacer = Pacer(rate, total)
    outcome: Outcome = "interrupted"
    try:
        while True:
            due = pacer.due()
            for stream in streams:
                if stream.sent < due:
                    count = min(due - stream.sent, burst)
                    stream.send(producer, count)
                    bar.update(count)
                    if stream.sent == total:
                        stream.finished_at = pacer.elapsed()
            if producer.failed:
                print(f"pulse simulate: records failed: {producer.failed[0]}", file=sys.stderr)
                outcome = "failed"
                break
            behind = min(stream.sent for stream in streams)
            if total is not None and behind >= total:
                outcome = "done"
                break
            if behind >= due:
                pacer.wait_for(behind)
    except KeyboardInterrupt:
        outcome = "interrupted"
    finally:
        bar.close()
        for stream in streams:
            stream.finished_at = stream.finished_at or pacer.elapsed()
    return outcome


def _summary_line(stream: _Stream, rate: float, finished: bool) -> str:
    seconds = max(stream.finished_at, 1e-9)
    achieved = stream.sent / seconds
    share = f" ({stream.bad / stream.sent:.1%})" if stream.sent and stream.bad else ""
    # Pacing catches up by itself, so a run that ends below the rate had no CPU to spare.
    lagging = finished and achieved < 0.95 * rate
    note = (
        f" (below the requested {rate:,.0f}/s: this machine could not keep up)" if lagging else ""
    )
    return (
        f"{stream.topic}: {stream.sent:,} events, {stream.bad:,} bad{share}, "
        f"{seconds:.1f} s, {achieved:,.0f} events/s{note}"
    )


class _LastLog:
    """A librdkafka `logger` that keeps only the last line."""

    def __init__(self) -> None:
        self.last = ""

    def log(self, _level: int, message: str, *args: object) -> None:
        self.last = message % args if args else message


def _accepts_connections(address: str) -> bool:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return True  # not host:port; let the Kafka client judge it
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False
