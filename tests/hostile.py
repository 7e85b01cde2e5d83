"""Hostile traffic for the `produced` stores: what a careless or malicious producer sends.

- 10,000 malformed records, every kind of `pulse.simulate.bad` (broken JSON, wrong types,
  missing and unknown fields, invalid UTF-8, empty and oversized values, bad, ancient and future
  timestamps, NUL characters, another domain's events), spread over the five source topics;
- one valid event per domain (the monitoring topic's acks included) whose every free-text field
  is an SQL injection string (ids and keys included), and a subscriber of the game whose id is
  one;
- valid events sent twice (duplicate ids), as a producer's retry does.

Offsets come from the delivery reports, so the tests know each record's origin exactly, as the
dead letters must name it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from pulse.config import PulseConfig
from pulse.events import SCHEMAS, source_domains
from pulse.events.domains import MONITORING
from pulse.events.schema import EventSchema, Field, example, format_timestamp, wire_bytes
from pulse.simulate import GENERATORS
from pulse.simulate.bad import BAD_KINDS, malformed
from pulse.stores import mysql_connect

MALFORMED = 10_000
OVERSIZED = 5  # ~0.9 MB each: enough to prove the path, not enough to dominate the run
DUPLICATED = 50  # per domain

# Each at most 64 characters, the shortest length limit of a free-text field.
INJECTIONS = (
    "'; DROP TABLE events; --",
    '" OR "1"="1',
    "x' OR '1'='1' -- ",
    "1); DELETE FROM products; --",
    "Robert'); DROP TABLE subscribers;--",
    "\\'; TRUNCATE match_scores; --",
    "%' UNION SELECT version() --",
    "$$; DROP TABLE player_stats; $$",
    "*/ DROP TABLE emoji_windows /*",
    "`; DROP TABLE game_deliveries; `",
    "0x27; SHUTDOWN; --",
    "<script>alert('pulse')</script>",
)
INJECTED_SUBSCRIBER = "sub-injection"


@dataclass(frozen=True)
class Sent:
    """One record as produced, with where it landed."""

    domain: str
    kind: str  # a bad kind, "duplicate" or "injection"
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @property
    def origin(self) -> tuple[str, int, int]:
        return self.topic, self.partition, self.offset


@dataclass
class Hostile:
    """What was sent, for the tests to account for."""

    malformed: list[Sent] = field(default_factory=list)
    injected: dict[str, dict[str, Any]] = field(default_factory=dict)  # domain -> event
    duplicated: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def kinds(self) -> set[str]:
        return {sent.kind for sent in self.malformed}


def publish_hostile(conf: PulseConfig, seed: int) -> Hostile:
    """Send the hostile set to `conf`'s source topics; register the injected game's subscriber."""
    rng = random.Random(seed)
    hostile = Hostile()
    producer = Producer(
        {**conf.kafka.client_params(), "linger.ms": 20, "message.max.bytes": 1_000_000}
    )
    delivered: list[Sent] = []

    def send(domain: str, kind: str, key: bytes | None, value: bytes) -> None:
        topic = getattr(conf.topics, domain).name

        def report(error: Any, message: Any) -> None:
            assert error is None, f"{domain} {kind}: {error}"
            delivered.append(
                Sent(domain, kind, topic, message.partition(), message.offset(), key, value)
            )

        producer.produce(topic, value, key, on_delivery=report)
        producer.poll(0)

    templates = {domain: _events(domain, seed) for domain in source_domains()}
    kinds = [kind for kind in BAD_KINDS if kind != "oversized"]
    plan = [("oversized", source_domains()[i % 5]) for i in range(OVERSIZED)]
    plan += [
        (kinds[i % len(kinds)], source_domains()[(i // len(kinds)) % 5])
        for i in range(MALFORMED - OVERSIZED)
    ]
    for kind, domain in plan:
        schema = SCHEMAS[domain]
        event = next(templates[domain])
        send(domain, kind, _key(schema, event), malformed(schema, event, kind, rng))
    for domain in source_domains():
        schema = SCHEMAS[domain]
        hostile.injected[domain] = injected = _injected(schema, next(templates[domain]))
        send(domain, "injection", _key(schema, injected), wire_bytes(injected))
        twice = [next(templates[domain]) for _ in range(DUPLICATED)]
        hostile.duplicated[domain] = twice
        for event in twice + twice:
            send(domain, "duplicate", _key(schema, event), wire_bytes(event))
    ack = {**example(MONITORING), "ts": format_timestamp(datetime.now(UTC))}
    hostile.injected["monitoring"] = injected = _injected(MONITORING, ack)
    send("monitoring", "injection", _key(MONITORING, injected), wire_bytes(injected))
    assert producer.flush(60) == 0, "hostile records not delivered within 60 s"
    hostile.malformed = [sent for sent in delivered if sent.kind in BAD_KINDS]
    _subscribe(conf, hostile.injected["game"][SCHEMAS["game"].key_field])
    return hostile


def _events(domain: str, seed: int) -> Iterator[dict[str, Any]]:
    """Good events of `domain` happening now, with ids of their own (not the simulators')."""
    schema = SCHEMAS[domain]
    for number, event in enumerate(GENERATORS[domain](seed, 1000.0, datetime.now(UTC))):
        yield {**event, schema.id_field: f"hostile-{domain}-{seed}-{number}"}


def _key(schema: EventSchema, event: dict[str, Any]) -> bytes:
    return str(event[schema.key_field]).encode()


def _injected(schema: EventSchema, event: dict[str, Any]) -> dict[str, Any]:
    """`event` with an injection string in every free-text field, nested ones included."""
    strings = itertools.cycle(INJECTIONS)

    def fill(fields: tuple[Field, ...], value: dict[str, Any]) -> dict[str, Any]:
        result = dict(value)
        for spec in fields:
            current = result.get(spec.name)
            if current is None:
                continue
            if spec.kind == "string" and not spec.choices:
                result[spec.name] = next(strings)[: spec.max_length]
            elif spec.kind == "object":
                result[spec.name] = fill(spec.fields, current)
            elif spec.kind == "list" and spec.item == "object":
                result[spec.name] = [fill(spec.fields, item) for item in current]
        return result

    return fill(schema.fields, event)


def _subscribe(conf: PulseConfig, game_id: str) -> None:
    """A subscriber of the game whose id is an injection string, so that its updates reach
    the MySQL inbox (written with parameters here, as everywhere)."""
    conn = mysql_connect(conf.mysql)
    try:
        cur = conn.cursor()
        cur.execute(
            "INSERT INTO subscribers (subscriber_id, name) VALUES (%s, %s)",
            (INJECTED_SUBSCRIBER, INJECTIONS[0]),
        )
        cur.execute(
            "INSERT INTO subscriptions (subscriber_id, game_id) VALUES (%s, %s)",
            (INJECTED_SUBSCRIBER, game_id),
        )
        conn.commit()
    finally:
        conn.close()
