"""The registry of domains: the one list every other list of domains is read from."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice

import pytest

from pulse.events import (
    SCHEMAS,
    Domain,
    DomainError,
    domain_names,
    domains,
    register,
    source_domains,
    unregister,
    validate,
)
from pulse.events.domains import EMOJI


def test_the_five_source_domains_and_monitoring_are_registered() -> None:
    assert source_domains() == ("game", "sports", "emoji", "product", "media")
    assert domain_names() == (*source_domains(), "monitoring")
    assert list(SCHEMAS) == list(domain_names())


@pytest.mark.parametrize("domain", [d for d in domains() if d.is_source], ids=lambda d: d.name)
def test_each_simulator_named_in_the_registry_makes_valid_events(domain: Domain) -> None:
    assert domain.simulated_rate > 0
    for event in islice(domain.simulate()(1, 100.0, datetime.now(UTC)), 50):
        validate(domain.schema, event)


def test_a_name_registers_once() -> None:
    with pytest.raises(DomainError, match="'emoji' is registered already"):
        register(Domain(EMOJI))


def test_an_unknown_domain_is_named_with_the_known_ones() -> None:
    with pytest.raises(DomainError, match=r"unknown domain 'toy'; known: game, sports"):
        unregister("toy")


def test_the_schemas_are_a_view_of_the_registry() -> None:
    toy = register(Domain(replace(EMOJI, domain="toy")))
    try:
        assert SCHEMAS["toy"] is toy.schema and "toy" not in source_domains()
    finally:
        unregister("toy")
    assert "toy" not in SCHEMAS
