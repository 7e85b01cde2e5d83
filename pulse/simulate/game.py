"""Game updates: patches, news, in-game events and maintenance for a catalogue of games.

The catalogue (`g-0001` ...) does not depend on the seed: subscribers register to game ids in
MySQL, and those must be found again whatever seed a simulator runs with. Popular games get
most updates (Zipf-like); each game's patch versions only go up within a run.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pulse.simulate.clock import EventClock, id_prefix
from pulse.simulate.draws import cumulative

GAMES = (
    "Star Forge", "Iron Tactics", "Neon Drift", "Mythic Realms", "Pixel Pirates", "Frostfall",
    "Skybound", "Dungeon Depths", "Rally Kings", "Cosmic Brawl", "Shadow Run", "Kingdom Rise",
    "Circuit Breakers", "Ocean Odyssey", "Titan Arena", "Lost Signal", "Ember Knights",
    "Quantum Quest", "Wild Frontier", "Puzzle Peaks", "Storm Riders", "Hollow Crown",
    "Gridlock", "Solar Sails", "Beast Tamers", "Rogue Orbit", "Castle Clash", "Deep Core",
    "Velocity", "Last Light", "Arcane Academy", "Turbo Tanks", "Mirage", "Harvest Moonrise",
    "Battle Bards", "Echo Protocol", "Sky Pirates", "Crystal Caves", "Nightshift", "Overclock",
)  # fmt: skip

# The ids subscribers register to: the same for every seed and run.
GAME_IDS = tuple(f"g-{number + 1:04d}" for number in range(len(GAMES)))

_KINDS = ("patch", "news", "event", "maintenance")
_KIND_BOUNDS = cumulative((0.30, 0.40, 0.25, 0.05))
_NEWS = (
    ("{name}: season {season} announced", "A new season with fresh maps and rewards."),
    ("{name} tops the weekly charts", None),
    ("Developer diary: the road ahead for {name}", "What the team works on next."),
    ("{name} community tournament results", "Congratulations to this week's winners."),
)
_EVENTS = (
    ("Double XP weekend in {name}", "Earn twice the experience until Monday."),
    ("{name}: limited-time boss raid", "Team up before the portal closes."),
    ("{name} holiday event is live", None),
)


def game_events(seed: int, rate: float, start: datetime) -> Iterator[dict[str, Any]]:
    """Updates to the game catalogue, event `i` at `start + i / rate`."""
    clock = EventClock(start, rate)
    rng = random.Random(f"game/{seed}")
    prefix = id_prefix("gu", seed, start)
    popularity = cumulative(1.0 / (rank + 1) for rank in range(len(GAMES)))
    versions = [[rng.randint(1, 3), rng.randint(0, 9), rng.randint(0, 20)] for _ in GAMES]
    index = 0
    while True:
        us = clock.micros(index)
        game = bisect_right(popularity, rng.random())
        name = GAMES[game]
        kind = _KINDS[bisect_right(_KIND_BOUNDS, rng.random())]
        event: dict[str, Any] = {
            "update_id": f"{prefix}{index}",
            "game_id": GAME_IDS[game],
            "kind": kind,
        }
        if kind == "patch":
            version, priority = _next_version(versions[game], rng)
            event["title"] = f"{name} patch {version} is live"
            event["body"] = "Balance changes, bug fixes and performance improvements."
            event["version"] = version
        elif kind == "maintenance":
            minutes = rng.choice((15, 30, 60, 120))
            event["title"] = f"Scheduled maintenance for {name} servers"
            event["body"] = f"Servers go down for about {minutes} minutes."
            priority = 2
        else:
            title, body = rng.choice(_NEWS if kind == "news" else _EVENTS)
            event["title"] = title.format(name=name, season=versions[game][0] + 1)
            if body is not None:
                event["body"] = body
            priority = rng.choice((0, 0, 1)) if kind == "news" else 1
        event["priority"] = priority
        event["ts"] = clock.stamp(us)
        yield event
        index += 1


def _next_version(version: list[int], rng: random.Random) -> tuple[str, int]:
    """Bump a game's version in place: mostly a patch, sometimes minor, rarely major."""
    roll = rng.random()
    if roll < 0.02:
        version[:] = [version[0] + 1, 0, 0]
        priority = 3
    elif roll < 0.20:
        version[:] = [version[0], version[1] + 1, 0]
        priority = 2
    else:
        version[2] += 1
        priority = 1
    return ".".join(map(str, version)), priority
