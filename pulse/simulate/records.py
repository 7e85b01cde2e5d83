"""Kafka records of a domain: generated events as key and JSON value, some replaced by bad ones."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime

from pulse.events import domain_of, source_domains
from pulse.events.domains import schema_for
from pulse.events.registry import Simulator
from pulse.simulate.bad import choose_kind, malformed

Generator = Simulator

# (key, value, bad kind or None): the kind lets tests and summaries count the bad ones.
Record = tuple[bytes | None, bytes, str | None]
# What a destination sends one record with: (key, value, bad kind or None).
Send = Callable[[bytes | None, bytes, str | None], None]


class _Generators(Mapping[str, Generator]):
    """The simulator of every source domain, by name: a view of the registry
    (`pulse.events.registry`), where each domain names its simulator."""

    def __getitem__(self, domain: str) -> Generator:
        return domain_of(domain).simulate()

    def __iter__(self) -> Iterator[str]:
        return iter(source_domains())

    def __len__(self) -> int:
        return len(source_domains())


GENERATORS: Mapping[str, Generator] = _Generators()

# The wire form `EventProducer.send_event` writes: compact UTF-8 JSON.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def records(
    domain: str,
    seed: int,
    rate: float,
    start: datetime,
    bad_ratio: float = 0.0,
    *,
    without_id: bool = False,
) -> Iterator[Record]:
    """The records a simulator sends; a share `bad_ratio` replaced by malformed ones.

    Which records are bad, and how, depends on the seed alone, so it is reproducible too.
    `without_id` leaves the id field out of every record, good or bad, for a destination that
    assigns ids itself (the ingest API's `POST /v1/emoji`): a bad record is then bad for its own
    reason, not for carrying an id.
    """
    schema = schema_for(domain)
    key_field = schema.key_field
    events = GENERATORS[domain](seed, rate, start)
    if without_id:
        id_field = schema.id_field
        schema = replace(schema, fields=tuple(f for f in schema.fields if f.name != id_field))
        events = ({k: v for k, v in event.items() if k != id_field} for event in events)
    if bad_ratio <= 0:
        for event in events:
            yield event[key_field].encode(), _encode(event).encode(), None
        return
    chance = random.Random(f"bad/{domain}/{seed}")
    draw = chance.random
    for event in events:
        if draw() < bad_ratio:
            kind = choose_kind(chance)
            yield event[key_field].encode(), malformed(schema, event, kind, chance), kind
        else:
            yield event[key_field].encode(), _encode(event).encode(), None
