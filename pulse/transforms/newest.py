"""The newest event per key in one batch of decoded events (dicts), deterministically: sinks
upsert by key, so a batch carries one row per key, the newest by the caller's order, ties
broken by the whole event's JSON text, so that a replay, or any arrival order, keeps the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Event = Mapping[str, Any]


def newest(events: Iterable[Event], *, key: str, order: Callable[[Event], Any]) -> dict[str, Event]:
    """The newest event of each `key` value by `order`, as {key value: event}, sorted by key.

    >>> newest([{"id": "a", "v": 1}, {"id": "a", "v": 2}], key="id", order=lambda e: e["v"])
    {'a': {'id': 'a', 'v': 2}}
    """
    kept: dict[str, tuple[Any, str, Event]] = {}
    for event in events:
        rank = (order(event), json.dumps(event, sort_keys=True, default=str))
        held = kept.get(event[key])
        if held is None or rank > held[:2]:
            kept[event[key]] = (*rank, event)
    return {k: kept[k][2] for k in sorted(kept)}
