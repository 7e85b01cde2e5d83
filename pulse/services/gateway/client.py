"""`GatewayClient`: a viewer that registers, connects to its node and follows it when it moves,
used by `pulse client`, the tests and the load tests, so that they all behave as a real viewer
(see "The delivery gateway" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, WebSocketException

from pulse.config import PulseConfig
from pulse.services.gateway.registry import NodeAddress, RegistryClient, RegistryError

log = logging.getLogger("pulse.services.gateway.client")

RETRY_SECONDS = 0.5
OPEN_TIMEOUT = 5.0


class ClientGaveUp(RuntimeError):
    """No node took the client for `patience` seconds; says what failed last."""


class GatewayClient:
    """A client of one match (and optionally the game updates of one subscriber)."""

    def __init__(
        self,
        registry: RegistryClient,
        match_id: str,
        client_id: str,
        subscriber_id: str | None = None,
        patience: float = 60.0,
    ) -> None:
        self.registry = registry
        self.match_id = match_id
        self.client_id = client_id
        self.subscriber_id = subscriber_id
        self.patience = patience
        self.registered = False
        self.node: NodeAddress | None = None  # the node it is (or was last) connected to
        self.connections = 0  # how many times it has connected (1 + reconnections)

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Every message from the client's node, across reconnections, until the caller stops."""
        self.node = await self._locate()
        while True:
            try:
                async with connect(
                    self._url(self.node), compression=None, open_timeout=OPEN_TIMEOUT
                ) as connection:
                    self.connections += 1
                    async for text in connection:
                        yield json.loads(text)
                    log.info(
                        "client %s: node %s closed the connection (%s)",
                        self.client_id,
                        self.node.node_id,
                        connection.close_code,
                    )
            except (OSError, TimeoutError, InvalidHandshake, WebSocketException) as exc:
                log.info("client %s: lost node %s: %s", self.client_id, self.node.node_id, exc)
                await asyncio.sleep(RETRY_SECONDS)
            self.node = await self._locate()

    async def leave(self) -> None:
        """Deregister the client (it is not coming back)."""
        await self.registry.deregister_client(self.client_id)

    async def _locate(self) -> NodeAddress:
        """Register (the first time) or ask for the client's node; for a subscriber's client,
        its subscriber's node."""
        if self.registered:
            node = await self._ask(lambda: self.registry.assignment(self.client_id))
        else:
            node = await self._ask(
                lambda: self.registry.register_client(self.client_id, self.match_id)
            )
            self.registered = True
        subscriber = self.subscriber_id
        if subscriber is None:
            return node
        return await self._ask(lambda: self.registry.subscriber_node(subscriber, self.client_id))

    def _url(self, node: NodeAddress) -> str:
        params = {"client_id": self.client_id, "match_id": self.match_id}
        if self.subscriber_id is not None:
            params["subscriber_id"] = self.subscriber_id
        params["token"] = node.token
        return f"{node.url}?{urlencode(params)}"

    async def _ask(self, call: Callable[[], Awaitable[NodeAddress]]) -> NodeAddress:
        """`call()` until it gives an assignment; a retryable refusal (no answer, 503) is
        asked again until `patience` runs out."""
        deadline = asyncio.get_running_loop().time() + self.patience
        while True:
            try:
                return await call()
            except RegistryError as exc:
                if not exc.retryable or asyncio.get_running_loop().time() > deadline:
                    raise ClientGaveUp(f"client {self.client_id}: {exc}") from None
                await asyncio.sleep(RETRY_SECONDS)


async def print_stream(client: GatewayClient, count: int | None, seconds: float | None) -> None:
    """Print each message as one JSON line until `count` messages (the `welcome` of each
    connection not counted) or `seconds` have passed; then deregister the client."""
    printed = 0
    try:
        async with asyncio.timeout(seconds):
            async for message in client.messages():
                print(json.dumps(message, ensure_ascii=False), flush=True)
                if message.get("type") != "welcome":
                    printed += 1
                if count is not None and printed >= count:
                    break
    except TimeoutError:
        pass  # --seconds is up: the normal end of a timed run
    finally:
        if client.registered:
            await client.leave()


def run_client(
    conf: PulseConfig,
    match_id: str,
    client_id: str,
    subscriber_id: str | None,
    count: int | None,
    seconds: float | None,
) -> int:
    """`pulse client`: the exit code (1 when the registry or the nodes would not take it)."""
    key = conf.gateway.registry_key
    registry = RegistryClient(conf.registry.url, key.get_secret_value() if key else None)
    client = GatewayClient(registry, match_id, client_id, subscriber_id)
    try:
        asyncio.run(print_stream(client, count, seconds))
    except (ClientGaveUp, RegistryError) as exc:
        print(f"pulse client: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
