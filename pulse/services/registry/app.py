"""The registry API's routes: thin FastAPI handlers over `RegistryStore` and the pure choices,
each `/v1` route behind an `X-API-Key`, every refusal a JSON `Problem` (see "The registry" in
docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from pydantic import AwareDatetime
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from pulse.services.admission_tokens import AdmissionKey, Grant
from pulse.services.auth import HEADER, ApiKeys
from pulse.services.json_input import InvalidJson, decode_json
from pulse.services.registry.assignment import Node, subscriber_node
from pulse.services.registry.models import (
    ID_PATTERN,
    AssignmentInput,
    ClientAssignment,
    ClientInput,
    Health,
    HeartbeatInput,
    Inbox,
    NodeInput,
    Nodes,
    NodeStatus,
    Problem,
    Subscriber,
    SubscriberInput,
    invalid,
)
from pulse.services.registry.store import RegistryStore, SchemaMissing, UnknownId
from pulse.stores import StoreUnavailable

log = logging.getLogger("pulse.services.registry")

# How long a refused client should wait before asking again: about a heartbeat, the time in
# which a node can come back or a new one register.
RETRY_AFTER_SECONDS = 5

SubscriberId = Annotated[str, Path(pattern=ID_PATTERN)]
GameId = Annotated[str, Path(pattern=ID_PATTERN)]
ClientId = Annotated[str, Path(pattern=ID_PATTERN)]
NodeId = Annotated[str, Path(pattern=ID_PATTERN)]

# Declared here, not in `build_app`: FastAPI resolves the routes' annotations in this module's
# namespace. `auto_error=False`: a missing key is refused by `authorised`, as a `Problem`.
API_KEY = APIKeyHeader(name=HEADER, auto_error=False)
_REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem} for status in (401, 404, 422, 503)
}


class Refused(Exception):
    """A request answered with a `Problem` (and headers, e.g. `Retry-After`)."""

    def __init__(self, status: int, problem: Problem, headers: dict[str, str] | None = None):
        super().__init__(problem.message)
        self.status, self.problem, self.headers = status, problem, headers or {}


def problem_response(
    status: int, problem: Problem, headers: dict[str, str] | None = None
) -> Response:
    """A refusal as JSON. ASCII-escaped: a refused value may hold text that is not valid
    Unicode (a lone surrogate), which must still make a valid answer."""
    body: dict[str, Any] = {"error": problem.error}
    if problem.field is not None:
        body |= {"field": problem.field, "value": problem.value}
    body["message"] = problem.message
    return Response(
        json.dumps(body, ensure_ascii=True, default=str),
        status,
        headers,
        media_type="application/json",
    )


class CheckedRequest(Request):
    """A request whose JSON body is decoded once, by the services' shared decoder (bounded
    nesting and integers, valid Unicode text), instead of FastAPI's `json.loads`."""

    async def json(self) -> Any:
        """The body's document, or `InvalidJson` naming the field."""
        if not hasattr(self, "_document"):
            self._document = decode_json(await self.body())
        return self._document


class CheckedJsonRoute(APIRoute):
    """A route whose body is decoded before FastAPI sees it: a refused body is a 422 `Problem`
    naming the field (FastAPI would turn the decoder's error into a bare 400)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, given a `CheckedRequest` whose body was decoded already."""
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            request = CheckedRequest(request.scope, request.receive)
            try:
                body = await request.body()
            except ClientDisconnect:  # closed before its body was whole (`http.body_seconds`)
                problem = Problem(error="incomplete_body", message="the body did not arrive")
                return problem_response(400, problem)  # written to no one
            if body:
                try:
                    await request.json()
                except InvalidJson as exc:
                    problem = Problem(
                        error="invalid", field=exc.field, value=exc.value, message=str(exc)
                    )
                    return problem_response(422, problem)
            return await handler(request)

        return checked


