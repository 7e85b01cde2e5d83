"""Rendezvous (highest random weight) hashing: which delivery node serves a subscriber, the same
answer in the Spark driver, the registry and the gateways from the same node list (why: "The
registry" in docs/ARCHITECTURE.md). It must not import Spark; the hash is blake2b, never Python's
`hash()`, which is salted per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence


def weight(node: str, key: str) -> int:
    """The stable 64-bit weight of `node` for `key` (the same in every process and version)."""
    digest = hashlib.blake2b(f"{node}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rank_nodes(key: str, nodes: Iterable[str]) -> list[str]:
    """`nodes` from most to least preferred for `key`; repeats are ignored.

    A 64-bit weight tie is practically impossible; the node id breaks it anyway so the order
    never depends on the order the nodes were listed in.
    """
    return sorted(set(nodes), key=lambda node: (weight(node, key), node), reverse=True)


def rendezvous_node(key: str, nodes: Sequence[str]) -> str | None:
    """The node of highest weight for `key`, or None when there is no node."""
    if not nodes:
        return None
    return max(set(nodes), key=lambda node: (weight(node, key), node))


def assign_with_capacity(
    keys: Iterable[str],
    nodes: Mapping[str, int],
    load: Mapping[str, int] | None = None,
) -> dict[str, str | None]:
    """Each key's highest-ranked node that still has room; None when every node is full.

    `nodes` maps node id to capacity, `load` to what each already carries (absent: 0). Keys are
    placed in sorted order, so the result depends on the set of keys, not on how they were
    listed; a repeated key is placed once. While no node is full this is exactly
    `rendezvous_node`; a full node spills its extra keys to each key's next choice.
    """
    room = {node: capacity - (load or {}).get(node, 0) for node, capacity in nodes.items()}
    placed: dict[str, str | None] = {}
    for key in sorted(set(keys)):
        chosen = next((node for node in rank_nodes(key, room) if room[node] > 0), None)
        if chosen is not None:
            room[chosen] -= 1
        placed[key] = chosen
    return placed
