"""`GatewayNode`: one WebSocket delivery node: its connections, its Redis feeds, its fan-out,
and its standing with the registry (a connection's life: "The delivery gateway" in
docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from pulse.config import GatewayConfig
from pulse.services.admission_tokens import AdmissionKey, TokenRefused
from pulse.services.gateway.admission import (
    PATH,
    BadRequest,
    ClientRequest,
    client_request,
    origin_allowed,
)
from pulse.services.gateway.channels import cluster_emoji_channel, match_channel, node_channel
from pulse.services.gateway.dedupe import RecentIds
from pulse.services.gateway.ingest import IngestClient, IngestError
from pulse.services.gateway.listener import ChannelListener
from pulse.services.gateway.messages import MalformedMessage, delivery, kind_of, welcome
from pulse.services.gateway.outbox import Outbox, fan_out
from pulse.services.gateway.registry import RegistryClient, RegistryError
from pulse.services.gateway.roster import Roster
from pulse.services.gateway.viewer import (
    InvalidViewerMessage,
    RateLimit,
    reaction,
    sent,
    viewer_emoji,
)
from pulse.services.gateway.web import PageSite, match_now

log = logging.getLogger("pulse.services.gateway")

FULL = 1013  # try again later
FULL_REASON = "node full: ask the registry for another node"


@dataclass(frozen=True)
class NodeIdentity:
    """Which node this is and where clients reach it."""

    node_id: str
    cluster: str
    url: str


class GatewayNode:
    """The state and behaviour of one node; `server.serve` wires it to sockets and signals."""

    def __init__(
        self,
        identity: NodeIdentity,
        conf: GatewayConfig,
        redis: aioredis.Redis,
        registry: RegistryClient,
        admission: AdmissionKey,
        ingest: IngestClient | None = None,
    ) -> None:
        self.identity = identity
        self._ingest = ingest
        self._admission = admission
        self._site = PageSite(redis, registry, conf.allowed_origins)
        self._conf = conf
        self._registry = registry
        self._roster: Roster[Outbox] = Roster()
        self._seen = RecentIds(conf.dedupe_window)
        self._admitted = 0  # counted at once, so that handshakes in flight cannot overfill
        self._emoji_channel = cluster_emoji_channel(identity.cluster)
        self.listener = ChannelListener(redis, self.on_message)

    @property
    def connected(self) -> int:
        """How many clients are connected now (or being welcomed)."""
        return self._admitted

    def feeds(self) -> tuple[str, ...]:
        """The channels a node follows for its whole life: its game updates and emoji feed."""
        return (node_channel(self.identity.node_id), self._emoji_channel)

    async def check_handshake(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """`process_request` of the server: a plain HTTP request gets the page or its API; a
        socket with a bad target, origin or token is refused before the upgrade."""
        if urlsplit(request.path).path != PATH:
            return await self._site.respond(request)
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, self._conf.allowed_origins):
            return connection.respond(HTTPStatus.FORBIDDEN, f"origin {origin} is not allowed\n")
        try:
            wanted = client_request(request.path)
            self._admission.check(wanted.token, wanted.grant(self.identity.node_id), time.time())
        except (BadRequest, TokenRefused) as exc:
            return connection.respond(HTTPStatus(exc.status), f"{exc}\n")
        return None

    async def handle(self, connection: ServerConnection) -> None:
        """A connection from upgrade to close."""
        assert connection.request is not None  # the handler runs after the handshake
        wanted = client_request(connection.request.path)
        if self.connected >= self._conf.capacity:
            await connection.close(FULL, FULL_REASON)
            return
        self._admitted += 1
        outbox = Outbox(connection, self._conf.send_buffer_bytes)
        try:
            await self.listener.follow(match_channel(wanted.match_id))
            # Read once the node follows the match: a change published from then on is in
            # `present` or comes on the channel (the client keeps the highest sequence). The
            # exception is a change whose message the listener hands out in the instant between
            # this read's answer and the roster entry below: that client sees it with the next.
            present = await match_now(self._site.redis, wanted.match_id)
            # No await between these two: the welcome is the first message the client gets.
            self._roster.add(outbox, wanted.match_id, wanted.subscriber_id)
            outbox.offer(welcome(self.identity.node_id, self.identity.cluster, present))
            try:
                await self._listen(connection, wanted, outbox)
            finally:
                self._roster.remove(outbox, wanted.match_id, wanted.subscriber_id)
                await self.listener.unfollow(match_channel(wanted.match_id))
        finally:
            self._admitted -= 1
            log.debug("client %s of match %s left", wanted.client_id, wanted.match_id)

    async def _listen(
        self, connection: ServerConnection, wanted: ClientRequest, outbox: Outbox
    ) -> None:
        """Take the viewer's emoji until the socket closes: each checked, rate-limited and
        forwarded to the ingest API; the answer (`sent`, or an `error` naming the field) goes
        back on the socket."""
        limit = RateLimit(self._conf.emoji_per_second)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            async for text in connection:
                try:
                    emoji = viewer_emoji(text)
                    if self._ingest is None:
                        raise InvalidViewerMessage(
                            "emoji", emoji, "this node takes no emoji: it has no ingest API key"
                        )
                    if not limit.allow(loop.time()):
                        raise InvalidViewerMessage(
                            "emoji", emoji, f"at most {self._conf.emoji_per_second:g} a second"
                        )
                    body = reaction(wanted.client_id, wanted.match_id, emoji, datetime.now(UTC))
                    outbox.offer(sent(await self._ingest.post_emoji(body)))
                except InvalidViewerMessage as exc:
                    outbox.offer(exc.answer())
                except IngestError as exc:
                    log.warning("an emoji of %s was not forwarded: %s", wanted.client_id, exc)
                    outbox.offer(
                        InvalidViewerMessage(
                            "emoji", None, "the ingest API did not take it"
                        ).answer()
                    )

    def on_message(self, channel: str, data: bytes) -> None:
        """A Redis message: shaped once, repeats dropped, offered to each recipient."""
        kind = kind_of(channel, self._emoji_channel)
        if kind is None:
            return
        try:
            message = delivery(kind, channel, data)
        except MalformedMessage as exc:
            log.warning("skipped a message: %s", exc)
            return
        recipients = self._roster.recipients(message)
        if recipients and self._seen.first_time(message.id):
            fan_out(recipients, message.text)

    async def register(self, patience: float) -> None:
        """Announce the node to the registry, retrying for `patience` seconds while the
        registry does not answer (it may be starting alongside); other errors raise at once."""
        deadline = asyncio.get_running_loop().time() + patience
        while True:
            try:
                await self._registry.register_node(
                    self.identity.node_id,
                    self.identity.cluster,
                    self.identity.url,
                    self._conf.capacity,
                )
                return
            except RegistryError as exc:
                if not exc.retryable or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def leave(self) -> None:
        """Take the node out of the registry, so that no client is sent to it any more."""
        await self._registry.deregister_node(self.identity.node_id)

    async def heartbeat(self) -> None:
        """Heartbeat every `heartbeat_seconds` until cancelled; a registry that forgot the
        node (404) gets it registered again; a failed heartbeat is logged and retried."""
        while True:
            await asyncio.sleep(self._conf.heartbeat_seconds)
            try:
                await self._registry.heartbeat(self.identity.node_id, self.connected)
            except RegistryError as exc:
                if exc.status != 404:
                    log.warning("heartbeat failed: %s", exc)
                    continue
                log.warning("the registry forgot this node; registering it again")
                try:
                    await self.register(patience=0)
                except RegistryError as again:
                    log.warning("registering again failed: %s", again)
