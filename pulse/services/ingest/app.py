"""The ingest API's routes: authenticate, bound the body, validate, hand to the producer, 202.

Every refusal is a `Rejected` (or an `InvalidRequest`, 422) turned into a JSON answer in one
place, where it is also counted by reason. Requests are counted by route template by a small
ASGI middleware, so that product ids in paths do not make new metric series.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulse.config import PulseConfig
from pulse.events.domains import EMOJI, PRODUCT, SCHEMAS
from pulse.services.ingest.auth import HEADER, ApiKeys
from pulse.services.ingest.metrics import CONTENT_TYPE, IngestMetrics, render
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

EMOJI_ID_PREFIX = "er"
UNMATCHED = "<unmatched>"  # the route label of requests no route matched


class Producer(Protocol):
    """What the routes need of the producer (`IngestProducer`; a fake in tests)."""

    @property
    def depth(self) -> int:
        """Events accepted and not yet acknowledged."""
        ...

    def start(self) -> None:
        """Begin sending."""

    def submit(self, records: Sequence[Outgoing]) -> None:
        """Take all records or raise `QueueFull` / `ProducerClosed`."""

    def close(self) -> int:
        """Send what is held; return the accepted events that could not be delivered."""
        ...


@dataclass(frozen=True)
class AppSettings:
    """What the routes need of the configuration."""

    topics: Mapping[str, str]  # domain -> topic
    max_body_bytes: int
    max_queue: int

    @classmethod
    def from_config(cls, conf: PulseConfig) -> AppSettings:
        """Topics of every domain that has a schema, and the `ingest` limits."""
        all_topics = conf.topics.all()
        return cls(
            topics={domain: all_topics[domain].name for domain in SCHEMAS},
            max_body_bytes=conf.ingest.max_body_bytes,
            max_queue=conf.ingest.max_queue,
        )


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


def create_app(
    settings: AppSettings, keys: ApiKeys, producer: Producer, metrics: IngestMetrics
) -> FastAPI:
    """The ASGI application; it starts the producer on start-up and drains it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer.start()
        app.state.lost = 0
        try:
            yield
        finally:
            # After uvicorn has answered every request in flight: everything 202'd is held.
            app.state.lost = await anyio.to_thread.run_sync(producer.close)

    app = FastAPI(
        title="Pulse ingest API",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(CountRequests, metrics=metrics)

    @app.exception_handler(Rejected)
    async def rejected(_request: Request, exc: Rejected) -> JSONResponse:
        metrics.rejected(exc.reason)
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(InvalidRequest)
    async def invalid(_request: Request, exc: InvalidRequest) -> JSONResponse:
        metrics.rejected("invalid")
        return JSONResponse(exc.answer(), status_code=422)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "queue_depth": producer.depth, "max_queue": settings.max_queue}

    @app.get("/metrics")
    async def metrics_text() -> Response:
        return Response(render(metrics.snapshot(producer.depth)), media_type=CONTENT_TYPE)

    async def require_key(request: Request) -> None:  # async: no thread hop per request
        if not keys.allows(request.headers.get(HEADER)):
            raise Rejected(401, "unauthorized", f"a valid {HEADER} header is required")

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)])

    async def body_of(request: Request) -> Any:
        return parse_json(await read_body(request, settings.max_body_bytes))

    def accept(domain: str, records: Sequence[Outgoing]) -> None:
        try:
            producer.submit(records)
        except QueueFull as exc:
            raise Rejected(
                503, "queue_full", str(exc), {"Retry-After": str(exc.retry_after)}
            ) from None
        except ProducerClosed as exc:
            raise Rejected(503, "stopping", str(exc), {"Retry-After": "1"}) from None
        metrics.accepted(domain, len(records))

    def schema_of(domain: str) -> Any:
        if domain not in SCHEMAS:
            raise Rejected(
                404,
                "unknown_domain",
                f"unknown domain {domain!r}; known: {', '.join(SCHEMAS)}",
                domain=domain,
            )
        return SCHEMAS[domain]

    def ack_wanted(domain: str) -> bool:
        return domain != "monitoring"  # no acks of acks

    @v1.post("/emoji", status_code=202)
    async def post_emoji(request: Request) -> dict[str, str]:
        event = emoji_event(await body_of(request), new_event_id(EMOJI_ID_PREFIX))
        record = outgoing(EMOJI, event, settings.topics["emoji"], ack=True)
        accept("emoji", [record])
        return {"event_id": record.event_id}

    # Before `/events/{domain}`, whose `{domain}` would otherwise take `emoji:batch` whole.
    @v1.post("/events/{domain}:batch", status_code=202)
    async def post_batch(domain: str, request: Request) -> dict[str, Any]:
        schema = schema_of(domain)
        events = checked_batch(schema, await body_of(request))
        topic, ack = settings.topics[domain], ack_wanted(domain)
        records = [outgoing(schema, event, topic, ack) for event in events]
        accept(domain, records)
        return {"accepted": len(records), "event_ids": [record.event_id for record in records]}

    @v1.post("/events/{domain}", status_code=202)
    async def post_event(domain: str, request: Request) -> dict[str, str]:
        schema = schema_of(domain)
        event = checked(schema, await body_of(request))
        record = outgoing(schema, event, settings.topics[domain], ack_wanted(domain))
        accept(domain, [record])
        return {"event_id": record.event_id}

    @v1.post("/products/{product_id}", status_code=202)
    async def post_product(product_id: str, request: Request) -> dict[str, str]:
        event = product_change(product_id, await body_of(request))
        record = outgoing(PRODUCT, event, settings.topics["product"], ack=True)
        accept("product", [record])
        return {"event_id": record.event_id}

    app.include_router(v1)
    return app


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to pass `limit` bytes.

    `Content-Length` is trusted to refuse early, but the stream is counted as well: a chunked
    body has no length, and a lying one must not get past the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> Rejected:
    return Rejected(
        413,
        "too_large",
        f"the body has more than {limit} bytes (got at least {size})",
        max_body_bytes=limit,
    )


class CountRequests:
    """ASGI middleware: one `requests_total` count per answered request, by route and status."""

    def __init__(self, app: ASGIApp, metrics: IngestMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; count it when it is answered (500 if it failed unanswered)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            self.metrics.request(getattr(route, "path", None) or UNMATCHED, status)
