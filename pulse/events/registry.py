"""The one registry of Pulse's domains, from which every list of domains is read (the schemas
the ingest API and the lake accept, the topics the config requires, the simulators of `pulse
simulate` and `pulse run`); "Adding a domain" in docs/ARCHITECTURE.md."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pulse.events.schema import EventSchema

# A simulator: (seed, events per second, first event time) -> the domain's events, in order.
Simulator = Callable[[int, float, datetime], Iterator[dict[str, Any]]]


class DomainError(KeyError):
    """An unknown domain, or a second one of a name; names it and the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Domain:
    """One domain: its event schema, its simulator (`"module:function"`, imported when first
    used so that the schemas never import the simulators, or the function itself; None for
    Pulse's own `monitoring`, which no outside system sends) and the events per second
    `pulse run` simulates. Its topic is the configuration's `topics.<name>`."""

    schema: EventSchema
    simulator: str | Simulator | None = None
    simulated_rate: float = 0.0

    @property
    def name(self) -> str:
        """The domain's name: its schema's, its route's (`/v1/events/<name>`), its topic key's."""
        return self.schema.domain

    @property
    def is_source(self) -> bool:
        """Whether an outside system sends it (it has a simulator)."""
        return self.simulator is not None

    def simulate(self) -> Simulator:
        """The simulator function; `DomainError` when the domain has none."""
        if self.simulator is None:
            raise DomainError(f"domain {self.name!r} has no simulator")
        if callable(self.simulator):
            return self.simulator
        module, _, function = self.simulator.partition(":")
        simulator: Simulator = getattr(importlib.import_module(module), function)
        return simulator


_DOMAINS: dict[str, Domain] = {}


def register(domain: Domain) -> Domain:
    """Add `domain` to the registry (a name registers once); returns it.

    >>> from pulse.events.schema import EventSchema, Field
    >>> toy = Domain(EventSchema("toy", (Field("id", "string", "t-1"),
    ...                                  Field("ts", "timestamp", "2026-01-02T00:00:00.000Z")),
    ...                          id_field="id", time_field="ts", key_field="id"))
    >>> register(toy).name, "toy" in domain_names()
    ('toy', True)
    >>> unregister("toy"); "toy" in domain_names()
    False
    """
    if domain.name in _DOMAINS:
        raise DomainError(f"domain {domain.name!r} is registered already")
    _DOMAINS[domain.name] = domain
    return domain


def unregister(name: str) -> None:
    """Remove domain `name` (a test's toy domain, when the test ends)."""
    domain_of(name)
    del _DOMAINS[name]


def domain_of(name: str) -> Domain:
    """The registered domain `name`; `DomainError` listing the known ones otherwise."""
    try:
        return _DOMAINS[name]
    except KeyError:
        raise DomainError(f"unknown domain {name!r}; known: {', '.join(_DOMAINS)}") from None


def domains() -> tuple[Domain, ...]:
    """Every registered domain, in registration order."""
    return tuple(_DOMAINS.values())


def domain_names() -> tuple[str, ...]:
    """The names of every registered domain (each one a key of the configuration's `topics`)."""
    return tuple(_DOMAINS)


def source_domains() -> tuple[str, ...]:
    """The domains outside systems send (those with a simulator), in registration order."""
    return tuple(name for name, domain in _DOMAINS.items() if domain.is_source)


class _Schemas(Mapping[str, EventSchema]):
    """The schema of every registered domain by name: a view of the registry, never a copy."""

    def __getitem__(self, name: str) -> EventSchema:
        return _DOMAINS[name].schema

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_DOMAINS))

    def __len__(self) -> int:
        return len(_DOMAINS)

    def __repr__(self) -> str:
        return f"SCHEMAS({', '.join(_DOMAINS)})"


SCHEMAS: Mapping[str, EventSchema] = _Schemas()
