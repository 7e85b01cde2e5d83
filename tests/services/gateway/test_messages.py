"""What a Redis message becomes for clients: kind, recipients, id, text."""

from __future__ import annotations

import json

import pytest

from pulse.services.gateway.messages import MalformedMessage, delivery, kind_of, welcome

EMOJI_CHANNEL = "cluster:c1:emoji"
SCORE = {"match_id": "m-1", "home_score": 2, "away_score": 1, "sequence": 7, "batch_id": 3}
WINDOW = {
    "match_id": "m-1",
    "emoji": "🔥",
    "window_start": "2026-01-01T00:00:00Z",
    "window_end": "2026-01-01T00:00:02Z",
    "count": 1500,
    "units": 2,
    "batch_id": 4,
    "seq": 0,
}
GAME = {"update_id": "u-1", "subscriber_id": "s-1", "game_id": "g-1", "title": "Patch", "seq": 1}


def test_channels_name_their_kind():
    assert kind_of("match:m-1", EMOJI_CHANNEL) == "score"
    assert kind_of(EMOJI_CHANNEL, EMOJI_CHANNEL) == "emoji"
    assert kind_of("node:n-1", EMOJI_CHANNEL) == "game"
    assert kind_of("cluster:c2:emoji", EMOJI_CHANNEL) is None


def test_a_score_goes_to_its_match_without_transport_fields():
    message = delivery("score", "match:m-1", json.dumps(SCORE))
    assert (message.match_id, message.subscriber_id) == ("m-1", None)
    assert message.id == "score:m-1:7"
    shaped = json.loads(message.text)
    assert shaped == {
        "type": "score",
        "id": "score:m-1:7",
        "match_id": "m-1",
        "home_score": 2,
        "away_score": 1,
        "sequence": 7,
    }


def test_an_emoji_window_is_identified_by_its_count_so_an_update_is_new():
    first = delivery("emoji", EMOJI_CHANNEL, json.dumps(WINDOW))
    replayed = delivery("emoji", EMOJI_CHANNEL, json.dumps({**WINDOW, "batch_id": 9}))
    grown = delivery("emoji", EMOJI_CHANNEL, json.dumps({**WINDOW, "count": 2100, "units": 3}))
    assert first.id == replayed.id != grown.id
    assert json.loads(first.text)["units"] == 2
    assert first.match_id == "m-1"


def test_a_game_update_goes_to_its_subscriber():
    message = delivery("game", "node:n-1", json.dumps(GAME).encode())
    assert (message.match_id, message.subscriber_id) == (None, "s-1")
    assert message.id == "game:u-1:s-1"
    assert json.loads(message.text)["type"] == "game"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"match_id": "m-1"}).encode(), "without sequence"),
    ],
)
def test_a_malformed_message_is_named(data, problem):
    with pytest.raises(MalformedMessage, match=problem):
        delivery("score", "match:m-1", data)


def test_welcome_names_the_node_and_carries_the_match_as_it_is():
    present = {"match_id": "m-1", "scoreboard": None, "emojis": {"top": [{"emoji": "😂"}]}}
    expected = {"type": "welcome", "node_id": "n-1", "cluster": "c1", **present}
    assert json.loads(welcome("n-1", "c1", present)) == expected
