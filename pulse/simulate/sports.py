"""Live scores: the matches of `matches.Fixtures`, told as a stream of scoreboard events: the
scripted moments of each match, and player-stat deltas in between (docs/ARCHITECTURE.md,
"Simulating traffic")."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pulse.simulate.clock import EventClock, id_prefix
from pulse.simulate.matches import PLAYERS_PER_TEAM, SLOTS, Fixtures, Match, player_id

_STATS = ("shots", "shots", "shots", "fouls", "fouls", "saves")


@dataclass(eq=False)  # boards are compared by identity
class _Board:
    """The scoreboard of one match as the stream has told it so far."""

    match: Match
    opens_us: int
    home_score: int = 0
    away_score: int = 0
    period: int = 0
    status: str = "scheduled"


@dataclass(order=True)
class _Moment:
    """A scripted moment of a match, in the heap by time (ties: in the order scripted)."""

    at_us: int
    order: int
    kind: str = field(compare=False)
    board: _Board = field(compare=False)
    goal_index: int = field(compare=False, default=-1)


def sports_events(seed: int, rate: float, start: datetime) -> Iterator[dict[str, Any]]:
    """Scoreboard events of the seed's fixtures, event `i` at `start + i / rate`."""
    clock = EventClock(start, rate)
    fixtures = Fixtures(seed)
    rng = random.Random(f"sports/{seed}")
    prefix = id_prefix("se", seed, start)
    moments: list[_Moment] = []
    upcoming: list[tuple[int, int, int]] = []  # (opens_us, slot, cycle) of the next matches
    live: list[_Board] = []
    order = 0

    def open_match(slot: int, cycle: int, now: float) -> None:
        """Add a match's board; moments already past at `now` set its state silently."""
        nonlocal order
        match = fixtures.match(slot, cycle)
        board = _Board(match, int(match.opens * 1_000_000))
        board.home_score, board.away_score = match.score_at(now)
        board.period, board.status = match.period_at(now), match.status_at(now)
        if board.status == "live":
            live.append(board)
        scripted = [("start", match.kickoff, -1), ("half_time", match.half_time, -1)]
        scripted += [("second_half", match.second_half, -1), ("end", match.final_whistle, -1)]
        scripted += [("goal", goal.at, index) for index, goal in enumerate(match.goals)]
        for kind, at, goal_index in scripted:
            if at >= now:
                order += 1
                moment = _Moment(int(at * 1_000_000), order, kind, board, goal_index)
                heapq.heappush(moments, moment)
        following = fixtures.match(slot, cycle + 1)
        heapq.heappush(upcoming, (int(following.opens * 1_000_000), slot, cycle + 1))

    first = clock.micros(0) / 1_000_000
    for slot in range(SLOTS):
        open_match(slot, fixtures.cycle_of(slot, first), first)

    index = 0
    while True:
        us = clock.micros(index)
        while upcoming[0][0] <= us:
            _, slot, cycle = heapq.heappop(upcoming)
            open_match(slot, cycle, us / 1_000_000)
        if moments and (moments[0].at_us <= us or not live):
            # A moment with no live match left to fill in for is told early rather than never.
            board, kind, stats = _tell_moment(heapq.heappop(moments), live)
        else:
            board, kind, stats = _stat(rng.choice(live), rng)
        event = {
            "event_id": f"{prefix}{index}",
            "match_id": board.match.match_id,
            "sequence": us - board.opens_us,
            "kind": kind,
            "home_team": board.match.home,
            "away_team": board.match.away,
            "home_score": board.home_score,
            "away_score": board.away_score,
            "period": board.period,
            "status": board.status,
        }
        if stats:
            event["player_stats"] = stats
        event["ts"] = clock.stamp(us)
        yield event
        index += 1


# The board an event is about, its kind, and its player-stat deltas (none for most moments).
_Told = tuple[_Board, str, list[dict[str, Any]]]


def _tell_moment(moment: _Moment, live: list[_Board]) -> _Told:
    """Apply a scripted moment to its board, and say what the event that tells it carries."""
    board, match = moment.board, moment.board.match
    if moment.kind == "goal":
        goal = match.goals[moment.goal_index]
        if goal.team == "home":
            board.home_score += 1
        else:
            board.away_score += 1
        stats = [_stat_entry(goal.scorer, goal.team, "goals")]
        if goal.assist is not None:
            stats.append(_stat_entry(goal.assist, goal.team, "assists"))
        return board, "goal", stats
    if moment.kind == "start":
        board.period, board.status = 1, "live"
        live.append(board)
        return board, "start", []
    if moment.kind == "half_time":
        board.status = "break"
        _remove(live, board)
        return board, "period", []
    if moment.kind == "second_half":
        board.period, board.status = 2, "live"
        live.append(board)
        return board, "period", []
    board.status = "finished"
    _remove(live, board)
    return board, "end", []


def _stat(board: _Board, rng: random.Random) -> _Told:
    """A player-stat delta: shots and fouls by outfield players, saves by the goalkeeper."""
    team = "home" if rng.random() < 0.5 else "away"
    team_index = board.match.home_index if team == "home" else board.match.away_index
    stat = rng.choice(_STATS)
    number = 1 if stat == "saves" else rng.randint(2, PLAYERS_PER_TEAM)
    entry = _stat_entry(player_id(team_index, number), team, stat)
    return board, "stat", [entry]


def _stat_entry(player: str, team: str, stat: str) -> dict[str, Any]:
    return {"player_id": player, "team": team, "stat": stat, "delta": 1}


def _remove(live: list[_Board], board: _Board) -> None:
    if board in live:
        live.remove(board)
