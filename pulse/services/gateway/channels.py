"""The Redis channels of the delivery tier, named in one place.

`match:{id}` (the same as the scoreboard's key) and `node:{id}` are named in `pulse.livestate`
and written by the live job; `cluster:{c}:emoji` by the cluster publisher of cluster `c`, which
relays the live job's `emoji.aggregated` topic.
"""

from __future__ import annotations

from pulse import livestate

MATCH_PREFIX = livestate.prefix(livestate.MATCH)
NODE_PREFIX = livestate.prefix(livestate.NODE_CHANNEL)


def match_channel(match_id: str) -> str:
    """Where the live job publishes the scoreboard changes of a match."""
    return livestate.key(livestate.MATCH, match_id=match_id)


def node_channel(node_id: str) -> str:
    """Where the live job publishes the game updates routed to a delivery node."""
    return livestate.key(livestate.NODE_CHANNEL, node_id=node_id)


def cluster_emoji_channel(cluster: str) -> str:
    """Where a cluster's publisher relays the emoji units of every match."""
    return f"cluster:{cluster}:emoji"
