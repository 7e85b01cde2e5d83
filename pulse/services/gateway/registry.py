"""`RegistryClient`: the registry API as the delivery tier uses it (nodes report themselves,
clients ask for their node).

Its calls are few (a node's registration and a heartbeat every few seconds; a client's
registration and, after a lost connection, its new assignment), so each is one request with
the standard library's `http.client`, run in a worker thread to keep the event loop free; no
HTTP client library is added for them.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

KEY_HEADER = "X-API-Key"


class RegistryError(RuntimeError):
    """The registry answered a request with an error; `status` is 0 when it did not answer."""

    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        super().__init__(f"registry {method} {path}: {status or 'no answer'}: {detail}")
        self.status = status

    @property
    def retryable(self) -> bool:
        """Whether asking again later may succeed: no answer, or 503 (no live node, no room)."""
        return self.status in (0, 503)


@dataclass(frozen=True)
class NodeAddress:
    """A delivery node the registry chose, and where to reach it."""

    node_id: str
    cluster: str
    url: str

    @classmethod
    def from_answer(cls, body: dict[str, Any]) -> NodeAddress:
        """From the JSON of a client's or a subscriber's assignment."""
        return cls(**{name: str(body[name]) for name in cls.__dataclass_fields__})


class RegistryClient:
    """The registry at `base_url` (`registry.url`), with an API key."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 5.0) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._key = api_key
        self._timeout = timeout

    async def register_node(self, node_id: str, cluster: str, url: str, capacity: int) -> None:
        """Announce a node (and its first heartbeat)."""
        body = {"cluster": cluster, "url": url, "capacity": capacity}
        await self._call("PUT", f"/v1/nodes/{quote(node_id, safe='')}", body)

    async def heartbeat(self, node_id: str, connected: int) -> None:
        """Tell the registry a node is alive and how many clients it holds."""
        path = f"/v1/nodes/{quote(node_id, safe='')}/heartbeat"
        await self._call("POST", path, {"connected": connected})

    async def deregister_node(self, node_id: str) -> None:
        """Take a node out of the assignments (a graceful stop)."""
        await self._call("DELETE", f"/v1/nodes/{quote(node_id, safe='')}")

    async def register_client(self, client_id: str, match_id: str) -> NodeAddress:
        """Register a viewer of a match; the answer is its node."""
        body = {"client_id": client_id, "match_id": match_id}
        return NodeAddress.from_answer(await self._call("POST", "/v1/clients", body))

    async def assignment(self, client_id: str) -> NodeAddress:
        """A registered client's node, chosen again among the live nodes (after a lost node)."""
        path = f"/v1/clients/{quote(client_id, safe='')}/assignment"
        return NodeAddress.from_answer(await self._call("GET", path))

    async def subscriber_node(self, subscriber_id: str) -> NodeAddress:
        """The node the live job sends a subscriber's game updates to."""
        path = f"/v1/subscribers/{quote(subscriber_id, safe='')}/assignment"
        return NodeAddress.from_answer(await self._call("GET", path))

    async def deregister_client(self, client_id: str) -> None:
        """Forget a client that is leaving."""
        await self._call("DELETE", f"/v1/clients/{quote(client_id, safe='')}")

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        return await asyncio.to_thread(self._request, method, self._prefix + path, body)

    def _request(self, method: str, path: str, body: Any) -> Any:
        """One request on a fresh connection: the JSON answer, None for an empty one."""
        headers = {"Content-Type": "application/json"}
        if self._key is not None:
            headers[KEY_HEADER] = self._key
        factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = factory(self._netloc, timeout=self._timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as exc:
            raise RegistryError(method, path, 0, str(exc) or type(exc).__name__) from None
        finally:
            connection.close()
        if response.status >= 400:
            raise RegistryError(method, path, response.status, data.decode(errors="replace"))
        return json.loads(data) if data else None
