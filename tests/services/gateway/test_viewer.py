"""What a viewer may send on its socket, and the page API's pure parts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pulse.services.gateway.viewer import (
    InvalidViewerMessage,
    RateLimit,
    reaction,
    viewer_emoji,
)
from pulse.services.gateway.web import scoreboard


def test_an_emoji_message_gives_its_emoji() -> None:
    assert viewer_emoji('{"type": "emoji", "emoji": "🔥"}') == "🔥"


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("not json", "<message>", "not json"),
        ('{"type": "chat", "text": "hi"}', "type", "chat"),
        ("[1]", "type", [1]),
        ('{"type": "emoji", "emoji": "🍕"}', "emoji", "🍕"),
        ('{"type": "emoji"}', "emoji", None),
    ],
)
def test_anything_else_is_refused_naming_the_field_and_value(text, field, value) -> None:
    with pytest.raises(InvalidViewerMessage) as refused:
        viewer_emoji(text)

    answer = json.loads(refused.value.answer())
    assert (answer["type"], answer["field"], answer["value"]) == ("error", field, value)


def test_the_forwarded_reaction_names_the_viewer_its_match_and_the_time() -> None:
    at = datetime(2026, 11, 22, 20, 15, 1, 250_000, tzinfo=UTC)

    assert reaction("c-1", "m-1", "👏", at) == {
        "user_id": "c-1",
        "match_id": "m-1",
        "emoji": "👏",
        "ts": "2026-11-22T20:15:01.250Z",
    }


def test_the_rate_limit_allows_a_burst_then_the_rate() -> None:
    limit = RateLimit(2.0)

    assert [limit.allow(0.0) for _ in range(3)] == [True, True, False]
    assert limit.allow(0.4) is False  # 0.8 of a token back
    assert limit.allow(0.5) is True
    assert limit.allow(0.5) is False


def test_a_redis_scoreboard_becomes_json_with_numbers() -> None:
    fields = {b"match_id": b"m-1", b"home_score": b"3", b"sequence": b"12", b"home_team": b"A"}

    assert scoreboard(fields) == {
        "match_id": "m-1",
        "home_score": 3,
        "sequence": 12,
        "home_team": "A",
    }
