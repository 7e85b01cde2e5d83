"""Weighted draws for the generators' hot loops: one `random()` and one bisection per draw."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import accumulate


def cumulative(weights: Iterable[float]) -> tuple[float, ...]:
    """Cumulative probabilities for `bisect_right(bounds, random())`.

    The last bound is infinite: float sums can fall short of 1.0, and a draw must always land.
    """
    weights = tuple(weights)
    total = sum(weights)
    bounds = [*accumulate(weight / total for weight in weights)]
    bounds[-1] = float("inf")
    return tuple(bounds)
