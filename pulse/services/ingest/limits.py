"""Per-key rate limits of the ingest API: a token bucket of events for each API key (why events
and why per key: "The ingest API" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class KeyRateLimits:
    """Token buckets by key label; `take` is the only question asked of them."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"rate and burst must be positive (got {rate}, {burst})")
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, events: int) -> float:
        """Take `events` from `key`'s bucket: 0.0 when they fit, else the seconds until they
        would (nothing taken); `math.inf` when they never can (more than the burst)."""
        if events > self.burst:
            return math.inf
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= events:
            bucket.tokens -= events
            return 0.0
        return (events - bucket.tokens) / self.rate
