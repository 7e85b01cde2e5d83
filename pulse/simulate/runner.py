"""`pulse simulate`: send a domain's generated events to its topic at a steady rate, with a
progress bar and a summary; to Kafka directly or through the ingest API (`--via-api`,
`pulse.simulate.clients`), with the same pacing, records and summary.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Literal, Protocol

from tqdm import tqdm

from pulse.config import PulseConfig
from pulse.events import source_domains
from pulse.interrupts import stop_signals_as_interrupt
from pulse.simulate.clients import ApiClientError, ApiClients, ApiOptions
from pulse.simulate.clock import StartTimeError, parse_start
from pulse.simulate.pacing import Pacer
from pulse.simulate.producer import KafkaDestination, SimulateError, check_broker
from pulse.simulate.records import Record, Send, records

BURST_SECONDS = 0.1  # the most sent in one go when catching up, so the loop stays responsive

Outcome = Literal["done", "interrupted", "failed"]


class Destination(Protocol):
    """Where a run's records go: Kafka (`KafkaDestination`) or the ingest API (`ApiClients`)."""

    assigned_ids: frozenset[str]  # domains whose ids the destination assigns: sent without

    def label(self, domain: str) -> str:
        """Where a domain's records go, for the summary (a topic, a URL)."""
        ...

    def sender(self, domain: str) -> Send:
        """The function that sends one record of `domain`."""
        ...

    def failure(self) -> str | None:
        """Why the run must stop now, or None."""
        ...

    def close(self) -> int:
        """Deliver what is still held; the exit code (0, 1 failed, 130 interrupted)."""
        ...

    def report(self, domain: str, sent: int) -> list[str]:
        """More summary lines for a domain's `sent` records."""
        ...


@dataclass
class _Stream:
    """One domain's records on their way to one destination, and what was sent."""

    domain: str
    label: str
    records: Iterator[Record]
    send_one: Send
    sent: int = 0
    bad: int = 0
    finished_at: float = 0.0  # seconds after the start when its last record was queued

    def send(self, count: int) -> None:
        """Send the next `count` records; the counts stay exact if Ctrl-C cuts a burst short."""
        send_one, sent, bad = self.send_one, 0, 0
        try:
            for key, value, kind in islice(self.records, count):
                send_one(key, value, kind)
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
    via_api: ApiOptions | None = None,
) -> int:
    """Send `rate` events per second per domain (`all`: each source domain) until done or Ctrl-C.

    `start` (ISO-8601, default now) is the event time of the first event: with it fixed, the
    records are the same on every run. `via_api`: through the ingest API's clients instead of
    straight to Kafka. Returns the process exit code.
    """
    domains = source_domains() if domain == "all" else (domain,)
    try:
        first = parse_start(start)
        destination = _destination(conf, domains, via_api)
    except (StartTimeError, SimulateError, ApiClientError) as exc:
        print(f"pulse simulate: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, StartTimeError) else 1
    except KeyboardInterrupt:
        return 130
    streams = [
        _Stream(
            name,
            destination.label(name),
            records(
                name, seed, rate, first, bad_ratio, without_id=name in destination.assigned_ids
            ),
            destination.sender(name),
        )
        for name in domains
    ]
    total = None if duration is None else max(1, round(duration * rate))
    with stop_signals_as_interrupt():
        outcome = _pace(streams, destination, rate, total, progress)
    code = {"done": 0, "failed": 1}.get(outcome, 0 if total is None else 130)
    code = destination.close() or code  # a failed or interrupted delivery decides the code
    for stream in streams:
        slow = "this machine" if via_api is None else "the API or this machine"
        print(_summary_line(stream, rate, finished=outcome == "done", slow=slow))
        for line in destination.report(stream.domain, stream.sent):
            print(line)
    return code


def _destination(
    conf: PulseConfig, domains: tuple[str, ...], via_api: ApiOptions | None
) -> Destination:
    if via_api is not None:
        return ApiClients.connect(conf.ingest, via_api)
    topics = {name: getattr(conf.topics, name).name for name in domains}
    check_broker(conf.kafka, list(topics.values()))
    return KafkaDestination(conf.kafka, topics)


def _pace(
    streams: list[_Stream],
    destination: Destination,
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
                    stream.send(count)
                    bar.update(count)
                    if stream.sent == total:
                        stream.finished_at = pacer.elapsed()
            failure = destination.failure()
            if failure:
                print(f"pulse simulate: {failure}", file=sys.stderr)
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


def _summary_line(stream: _Stream, rate: float, finished: bool, slow: str) -> str:
    seconds = max(stream.finished_at, 1e-9)
    achieved = stream.sent / seconds
    share = f" ({stream.bad / stream.sent:.1%})" if stream.sent and stream.bad else ""
    # Pacing catches up by itself, so a run that ends below the rate had no CPU to spare.
    lagging = finished and achieved < 0.95 * rate
    note = f" (below the requested {rate:,.0f}/s: {slow} could not keep up)" if lagging else ""
    return (
        f"{stream.label}: {stream.sent:,} events, {stream.bad:,} bad{share}, "
        f"{seconds:.1f} s, {achieved:,.0f} events/s{note}"
    )
