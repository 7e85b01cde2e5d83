"""Request bodies to valid events, or an `InvalidRequest` naming the field and the value.

Pure functions of bytes and parsed JSON, apart from HTTP, so that every rule of the API is
unit-tested without a server; `app.py` only maps `InvalidRequest` to a 422 answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pulse.events.domains import EMOJI, PRODUCT
from pulse.events.schema import EventSchema, InvalidEvent, validate
from pulse.services.json_input import BODY, InvalidJson, decode_json


class InvalidRequest(ValueError):
    """A request body that cannot become events; names the field, the value and the item index."""

    def __init__(self, field: str, value: Any, message: str, index: int | None = None) -> None:
        self.field, self.value, self.message, self.index = field, value, message, index
        where = "" if index is None else f"item {index}: "
        super().__init__(where + message)

    @classmethod
    def from_event(cls, error: InvalidEvent, index: int | None = None) -> InvalidRequest:
        """The request-level form of a schema violation."""
        return cls(error.field, error.value, str(error), index)

    def answer(self) -> dict[str, Any]:
        """The JSON body of the 422 answer."""
        body: dict[str, Any] = {"error": "invalid", "field": self.field, "value": self.value}
        if self.index is not None:
            body["index"] = self.index
        body["message"] = str(self)
        return body


def parse_json(raw: bytes) -> Any:
    """The JSON document of a body, checked by the services' shared decoder (strict UTF-8, no
    NaN or Infinity, bounded nesting and integers, valid Unicode text)."""
    try:
        return decode_json(raw, BODY)
    except InvalidJson as exc:
        raise InvalidRequest(exc.field, exc.value, str(exc)) from None


def emoji_event(body: Any, event_id: str) -> dict[str, Any]:
    """An emoji reaction as clients send it (no `event_id`), with the id the API assigns."""
    if not isinstance(body, dict):
        raise InvalidRequest(BODY, body, "the body must be a JSON object")
    if EMOJI.id_field in body:
        raise InvalidRequest(
            EMOJI.id_field, body[EMOJI.id_field], f"'{EMOJI.id_field}' is assigned by the API"
        )
    return checked(EMOJI, {EMOJI.id_field: event_id, **body})


def checked(schema: EventSchema, body: Any, index: int | None = None) -> dict[str, Any]:
    """The event if it matches its domain's schema; else `InvalidRequest` naming field and value."""
    try:
        return validate(schema, body, received_at=datetime.now(UTC))
    except InvalidEvent as exc:
        raise InvalidRequest.from_event(exc, index) from None


def checked_batch(schema: EventSchema, body: Any) -> list[dict[str, Any]]:
    """Every event of a batch, or `InvalidRequest` for the first bad one (all or nothing)."""
    if not isinstance(body, list):
        raise InvalidRequest(BODY, body, "a batch must be a JSON list of events")
    if not body:
        raise InvalidRequest(BODY, body, "a batch must hold at least one event")
    return [checked(schema, event, index) for index, event in enumerate(body)]


def product_change(product_id: str, body: Any) -> dict[str, Any]:
    """A product change posted to `/v1/products/{product_id}`: the body must name that product."""
    event = checked(PRODUCT, body)
    if event[PRODUCT.key_field] != product_id:
        raise InvalidRequest(
            PRODUCT.key_field,
            event[PRODUCT.key_field],
            f"'{PRODUCT.key_field}' must equal the product id of the path ({product_id!r})",
        )
    return event
