"""Who gets a message: the clients of its match, or of its subscriber."""

from __future__ import annotations

from pulse.services.gateway.messages import Delivery
from pulse.services.gateway.roster import Roster


def score(match_id: str) -> Delivery:
    return Delivery("score", f"score:{match_id}:1", match_id, None, "{}")


def game(subscriber_id: str) -> Delivery:
    return Delivery("game", f"game:u:{subscriber_id}", None, subscriber_id, "{}")


def test_a_match_message_reaches_that_matchs_clients_only():
    roster: Roster[str] = Roster()
    roster.add("a", "m-1", None)
    roster.add("b", "m-1", "s-1")
    roster.add("c", "m-2", None)
    assert set(roster.recipients(score("m-1"))) == {"a", "b"}
    assert set(roster.recipients(score("m-3"))) == set()
    assert len(roster) == 3


def test_a_game_update_reaches_its_subscribers_connections():
    roster: Roster[str] = Roster()
    roster.add("a", "m-1", "s-1")
    roster.add("b", "m-2", "s-1")
    roster.add("c", "m-1", "s-2")
    assert set(roster.recipients(game("s-1"))) == {"a", "b"}


def test_a_client_that_left_gets_nothing():
    roster: Roster[str] = Roster()
    roster.add("a", "m-1", "s-1")
    roster.remove("a", "m-1", "s-1")
    assert not roster.recipients(score("m-1"))
    assert not roster.recipients(game("s-1"))
    assert len(roster) == 0
