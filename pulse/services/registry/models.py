"""What the registry API takes and gives: pydantic models, the one place its input rules live,
strict (`extra="forbid"`, no coercion), from which FastAPI derives both the validation and the
OpenAPI document (the rules: "The registry" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from pulse.events.schema import SURROGATE_REASON, encodable

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_INT = 2**31 - 1  # the INT columns' upper bound


def _unicode(text: str) -> str:
    if not encodable(text):
        raise ValueError(SURROGATE_REASON)
    return text


Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_unicode)]
Interest = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_unicode)]
# Gateways are reached over WebSocket, the registry and other services over HTTP.
Url = Annotated[str, StringConstraints(pattern=r"^(https?|wss?)://[^\s/?#]+\S*$", max_length=255)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SubscriberInput(_Input):
    """The body of `PUT /v1/subscribers/{subscriber_id}`."""

    name: Name
    interests: list[Interest] = Field(default_factory=list, max_length=100)


class ClientInput(_Input):
    """The body of `POST /v1/clients`: a viewer of a match asking for a node."""

    client_id: Id
    match_id: Id


class AssignmentInput(_Input):
    """The body of `POST /v1/subscribers/{subscriber_id}/assignment`: the registered client
    that will take the subscriber's game updates (its admission token names both)."""

    client_id: Id


class NodeInput(_Input):
    """The body of `PUT /v1/nodes/{node_id}`: a delivery node registering itself."""

    cluster: Id
    url: Url
    capacity: int = Field(gt=0, le=MAX_INT)


class HeartbeatInput(_Input):
    """The body of `POST /v1/nodes/{node_id}/heartbeat`: the node's connected clients now."""

    connected: int = Field(ge=0, le=MAX_INT)


class Subscriber(BaseModel):
    """A subscriber and the games it follows, sorted."""

    subscriber_id: str
    name: str
    interests: list[str]
    games: list[str]


class Assignment(BaseModel):
    """The delivery node to connect to."""

    node_id: str
    cluster: str
    url: str


class ClientAssignment(Assignment):
    """A client's node, with the client, its match, and the admission token the node checks
    at the handshake (`?token=`; valid for `gateway.admission_token_seconds`)."""

    client_id: str
    match_id: str
    token: str


class InboxUpdate(BaseModel):
    """A game update delivered to a subscriber (node_id null: it had no live node then)."""

    update_id: str
    game_id: str
    node_id: str | None
    title: str
    delivered_at: datetime


class Inbox(BaseModel):
    """Updates oldest first; pass the last one's `delivered_at` and `update_id` as `since` and
    `after` to read on."""

    updates: list[InboxUpdate]


class NodeStatus(BaseModel):
    """A registered node: live when it heartbeated within `streaming.node_heartbeat_seconds`;
    `assigned` clients per the registry, `connected` per its last heartbeat (null: none yet)."""

    node_id: str
    cluster: str
    url: str
    capacity: int
    live: bool
    assigned: int
    connected: int | None


class Nodes(BaseModel):
    """Every registered node, by id."""

    nodes: list[NodeStatus]


class Health(BaseModel):
    """`GET /health`: MySQL answered."""

    status: str


class Problem(BaseModel):
    """Every refusal: a machine-readable `error`, what was wrong, and a sentence."""

    error: str
    message: str
    field: str | None = None
    value: Any = None


def invalid(errors: list[dict[str, Any]]) -> Problem:
    """The 422 answer of pydantic/FastAPI validation errors: the first one, its field named.

    Locations are `("body", "capacity")`, `("path", "node_id")`, `("query", "limit")`; the
    field is what follows the source (`interests.2` for an item of a list), `<body>` when the
    body as a whole is wrong (not JSON, not an object). A missing field, or a body that is not
    JSON, has no value.
    """
    first = errors[0]
    kind = first.get("type")
    where = [str(part) for part in first.get("loc", ())[1:]]
    # A body that is not JSON is located at a character position, not at a field.
    field = "<body>" if kind == "json_invalid" or not where else ".".join(where)
    value = None if kind in ("missing", "json_invalid") else first.get("input")
    if isinstance(value, bytes):  # a body sent with another content type
        value = value.decode("utf-8", "replace")
    return Problem(error="invalid", field=field, value=value, message=f"{field}: {first['msg']}")
