"""The ingest API as a plain ASGI application: authenticate, bound the body, validate, hand to
the producer, answer 202 (why no web framework: "The ingest API" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pulse.config import PulseConfig
from pulse.events import SCHEMAS
from pulse.events.domains import EMOJI, PRODUCT
from pulse.events.schema import EventSchema, compact_json
from pulse.services.auth import HEADER, ApiKeys
from pulse.services.ingest.limits import KeyRateLimits
from pulse.services.ingest.metrics import CONTENT_TYPE, IngestMetrics, render
from pulse.services.ingest.openapi import openapi_document
from pulse.services.ingest.producer import ProducerClosed, QueueFull
from pulse.services.ingest.records import Outgoing, new_event_id, outgoing
from pulse.services.ingest.requests import (
    InvalidRequest,
    checked,
    checked_batch,
    emoji_event,
    parse_json,
    product_change,
)

log = logging.getLogger("pulse.services.ingest")

EMOJI_ID_PREFIX = "er"
UNMATCHED = "<unmatched>"  # the route label of requests no route matched
JSON = "application/json"

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Route template -> the method it answers. Templates are also the `path` label of the metrics.
ROUTES: dict[str, str] = {
    "/health": "GET",
    "/metrics": "GET",
    "/openapi.json": "GET",
    "/v1/emoji": "POST",
    "/v1/events/{domain}": "POST",
    "/v1/events/{domain}:batch": "POST",
    "/v1/products/{product_id}": "POST",
}
_BATCH_SUFFIX = ":batch"
_HEADER_NAME = HEADER.lower().encode()


class Producer(Protocol):
    """What the routes need of the producer (`IngestProducer`)."""

    @property
    def depth(self) -> int:
        """Events accepted and not yet acknowledged."""
        ...

    def start(self) -> None:
        """Begin sending, from tasks on the running event loop."""

    def submit(self, records: Sequence[Outgoing]) -> None:
        """Take all records or raise `QueueFull` / `ProducerClosed`."""

    async def close(self) -> int:
        """Send what is held; return the accepted events that could not be delivered."""
        ...


@dataclass(frozen=True)
class AppSettings:
    """What the routes need of the configuration."""

    topics: Mapping[str, str]  # domain -> topic
    max_body_bytes: int
    max_queue: int
    rate_per_key: float  # events a second each key may send, on average ...
    burst_per_key: int  # ... and at once

    @classmethod
    def from_config(cls, conf: PulseConfig, share: float = 1.0) -> AppSettings:
        """Topics of every domain that has a schema, and the `ingest` limits; `share` is this
        process's part of the per-key rate limits (1/N of N workers)."""
        all_topics = conf.topics.all()
        return cls(
            topics={domain: all_topics[domain].name for domain in SCHEMAS},
            max_body_bytes=conf.ingest.max_body_bytes,
            max_queue=conf.ingest.max_queue,
            rate_per_key=conf.ingest.rate_limit_events_per_second * share,
            burst_per_key=max(1, math.floor(conf.ingest.rate_limit_burst_events * share)),
        )


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, sent whole."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: Mapping[str, str] | None = None

    @classmethod
    def json(cls, status: int, document: Any, headers: Mapping[str, str] | None = None) -> Answer:
        """`document` as compact UTF-8 JSON."""
        return cls(status, compact_json(document), JSON, headers)

    async def send(self, send: Send) -> None:
        """Write the answer to the ASGI `send`."""
        headers = [
            (b"content-type", self.content_type.encode()),
            (b"content-length", str(len(self.body)).encode()),
        ]
        headers += [
            (name.lower().encode(), value.encode()) for name, value in (self.headers or {}).items()
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class Rejected(Exception):
    """A refused request: its status, the reason it is counted under, its JSON body, headers."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.headers = status, reason, dict(headers or {})
        self.body = {"error": reason, **details, "message": message}

    def answer(self) -> Answer:
        """The JSON answer of the refusal."""
        return Answer.json(self.status, self.body, self.headers)


class _Disconnected(Exception):
    """The client left before its body was read: there is no one to answer."""


def match_route(path: str) -> tuple[str, dict[str, str]] | None:
    """The route template `path` belongs to and its parameters; None when no route matches."""
    if path in ROUTES:
        return path, {}
    parent, _, last = path.rpartition("/")
    if not last:
        return None
    if parent == "/v1/events":
        if last.endswith(_BATCH_SUFFIX):
            return "/v1/events/{domain}:batch", {"domain": last[: -len(_BATCH_SUFFIX)]}
        return "/v1/events/{domain}", {"domain": last}
    if parent == "/v1/products":
        return "/v1/products/{product_id}", {"product_id": last}
    return None


class IngestApp:
    """The ASGI application; it starts the producer on start-up and drains it on shutdown.

    `lost` holds, after the shutdown, how many accepted events could not be delivered.
    """

    def __init__(
        self, settings: AppSettings, keys: ApiKeys, producer: Producer, metrics: IngestMetrics
    ) -> None:
        self._settings, self._keys = settings, keys
        self._producer, self._metrics = producer, metrics
        self._limits = KeyRateLimits(settings.rate_per_key, settings.burst_per_key)
        self._openapi = Answer.json(200, openapi_document())  # made once: it never changes
        self.lost = 0
        self._handlers: dict[str, Callable[[bytes, dict[str, str], str], Answer]] = {
            "/v1/emoji": self._post_emoji,
            "/v1/events/{domain}": self._post_event,
            "/v1/events/{domain}:batch": self._post_batch,
            "/v1/products/{product_id}": self._post_product,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request or the lifespan; nothing else (websockets) is served."""
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._producer.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # After uvicorn has answered every request in flight: everything 202'd is held.
                self.lost = await self._producer.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = match_route(scope["path"])
        template = route[0] if route else UNMATCHED
        try:
            answer = await self._answer(scope, receive, route)
        except Rejected as exc:
            self._metrics.rejected(exc.reason)
            answer = exc.answer()
        except InvalidRequest as exc:
            self._metrics.rejected("invalid")
            answer = Answer.json(422, exc.answer())
        except _Disconnected:
            return
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            answer = Answer.json(500, {"error": "internal", "message": "the request failed"})
        await answer.send(send)
        self._metrics.request(template, answer.status)

    async def _answer(
        self, scope: Scope, receive: Receive, route: tuple[str, dict[str, str]] | None
    ) -> Answer:
        if route is None:
            raise Rejected(404, "not_found", f"no route {scope['path']!r}", path=scope["path"])
        template, params = route
        method = ROUTES[template]
        if scope["method"] != method:
            raise Rejected(
                405,
                "method_not_allowed",
                f"{template} answers {method} only",
                {"Allow": method},
                method=scope["method"],
            )
        if template == "/health":
            depth = self._producer.depth
            return Answer.json(
                200, {"status": "ok", "queue_depth": depth, "max_queue": self._settings.max_queue}
            )
        if template == "/openapi.json":
            return self._openapi
        if template == "/metrics":
            snapshot = self._metrics.snapshot(self._producer.depth)
            return Answer(200, render(snapshot).encode(), CONTENT_TYPE)
        key = self._keys.match(_header(scope, _HEADER_NAME))
        if key is None:
            raise Rejected(401, "unauthorized", f"a valid {HEADER} header is required")
        body = await read_body(scope, receive, self._settings.max_body_bytes)
        return self._handlers[template](body, params, key)

    def _post_emoji(self, body: bytes, _params: dict[str, str], key: str) -> Answer:
        event = emoji_event(parse_json(body), new_event_id(EMOJI_ID_PREFIX))
        record = outgoing(EMOJI, event, self._settings.topics["emoji"], ack=True)
        self._accept("emoji", [record], key)
        return Answer.json(202, {"event_id": record.event_id})

    def _post_event(self, body: bytes, params: dict[str, str], key: str) -> Answer:
        domain = params["domain"]
        schema = _schema_of(domain)
        event = checked(schema, parse_json(body))
        record = outgoing(schema, event, self._settings.topics[domain], _ack_wanted(domain))
        self._accept(domain, [record], key)
        return Answer.json(202, {"event_id": record.event_id})

    def _post_batch(self, body: bytes, params: dict[str, str], key: str) -> Answer:
        domain = params["domain"]
        schema = _schema_of(domain)
        events = checked_batch(schema, parse_json(body))
        topic, ack = self._settings.topics[domain], _ack_wanted(domain)
        records = [outgoing(schema, event, topic, ack) for event in events]
        self._accept(domain, records, key)
        return Answer.json(
            202, {"accepted": len(records), "event_ids": [record.event_id for record in records]}
        )

    def _post_product(self, body: bytes, params: dict[str, str], key: str) -> Answer:
        event = product_change(params["product_id"], parse_json(body))
        record = outgoing(PRODUCT, event, self._settings.topics["product"], ack=True)
        self._accept("product", [record], key)
        return Answer.json(202, {"event_id": record.event_id})

    def _accept(self, domain: str, records: Sequence[Outgoing], key: str) -> None:
        self._within_rate(key, len(records))
        try:
            self._producer.submit(records)
        except QueueFull as exc:
            raise Rejected(
                503, "queue_full", str(exc), {"Retry-After": str(exc.retry_after)}
            ) from None
        except ProducerClosed as exc:
            raise Rejected(503, "stopping", str(exc), {"Retry-After": "1"}) from None
        self._metrics.accepted(domain, len(records))

    def _within_rate(self, key: str, events: int) -> None:
        """Refuse, taking nothing, what would overdraw `key`'s bucket: 429 and when to retry,
        or 413 for a batch larger than the burst, which waiting would never let through."""
        wait = self._limits.take(key, events)
        if wait == 0.0:
            return
        limit: dict[str, Any] = {
            "key": key,
            "limit_events_per_second": self._limits.rate,
            "burst_events": self._limits.burst,
        }
        if math.isinf(wait):
            raise Rejected(
                413,
                "over_burst",
                f"a batch of {events} events is more than {key} may send at once "
                f"({self._limits.burst}); send smaller batches",
                events=events,
                **limit,
            )
        raise Rejected(
            429,
            "rate_limited",
            f"{key} sends more than {self._limits.rate:g} events a second; retry after "
            f"{wait:.2f} s",
            {"Retry-After": str(math.ceil(wait))},
            retry_after_seconds=round(wait, 3),
            **limit,
        )


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to pass `limit` bytes.

    `Content-Length` is trusted to refuse early, but the stream is counted as well: a chunked
    body has no length, and a lying one must not get past the limit.
    """
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case, as ASGI servers give them), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _schema_of(domain: str) -> EventSchema:
    if domain not in SCHEMAS:
        raise Rejected(
            404,
            "unknown_domain",
            f"unknown domain {domain!r}; known: {', '.join(SCHEMAS)}",
            domain=domain,
        )
    return SCHEMAS[domain]


def _ack_wanted(domain: str) -> bool:
    return domain != "monitoring"  # no acks of acks


def _too_large(size: int, limit: int) -> Rejected:
    return Rejected(
        413,
        "too_large",
        f"the body has more than {limit} bytes (got at least {size})",
        max_body_bytes=limit,
    )