def _no_node(error: str, message: str) -> Refused:
    return Refused(
        503, Problem(error=error, message=message), {"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


@dataclass(frozen=True)
class TokenIssuer:
    """Admission tokens for the clients the registry assigns, valid for `seconds`."""

    key: AdmissionKey
    seconds: float

    def assignment(self, grant: Grant, node: Node) -> ClientAssignment:
        """The answer naming `node` for `grant`'s client, with its token."""
        expires = int(time.time() + self.seconds)
        return ClientAssignment(
            client_id=grant.client_id,
            match_id=grant.match_id,
            node_id=node.node_id,
            cluster=node.cluster,
            url=node.url,
            token=self.key.issue(grant, expires),
        )


def build_app(store: RegistryStore, keys: ApiKeys, tokens: TokenIssuer) -> FastAPI:
    """The application, over `store`, letting in requests that carry one of `keys` and signing
    the assignments it gives with `tokens`."""
    app = FastAPI(
        title="Pulse registry",
        version="1",
        summary="Subscribers, clients and delivery nodes of Pulse's delivery tier.",
    )

    def authorised(key: Annotated[str | None, Security(API_KEY)]) -> None:
        if not keys.allows(key):
            raise Refused(
                401,
                Problem(error="unauthorized", message=f"a valid {HEADER} header is required"),
            )

    v1 = APIRouter(
        prefix="/v1",
        dependencies=[Security(authorised)],
        responses=_REFUSALS,
        route_class=CheckedJsonRoute,
    )

    @v1.put("/subscribers/{subscriber_id}", responses={201: {"model": Subscriber}})
    def put_subscriber(
        subscriber_id: SubscriberId, body: SubscriberInput, response: Response
    ) -> Subscriber:
        """Register a subscriber, or replace its name and interests (201 when new)."""
        subscriber, created = store.put_subscriber(subscriber_id, body.name, body.interests)
        response.status_code = 201 if created else 200
        return subscriber

    @v1.get("/subscribers/{subscriber_id}")
    def get_subscriber(subscriber_id: SubscriberId) -> Subscriber:
        """A subscriber, its interests and the games it follows."""
        return store.subscriber(subscriber_id)

    @v1.delete("/subscribers/{subscriber_id}", status_code=204, response_class=Response)
    def delete_subscriber(subscriber_id: SubscriberId) -> None:
        """Remove a subscriber and its subscriptions; its inbox rows stay."""
        store.delete_subscriber(subscriber_id)

    @v1.put(
        "/subscribers/{subscriber_id}/subscriptions/{game_id}",
        status_code=204,
        response_class=Response,
    )
    def subscribe(subscriber_id: SubscriberId, game_id: GameId) -> None:
        """Follow a game's updates."""
        store.subscribe(subscriber_id, game_id)

    @v1.delete(
        "/subscribers/{subscriber_id}/subscriptions/{game_id}",
        status_code=204,
        response_class=Response,
    )
    def unsubscribe(subscriber_id: SubscriberId, game_id: GameId) -> None:
        """Stop following a game."""
        store.unsubscribe(subscriber_id, game_id)

    @v1.post("/subscribers/{subscriber_id}/assignment")
    def subscriber_assignment(
        subscriber_id: SubscriberId, body: AssignmentInput
    ) -> ClientAssignment:
        """The node the live job sends this subscriber's game updates to, as it would now, with
        a token that lets the registered client `client_id` in there to take them."""
        store.subscriber(subscriber_id)  # 404 for an unknown subscriber
        match_id = store.client_match(body.client_id)  # 404 for a client never registered
        node = subscriber_node(subscriber_id, store.live_nodes())
        if node is None:
            raise _no_node("no_live_node", "no delivery node is live")
        grant = Grant(
            client_id=body.client_id,
            match_id=match_id,
            subscriber_id=subscriber_id,
            node_id=node.node_id,
        )
        return tokens.assignment(grant, node)

    @v1.get("/subscribers/{subscriber_id}/inbox")
    def inbox(
        subscriber_id: SubscriberId,
        since: Annotated[AwareDatetime | None, Query()] = None,
        after: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Inbox:
        """The game updates delivered to the subscriber after `since`, oldest first."""
        if after is not None and since is None:
            raise Refused(
                422,
                Problem(
                    error="invalid",
                    field="after",
                    value=after,
                    message="after: an update id continues from `since`, which is missing",
                ),
            )
        return Inbox(updates=store.inbox(subscriber_id, since, after, limit))

    @v1.post("/clients")
    def register_client(body: ClientInput) -> ClientAssignment:
        """Register (or re-register) a viewer of a match and assign it a node with room."""
        match_id, node = store.assign_client(body.client_id, body.match_id)
        return _client_answer(tokens, body.client_id, match_id, node)

    @v1.post("/clients/{client_id}/assignment")
    def client_assignment(client_id: ClientId) -> ClientAssignment:
        """The client's node, chosen again now (after its node died, say), with a new token."""
        return _client_answer(tokens, client_id, *store.assign_client(client_id))

    @v1.delete("/clients/{client_id}", status_code=204, response_class=Response)
    def delete_client(client_id: ClientId) -> None:
        """Forget a client, freeing its place."""
        store.delete_client(client_id)

    @v1.put("/nodes/{node_id}")
    def put_node(node_id: NodeId, body: NodeInput) -> NodeStatus:
        """Register or update a delivery node; it is live from now."""
        status = store.put_node(Node(node_id, body.cluster, body.url, body.capacity))
        log.info(
            "node %s registered: cluster %s, %s, capacity %d",
            node_id,
            body.cluster,
            body.url,
            body.capacity,
        )
        return status

    @v1.post("/nodes/{node_id}/heartbeat", status_code=204, response_class=Response)
    def heartbeat(node_id: NodeId, body: HeartbeatInput) -> None:
        """The node is alive, with this many connected clients."""
        store.heartbeat(node_id, body.connected)

    @v1.delete("/nodes/{node_id}", status_code=204, response_class=Response)
    def delete_node(node_id: NodeId) -> None:
        """Deregister a node: no longer live, its clients unassigned."""
        store.delete_node(node_id)
        log.info("node %s deregistered", node_id)

    @v1.get("/nodes")
    def nodes() -> Nodes:
        """Every registered node, live or not, with its load."""
        return Nodes(nodes=store.nodes())

    @app.get("/health", responses={503: {"model": Problem}})
    def health() -> Health:
        """Whether the registry and its MySQL answer (no key needed)."""
        store.check()
        return Health(status="ok")

    app.include_router(v1)
    _add_refusal_handlers(app)
    return app


def _client_answer(
    tokens: TokenIssuer, client_id: str, match_id: str, node: Node | None
) -> ClientAssignment:
    if node is None:
        log.warning("client %s (match %s): no live node has room", client_id, match_id)
        raise _no_node("no_capacity", "every live delivery node is full, or none is live")
    grant = Grant(client_id=client_id, match_id=match_id, subscriber_id=None, node_id=node.node_id)
    return tokens.assignment(grant, node)


def _add_refusal_handlers(app: FastAPI) -> None:
    """Every error becomes a `Problem` answer."""

    @app.exception_handler(Refused)
    def refused(_request: Request, exc: Refused) -> Response:
        return problem_response(exc.status, exc.problem, exc.headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        return problem_response(422, invalid(list(exc.errors())))

    @app.exception_handler(UnknownId)
    def unknown(_request: Request, exc: UnknownId) -> Response:
        problem = Problem(
            error="not_found", field=f"{exc.kind}_id", value=exc.value, message=str(exc)
        )
        return problem_response(404, problem)

    @app.exception_handler(StoreUnavailable)
    def unavailable(_request: Request, exc: StoreUnavailable) -> Response:
        log.error("%s", exc)
        problem = Problem(error="mysql_unavailable", message=str(exc))
        return problem_response(503, problem, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.exception_handler(SchemaMissing)
    def not_migrated(_request: Request, exc: SchemaMissing) -> Response:
        log.error("%s", exc)
        return problem_response(503, Problem(error="mysql_schema_missing", message=str(exc)))

    @app.exception_handler(HTTPException)
    def http_error(_request: Request, exc: HTTPException) -> Response:
        # Starlette's own refusals: an unknown path (404), a wrong method (405, with Allow).
        error = "not_found" if exc.status_code == 404 else f"http_{exc.status_code}"
        return problem_response(
            exc.status_code, Problem(error=error, message=str(exc.detail)), dict(exc.headers or {})
        )
