"""Event schemas: one declaration per domain, from which validation and Arrow types derive,
and the one registry of domains (`pulse.events.registry`) every list of domains is read from."""

from pulse.events.domains import schema_for
from pulse.events.registry import (
    SCHEMAS,
    Domain,
    DomainError,
    domain_names,
    domain_of,
    domains,
    register,
    source_domains,
    unregister,
)
from pulse.events.schema import EventSchema, Field, InvalidEvent, example, validate

__all__ = [
    "SCHEMAS",
    "Domain",
    "DomainError",
    "EventSchema",
    "Field",
    "InvalidEvent",
    "domain_names",
    "domain_of",
    "domains",
    "example",
    "register",
    "schema_for",
    "source_domains",
    "unregister",
    "validate",
]
