"""`RecentIds`: the ids of the last N messages, to drop repeats in bounded memory.

Repeats come close together (a replayed chunk, a record relayed twice), so a window of the most
recent ids catches them; an id older than the window would be delivered again, which is why the
window (`gateway.dedupe_window`) is sized for minutes of traffic, not seconds.
"""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """A first-in-first-out set of at most `size` ids."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, message_id: str) -> bool:
        """Whether `message_id` is new; it is remembered either way (a repeat is not moved)."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._ids)
