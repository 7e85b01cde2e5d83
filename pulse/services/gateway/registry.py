"""`RegistryClient`: the registry API as the delivery tier uses it (nodes report themselves,
clients ask for their node); its calls are few, so each is one request with `JsonApi`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pulse.services.gateway.json_api import ApiError, JsonApi


class RegistryError(ApiError):
    """The registry answered a request with an error; `status` is 0 when it did not answer."""

    service = "registry"


@dataclass(frozen=True)
class NodeAddress:
    """A delivery node the registry chose, where to reach it, and the token that lets the
    client in there."""

    node_id: str
    cluster: str
    url: str
    token: str

    @classmethod
    def from_answer(cls, body: dict[str, Any]) -> NodeAddress:
        """From the JSON of a client's or a subscriber's assignment."""
        return cls(**{name: str(body[name]) for name in cls.__dataclass_fields__})


class RegistryClient(JsonApi):
    """The registry at `base_url` (`registry.url`), with an API key."""

    error = RegistryError

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
        return NodeAddress.from_answer(await self._call("POST", path))

    async def subscriber_node(self, subscriber_id: str, client_id: str) -> NodeAddress:
        """The node the live job sends a subscriber's game updates to, with a token for the
        registered client `client_id` to take them there."""
        path = f"/v1/subscribers/{quote(subscriber_id, safe='')}/assignment"
        return NodeAddress.from_answer(await self._call("POST", path, {"client_id": client_id}))

    async def deregister_client(self, client_id: str) -> None:
        """Forget a client that is leaving."""
        await self._call("DELETE", f"/v1/clients/{quote(client_id, safe='')}")
