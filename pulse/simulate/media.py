"""Multimedia events: views, plays, pauses, likes, shares and uploads by a population of users.

The population (`u-00000` ... and each user's device) and the content catalogue (`c-00000` ...
and each item's duration) do not depend on the seed, so that a user-segment dimension table
written once matches every run. Quality follows the device (TVs stream 4K, phones rarely do).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import Any

from pulse.simulate.clock import EventClock, id_prefix
from pulse.simulate.draws import cumulative

USERS = 20_000
CONTENT = 5_000

_TYPES = ("view", "play", "pause", "like", "share", "upload")
_TYPE_WEIGHTS = (40, 25, 15, 10, 6, 4)
_DEVICES = ("mobile", "tablet", "desktop", "tv")
_DEVICE_WEIGHTS = (50, 12, 23, 15)
_QUALITY = {
    "mobile": {"240p": 5, "360p": 20, "480p": 30, "720p": 40, "1080p": 5},
    "tablet": {"480p": 20, "720p": 50, "1080p": 30},
    "desktop": {"480p": 10, "720p": 30, "1080p": 50, "2160p": 10},
    "tv": {"720p": 10, "1080p": 50, "2160p": 40},
}


def media_events(seed: int, rate: float, start: datetime) -> Iterator[dict[str, Any]]:
    """Media events in the seed format `{id, timestamp, type, user, metadata}`."""
    clock = EventClock(start, rate)
    draw = random.Random(f"media/{seed}").random
    prefix = id_prefix("me", seed, start)
    users, devices, durations = _population()
    types = cumulative(_TYPE_WEIGHTS)
    qualities = {device: (tuple(mix), cumulative(mix.values())) for device, mix in _QUALITY.items()}
    index = 0
    while True:
        us = clock.micros(index)
        user = int(draw() * USERS)
        content = int(draw() ** 3 * CONTENT)  # a long tail: a few items get most plays
        device = devices[user]
        names, bounds = qualities[device]
        yield {
            "id": f"{prefix}{index}",
            "timestamp": clock.stamp(us),
            "type": _TYPES[bisect_right(types, draw())],
            "user": users[user],
            "metadata": {
                "quality": names[bisect_right(bounds, draw())],
                "device": device,
                "duration_ms": durations[content],
                "content_id": f"c-{content:05d}",
            },
        }
        index += 1


def user_ids() -> tuple[str, ...]:
    """Every user the media simulator can name, e.g. to fill the user-segment dimension."""
    return _population()[0]


@cache
def _population() -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    """User ids, each user's device, each content item's duration: fixed for every seed."""
    rng = random.Random("media/population")
    users = tuple(f"u-{number:05d}" for number in range(USERS))
    devices = tuple(rng.choices(_DEVICES, weights=_DEVICE_WEIGHTS, k=USERS))
    durations = tuple(rng.randint(15, 3_600) * 1000 for _ in range(CONTENT))
    return users, devices, durations
