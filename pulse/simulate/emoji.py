"""Emoji reactions of viewers during the live matches of `matches.Fixtures`: a storm of 🔥 and 🎉
after each goal, at an unchanged total rate (docs/ARCHITECTURE.md, "Simulating traffic")."""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import Any

from pulse.events.domains import EMOJIS
from pulse.simulate.clock import EventClock, id_prefix
from pulse.simulate.draws import cumulative
from pulse.simulate.matches import Fixtures, Match

TICK_US = 250_000
STORM_SECONDS = 8.0  # how long a goal's storm lasts
STORM_FULL_SECONDS = 3.0  # at full strength, then it fades linearly
STORM_SHARE = 0.8  # share of all reactions that go to storming matches at full strength
USERS = 50_000
VIEWERS_PER_MATCH = 6_000  # a match's reactions come from its own crowd of users

NORMAL_MIX = {
    "🔥": 10, "👏": 18, "😂": 12, "😮": 10, "😢": 6, "❤️": 12, "🎉": 6, "🏏": 2, "⚽": 14, "💯": 10,
}  # fmt: skip
STORM_MIX = {"🔥": 40, "🎉": 30, "⚽": 12, "💯": 10, "👏": 8}

# (match id, emojis, their cumulative probabilities, first user of the match's crowd)
_Option = tuple[str, tuple[str, ...], tuple[float, ...], int]


def emoji_events(seed: int, rate: float, start: datetime) -> Iterator[dict[str, Any]]:
    """Reactions to the seed's matches, event `i` at `start + i / rate`."""
    clock = EventClock(start, rate)
    fixtures = Fixtures(seed)
    draw = random.Random(f"emoji/{seed}").random
    users = _users()
    prefix = id_prefix("er", seed, start)
    start_us, step_us, stamp = clock.start_us, clock.step_us, clock.stamp
    options: list[_Option] = []
    bounds: tuple[float, ...] = ()
    next_tick = -1
    index = 0
    while True:
        us = start_us + int(index * step_us)
        if us >= next_tick:
            tick = us // TICK_US
            next_tick = (tick + 1) * TICK_US
            options, bounds = reaction_mix(fixtures, tick * TICK_US / 1_000_000)
        match_id, emojis, weights, crowd = options[bisect_right(bounds, draw())]
        yield {
            "event_id": f"{prefix}{index}",
            "user_id": users[(crowd + int(draw() * VIEWERS_PER_MATCH)) % USERS],
            "match_id": match_id,
            "emoji": emojis[bisect_right(weights, draw())],
            "ts": stamp(us),
        }
        index += 1


def reaction_mix(fixtures: Fixtures, t: float) -> tuple[list[_Option], tuple[float, ...]]:
    """Who reacts to what at epoch second `t`: options and their cumulative probabilities."""
    on = [(match, match.status_at(t)) for match in fixtures.matches_at(t)]
    # Half time still draws reactions, fewer.
    weights = {"live": 1.0, "break": 0.3}
    base = [(match, match.popularity * weights[s]) for match, s in on if s in weights]
    if not base:  # the staggered slots never all pause at once; stay total anyway
        base = [(match, match.popularity) for match, _ in on]
    storms = [(match, _storm_strength(match, t)) for match, _ in base]
    storms = [(match, strength) for match, strength in storms if strength > 0]
    storm_share = STORM_SHARE * max((strength for _, strength in storms), default=0.0)
    base_total = sum(weight for _, weight in base)
    storm_total = sum(strength for _, strength in storms)
    options: list[_Option] = []
    shares: list[float] = []
    for match, weight in base:
        options.append((match.match_id, *_NORMAL, _crowd(match)))
        shares.append((1.0 - storm_share) * weight / base_total)
    for match, strength in storms:
        options.append((match.match_id, *_STORM, _crowd(match)))
        shares.append(storm_share * strength / storm_total)
    return options, cumulative(shares)


def _storm_strength(match: Match, t: float) -> float:
    """1 right after a goal, fading to 0 at `STORM_SECONDS`; the strongest goal counts."""
    strength = 0.0
    for goal in match.goals:
        age = t - goal.at
        if 0 <= age < STORM_SECONDS:
            fade = (STORM_SECONDS - age) / (STORM_SECONDS - STORM_FULL_SECONDS)
            strength = max(strength, min(1.0, fade))
    return strength


def _table(mix: dict[str, int]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    unknown = set(mix) - set(EMOJIS)
    assert not unknown, f"a mix names emojis the schema refuses: {unknown}"
    return tuple(mix), cumulative(mix.values())


_NORMAL = _table(NORMAL_MIX)
_STORM = _table(STORM_MIX)


def _crowd(match: Match) -> int:
    return random.Random(f"crowd/{match.match_id}").randrange(USERS)


@cache
def _users() -> tuple[str, ...]:
    return tuple(f"u-{number:05d}" for number in range(USERS))
