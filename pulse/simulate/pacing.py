"""Pacing a producer to a rate: how many events are due by now, and how long to sleep.

Event `i` is due at `started + i / rate`, so a loop that fell behind sends everything due at
once and is back on schedule (docs/ARCHITECTURE.md, "Simulating traffic")."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """The schedule of `rate` events per second, at most `total` of them (None: no end)."""

    def __init__(
        self,
        rate: float,
        total: int | None = None,
        *,
        min_sleep: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be greater than 0, got {rate}")
        self.rate, self.total, self.min_sleep = rate, total, min_sleep
        self._clock, self._sleep = clock, sleep
        self.started = clock()

    def due(self) -> int:
        """How many events should have been sent by now (event 0 is due at once)."""
        count = int((self._clock() - self.started) * self.rate) + 1
        return count if self.total is None else min(count, self.total)

    def elapsed(self) -> float:
        """Seconds since the schedule started."""
        return self._clock() - self.started

    def wait_for(self, index: int) -> None:
        """Sleep until event `index` is due; no sleep if it already is."""
        delay = self.started + index / self.rate - self._clock()
        if delay > 0:
            self._sleep(max(delay, self.min_sleep))
