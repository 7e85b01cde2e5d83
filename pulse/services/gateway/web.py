"""The live web page and its small same-origin API, served by every node over plain HTTP on the
node's own port (the `websockets` server answers any request that is not a WebSocket upgrade
through `process_request`).

- `GET /` and the page's files: `page/` of this package, no build step, nothing from a CDN.
- `GET /api/matches`: the matches with a scoreboard in Redis (what the live job keeps).
- `GET /api/scoreboard?match_id=M`: that scoreboard now, so the page does not wait for the next
  change; later changes come on the socket, and the page keeps the highest `sequence`.
- `GET /api/assignment?match_id=M&client_id=C[&subscriber_id=S]`: registers the viewer with the
  registry and answers its node's WebSocket URL (often another node than the one serving the
  page); with a subscriber, that subscriber's node, the only one the live job sends its game
  updates to (as `pulse client --subscriber` does).

Only GET: the server parses nothing else. Refusals are JSON naming the parameter and value.
The page holds no key: the node speaks to the registry and, for emoji, to the ingest API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from pulse.services.gateway.admission import BadRequest, valid_id
from pulse.services.gateway.channels import MATCH_PREFIX
from pulse.services.gateway.registry import RegistryClient, RegistryError

PAGE_FILES = {  # path -> (file in page/, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
MAX_MATCHES = 50
INTEGER_FIELDS = ("home_score", "away_score", "sequence")  # Redis keeps every value as text


def answer(status: int, body: bytes, content_type: str) -> Response:
    """An HTTP answer with its length and type; never cached (the page changes with releases)."""
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
    )
    return Response(status, HTTPStatus(status).phrase, headers, body)


def json_answer(status: int, document: Any) -> Response:
    """`document` as a JSON answer."""
    return answer(status, json.dumps(document).encode(), "application/json")


def scoreboard(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """A Redis scoreboard hash as JSON values: scores and sequence as numbers."""
    board: dict[str, Any] = {key.decode(): value.decode() for key, value in fields.items()}
    for name in INTEGER_FIELDS:
        if name in board:
            board[name] = int(board[name])
    return board


@dataclass(frozen=True)
class PageSite:
    """The page's files and API of one node."""

    redis: aioredis.Redis
    registry: RegistryClient

    async def respond(self, request: Request) -> Response:
        """The answer to a plain HTTP request for `request.path`."""
        parts = urlsplit(request.path)
        try:
            if parts.path in PAGE_FILES:
                name, content_type = PAGE_FILES[parts.path]
                body = resources.files(__package__).joinpath("page", name).read_bytes()
                return answer(200, body, content_type)
            query = parse_qs(parts.query, keep_blank_values=True)
            if parts.path == "/api/matches":
                return json_answer(200, {"matches": await self._matches()})
            if parts.path == "/api/scoreboard":
                return await self._scoreboard(_parameter(query, "match_id"))
            if parts.path == "/api/assignment":
                ids = [_parameter(query, name) for name in ("match_id", "client_id")]
                subscriber = (
                    _parameter(query, "subscriber_id") if "subscriber_id" in query else None
                )
                return await self._assignment(*ids, subscriber)
        except BadRequest as exc:
            return json_answer(exc.status, {"error": "invalid", **exc.details, "message": str(exc)})
        return json_answer(404, {"error": "not_found", "path": parts.path})

    async def _matches(self) -> list[str]:
        found: set[str] = set()
        async for key in self.redis.scan_iter(match=f"{MATCH_PREFIX}*", count=500):
            found.add(key.decode().removeprefix(MATCH_PREFIX))
            if len(found) >= MAX_MATCHES:
                break
        return sorted(found)

    async def _scoreboard(self, match_id: str) -> Response:
        fields = await self.redis.hgetall(f"{MATCH_PREFIX}{match_id}")
        if not fields:
            return json_answer(404, {"error": "no_scoreboard", "match_id": match_id})
        return json_answer(200, {"scoreboard": scoreboard(fields)})

    async def _assignment(
        self, match_id: str, client_id: str, subscriber_id: str | None
    ) -> Response:
        try:
            node = await self.registry.register_client(client_id, match_id)
            if subscriber_id is not None:
                node = await self.registry.subscriber_node(subscriber_id)
        except RegistryError as exc:
            status = 503 if exc.retryable else 502
            return json_answer(status, {"error": "no_node", "message": str(exc)})
        return json_answer(200, {"node_id": node.node_id, "cluster": node.cluster, "url": node.url})


def _parameter(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values:
        raise BadRequest(f"{name} is missing", details={"field": name, "value": None})
    return valid_id(name, values[0])
