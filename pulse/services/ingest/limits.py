"""Per-key rate limits of the ingest API: a token bucket of events for each API key.

Why events, not requests: a batch of 5,000 costs Kafka and the jobs 5,000 times what one event
does, so a key's share is counted in what it sends. Why per key: one misbehaving producer (a
retry loop, a load test pointed at production) is slowed down alone, and every other key keeps
its rate. Each key may send `burst` events at once and `rate` a second on average; a request
that would overdraw its bucket takes nothing from it and is told how long to wait.

With several worker processes (`pulse serve ingest --workers N`) each holds its own buckets at
1/N of the rate and burst, which adds up to the configured limit as the kernel spreads
connections evenly over the workers.
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
