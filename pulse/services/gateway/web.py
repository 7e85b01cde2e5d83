"""The live web page and its small same-origin API (`/api/matches`, `/api/scoreboard`,
`/api/assignment`), served by every node on its own port through the `websockets` server's
`process_request`; the routes are described in "The live page" in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from pulse.livestate import EMOJI, MATCH, key, pattern, prefix
from pulse.services.gateway.admission import BadRequest, origin_allowed, valid_id
from pulse.services.gateway.registry import RegistryClient, RegistryError

PAGE_FILES = {  # path -> (file in page/, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
MAX_MATCHES = 50
MATCHES_CACHE_SECONDS = 5.0  # every open page asks again; one SCAN per node per 5 s serves all
LISTED_FIELDS = ("home_team", "away_team", "status", "updated_at")
INTEGER_FIELDS = ("home_score", "away_score", "sequence")  # Redis keeps every value as text


ASSIGNMENT = "/api/assignment"  # the one POST


def answer(
    status: int, body: bytes, content_type: str, extra: Sequence[tuple[str, str]] = ()
) -> Response:
    """An HTTP answer with its length and type; never cached (the page changes with releases)."""
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *extra,
        ]
    )
    return Response(status, HTTPStatus(status).phrase, headers, body)


def json_answer(status: int, document: Any, extra: Sequence[tuple[str, str]] = ()) -> Response:
    """`document` as a JSON answer."""
    return answer(status, json.dumps(document).encode(), "application/json", extra)


def scoreboard(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """A Redis scoreboard hash as JSON values: scores and sequence as numbers."""
    board: dict[str, Any] = {key.decode(): value.decode() for key, value in fields.items()}
    for name in INTEGER_FIELDS:
        if name in board:
            board[name] = int(board[name])
    return board


def top_emojis(fields: dict[bytes, bytes]) -> dict[str, Any] | None:
    """A Redis top-emoji hash (`top`: JSON text the live job wrote) as its window and its list
    of rank, emoji, count and units; None if the list is not readable."""
    try:
        top = json.loads(fields.get(b"top", b""))
    except ValueError:
        return None
    if not isinstance(top, list):
        return None
    return {"window_start": fields.get(b"window_start", b"").decode(), "top": top}


async def match_now(redis: aioredis.Redis, match_id: str) -> dict[str, Any]:
    """What a viewer joining `match_id` is shown first: its scoreboard and the top emojis of its
    latest window as the live job last wrote them, each None while there is none yet."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(key(MATCH, match_id=match_id))
        pipe.hgetall(key(EMOJI, match_id=match_id))
        board, top = await pipe.execute()
    return {
        "match_id": match_id,
        "scoreboard": scoreboard(board) if board else None,
        "emojis": top_emojis(top) if top else None,
    }


@dataclass
class PageSite:
    """The page's files and API of one node."""

    redis: aioredis.Redis
    registry: RegistryClient
    allowed_origins: Sequence[str] = ()
    _listed: tuple[float, list[dict[str, str]]] = field(default=(-MATCHES_CACHE_SECONDS, []))

    async def respond(self, request: Request) -> Response:
        """The answer to a plain HTTP request for `request.path`."""
        parts = urlsplit(request.path)
        method = "POST" if parts.path == ASSIGNMENT else "GET"
        if request.method != method:
            return json_answer(
                405,
                {"error": "method_not_allowed", "message": f"{parts.path} takes {method} only"},
                [("Allow", method)],
            )
        try:
            if parts.path in PAGE_FILES:
                name, content_type = PAGE_FILES[parts.path]
                body = resources.files(__package__).joinpath("page", name).read_bytes()
                return answer(200, body, content_type)
            query = parse_qs(parts.query, keep_blank_values=True)
            if parts.path == "/api/matches":
                return json_answer(200, {"matches": await self._matches()})
            if parts.path == "/api/scoreboard":
                return json_answer(200, await match_now(self.redis, _parameter(query, "match_id")))
            if parts.path == ASSIGNMENT:
                origin = request.headers.get("Origin")
                if not origin_allowed(origin, self.allowed_origins):
                    raise BadRequest(f"origin {origin} is not allowed", status=403)
                match_id = _parameter(query, "match_id")
                client_id = _parameter(query, "client_id")
                subscriber = (
                    _parameter(query, "subscriber_id") if "subscriber_id" in query else None
                )
                return await self._assignment(match_id, client_id, subscriber)
        except BadRequest as exc:
            return json_answer(exc.status, {"error": "invalid", **exc.details, "message": str(exc)})
        return json_answer(404, {"error": "not_found", "path": parts.path})

    async def _matches(self) -> list[dict[str, str]]:
        """The `MAX_MATCHES` most recently updated matches. Redis keeps every match a run ever
        scored (and tests' ones), so the newest are picked from all, not the first found."""
        now = time.monotonic()
        listed_at, listed = self._listed
        if now - listed_at < MATCHES_CACHE_SECONDS:
            return listed
        # SCAN may name a key twice: each match once.
        ids = list(
            dict.fromkeys(
                [
                    found.decode().removeprefix(prefix(MATCH))
                    async for found in self.redis.scan_iter(match=pattern(MATCH), count=1000)
                ]
            )
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            for match_id in ids:
                pipe.hmget(key(MATCH, match_id=match_id), LISTED_FIELDS)
            values = await pipe.execute()
        matches = [
            {"match_id": match_id, **_decoded(LISTED_FIELDS, row)}
            for match_id, row in zip(ids, values, strict=True)
        ]
        matches.sort(key=lambda match: match["updated_at"], reverse=True)
        self._listed = (now, matches[:MAX_MATCHES])
        return self._listed[1]

    async def _assignment(
        self, match_id: str, client_id: str, subscriber_id: str | None
    ) -> Response:
        try:
            node = await self.registry.register_client(client_id, match_id)
            if subscriber_id is not None:
                node = await self.registry.subscriber_node(subscriber_id, client_id)
        except RegistryError as exc:
            status = 503 if exc.retryable else 502
            return json_answer(status, {"error": "no_node", "message": str(exc)})
        return json_answer(200, asdict(node))


def _decoded(names: tuple[str, ...], values: list[bytes | None]) -> dict[str, str]:
    return {name: (value or b"").decode() for name, value in zip(names, values, strict=True)}


def _parameter(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values:
        raise BadRequest(f"{name} is missing", details={"field": name, "value": None})
    return valid_id(name, values[0])
