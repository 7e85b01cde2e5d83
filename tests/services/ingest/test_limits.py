"""Per-key token buckets: a key sends its burst at once and its rate on average, alone."""

from __future__ import annotations

import math

from pulse.services.ingest.limits import KeyRateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_key_sends_its_burst_then_waits_for_its_rate() -> None:
    clock = Clock()
    limits = KeyRateLimits(rate=10, burst=20, clock=clock)

    assert limits.take("a", 20) == 0.0
    assert limits.take("a", 5) == 0.5  # 5 events at 10/s
    clock.now += 0.5
    assert limits.take("a", 5) == 0.0
    assert limits.take("a", 1) == 0.1


def test_a_refused_request_takes_nothing() -> None:
    clock = Clock()
    limits = KeyRateLimits(rate=10, burst=10, clock=clock)
    limits.take("a", 8)

    assert limits.take("a", 5) > 0
    assert limits.take("a", 2) == 0.0  # the refused 5 left the 2 that were there


def test_each_key_has_its_own_bucket() -> None:
    limits = KeyRateLimits(rate=1, burst=3, clock=Clock())
    limits.take("a", 3)

    assert limits.take("a", 1) > 0
    assert limits.take("b", 3) == 0.0


def test_idle_time_refills_up_to_the_burst_only() -> None:
    clock = Clock()
    limits = KeyRateLimits(rate=100, burst=50, clock=clock)
    limits.take("a", 50)
    clock.now += 3600

    assert limits.take("a", 50) == 0.0
    assert limits.take("a", 1) > 0


def test_more_than_the_burst_can_never_pass() -> None:
    assert math.isinf(KeyRateLimits(rate=10, burst=10, clock=Clock()).take("a", 11))
