"""Which delivery node serves a subscriber or a client: pure choices over the live nodes, through
`pulse.routing` as the live job, so the registry names the node the job publishes to.
Subscribers get plain rendezvous hashing, exactly as the job routes their game updates;
clients get their first-ranked node that still has room, so a full node spills newcomers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pulse.routing import assign_with_capacity, rendezvous_node


@dataclass(frozen=True)
class Node:
    """A delivery node as assignments see it."""

    node_id: str
    cluster: str
    url: str
    capacity: int


def subscriber_node(subscriber_id: str, live: Sequence[Node]) -> Node | None:
    """The node the live job routes `subscriber_id`'s game updates to; None with no live node."""
    chosen = rendezvous_node(subscriber_id, [node.node_id for node in live])
    return next((node for node in live if node.node_id == chosen), None)


def client_node(client_id: str, live: Sequence[Node], load: Mapping[str, int]) -> Node | None:
    """The first node in `client_id`'s rendezvous ranking whose `load` (clients assigned to it,
    not counting this one) is below its capacity; None when every live node is full."""
    capacities = {node.node_id: node.capacity for node in live}
    chosen = assign_with_capacity([client_id], capacities, load)[client_id]
    return next((node for node in live if node.node_id == chosen), None)
