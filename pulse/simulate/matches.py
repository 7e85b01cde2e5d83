"""The fixture list shared by the sports and emoji simulators: which matches are on, and when,
on the absolute clock, so that simulators started apart agree (docs/ARCHITECTURE.md,
"Simulating traffic")."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

SLOTS = 8
PRE_MATCH = 20.0  # seconds between a slot's previous final whistle + break and kick-off
HALF = 120.0
HALF_TIME = 20.0
POST_MATCH = 20.0
CYCLE = PRE_MATCH + HALF + HALF_TIME + HALF + POST_MATCH
STAGGER = CYCLE / SLOTS
GOALS_PER_MATCH = 2.7

TEAMS = (
    "Lions", "Tigers", "Falcons", "Wolves", "Sharks", "Bears", "Eagles", "Panthers",
    "Hornets", "Rovers", "Rangers", "United", "City", "Athletic", "Wanderers", "Harriers",
    "Comets", "Titans", "Dragons", "Ravens", "Stallions", "Vikings", "Pirates", "Knights",
    "Mariners", "Foxes", "Owls", "Saints", "Spartans", "Jaguars", "Cobras", "Bulls",
)  # fmt: skip
PLAYERS_PER_TEAM = 11


@dataclass(frozen=True)
class Goal:
    """One goal of a match: when, for which side, by whom, and who assisted (if anyone)."""

    at: float
    team: str  # "home" or "away"
    scorer: str
    assist: str | None


@dataclass(frozen=True)
class Match:
    """One match of the fixture list, its timeline in epoch seconds, and its scripted goals."""

    match_id: str
    home: str
    away: str
    home_index: int
    away_index: int
    popularity: float
    opens: float  # the slot's cycle starts: the match is announced
    kickoff: float
    half_time: float
    second_half: float
    final_whistle: float
    closes: float  # the next match of the slot opens
    goals: tuple[Goal, ...]

    def status_at(self, t: float) -> str:
        """Scoreboard status at epoch second `t`."""
        if t < self.kickoff:
            return "scheduled"
        if t < self.half_time:
            return "live"
        if t < self.second_half:
            return "break"
        if t < self.final_whistle:
            return "live"
        return "finished"

    def period_at(self, t: float) -> int:
        """0 before kick-off, 1 in the first half and at half time, 2 from the second half on."""
        if t < self.kickoff:
            return 0
        return 1 if t < self.second_half else 2

    def score_at(self, t: float) -> tuple[int, int]:
        """(home, away) goals scored strictly before `t`."""
        home = sum(1 for goal in self.goals if goal.at < t and goal.team == "home")
        away = sum(1 for goal in self.goals if goal.at < t and goal.team == "away")
        return home, away


def player_id(team_index: int, number: int) -> str:
    """A player's id; stable across matches, so per-player totals add up over a season."""
    return f"p-{team_index:02d}{number:02d}"


class Fixtures:
    """The matches of one seed, found by slot and cycle number or by the time they are on."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def cycle_of(self, slot: int, t: float) -> int:
        """The number of the slot's cycle that contains epoch second `t`."""
        return math.floor((t - slot * STAGGER) / CYCLE)

    def match(self, slot: int, cycle: int) -> Match:
        """The match that slot `slot` plays in cycle `cycle`; the same object for the same pair."""
        return _match(self.seed, slot, cycle)

    def matches_at(self, t: float) -> list[Match]:
        """One match per slot: the one whose cycle contains `t` (in any status)."""
        return [self.match(slot, self.cycle_of(slot, t)) for slot in range(SLOTS)]


@lru_cache(maxsize=1024)  # a day of matches; older ones are never asked for again
def _match(seed: int, slot: int, cycle: int) -> Match:
    number = cycle * SLOTS + slot
    # A string seed is hashed with SHA-512 by `random`, so it is stable across processes.
    rng = random.Random(f"match/{seed}/{number}")
    home_index, away_index = rng.sample(range(len(TEAMS)), 2)
    opens = slot * STAGGER + cycle * CYCLE
    kickoff = opens + PRE_MATCH
    half_time = kickoff + HALF
    second_half = half_time + HALF_TIME
    final_whistle = second_half + HALF
    goals = []
    for _ in range(_poisson(rng, GOALS_PER_MATCH)):
        minute = rng.uniform(1.0, 2 * HALF - 1.0)  # playing time, without the break
        at = kickoff + minute if minute < HALF else second_half + (minute - HALF)
        team = "home" if rng.random() < 0.55 else "away"
        team_index = home_index if team == "home" else away_index
        scorer_number, assist_number = rng.sample(range(2, PLAYERS_PER_TEAM + 1), 2)
        assist = player_id(team_index, assist_number) if rng.random() < 0.7 else None
        goals.append(Goal(at, team, player_id(team_index, scorer_number), assist))
    goals.sort(key=lambda goal: goal.at)
    return Match(
        match_id=f"m-{seed}-{number}",
        home=TEAMS[home_index],
        away=TEAMS[away_index],
        home_index=home_index,
        away_index=away_index,
        popularity=rng.choice((1.0, 1.0, 1.5, 2.0, 3.0, 5.0)),
        opens=opens,
        kickoff=kickoff,
        half_time=half_time,
        second_half=second_half,
        final_whistle=final_whistle,
        closes=opens + CYCLE,
        goals=tuple(goals),
    )


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means of goals per match."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
