"""Event schemas: one declaration per domain, from which validation and Arrow types derive."""

from pulse.events.domains import SCHEMAS, SOURCE_DOMAINS, schema_for
from pulse.events.schema import EventSchema, Field, InvalidEvent, example, validate

__all__ = [
    "SCHEMAS",
    "SOURCE_DOMAINS",
    "EventSchema",
    "Field",
    "InvalidEvent",
    "example",
    "schema_for",
    "validate",
]
