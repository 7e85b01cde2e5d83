"""The generators: valid, deterministic, and realistic where the pipeline relies on it."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest

from pulse.events import InvalidEvent, schema_for, validate
from pulse.events.schema import format_timestamp, parse_timestamp
from pulse.simulate import GENERATORS, records
from pulse.simulate.bad import BAD_KINDS, OVERSIZED_CHARS, malformed
from pulse.simulate.clock import epoch_micros
from pulse.simulate.emoji import emoji_events
from pulse.simulate.game import GAME_IDS
from pulse.simulate.matches import Fixtures
from pulse.simulate.media import user_ids
from pulse.simulate.product import product_events
from pulse.simulate.sports import sports_events

START = datetime(2026, 11, 22, 20, 15, tzinfo=UTC)
DOMAINS = sorted(GENERATORS)


def first(domain: str, count: int, *, seed: int = 1, rate: float = 100.0) -> list[dict[str, Any]]:
    return list(islice(GENERATORS[domain](seed, rate, START), count))


def fails(domain: str, value: bytes, *, errors: str = "strict") -> bool:
    """Whether a consumer that decodes and validates would refuse this value, received now."""
    try:
        event = json.loads(value.decode("utf-8", errors=errors))
        validate(schema_for(domain), event, received_at=datetime.now(UTC))
    except (UnicodeDecodeError, json.JSONDecodeError, InvalidEvent):
        return True
    return False


@pytest.mark.parametrize("domain", DOMAINS)
def test_events_pass_their_domain_validation(domain: str) -> None:
    # Ten minutes of event time: every match moment (kick-off, goals, half time, end) included.
    for event in first(domain, 6_000, rate=10.0):
        validate(schema_for(domain), event)


@pytest.mark.parametrize("domain", DOMAINS)
def test_same_seed_gives_the_same_events(domain: str) -> None:
    assert first(domain, 2_000) == first(domain, 2_000)


@pytest.mark.parametrize("domain", DOMAINS)
def test_another_seed_gives_other_events(domain: str) -> None:
    ignore_ids = schema_for(domain).id_field
    one = [{k: v for k, v in e.items() if k != ignore_ids} for e in first(domain, 500, seed=1)]
    two = [{k: v for k, v in e.items() if k != ignore_ids} for e in first(domain, 500, seed=2)]
    assert one != two


@pytest.mark.parametrize("domain", DOMAINS)
def test_event_i_happens_at_start_plus_i_over_rate(domain: str) -> None:
    schema = schema_for(domain)
    events = first(domain, 1_000, rate=250.0)
    for index in (0, 1, 7, 250, 999):
        expected = START + timedelta(seconds=index / 250.0)
        assert events[index][schema.time_field] == format_timestamp(expected)


@pytest.mark.parametrize("domain", DOMAINS)
def test_event_ids_are_unique_and_carry_the_seed(domain: str) -> None:
    ids = [event[schema_for(domain).id_field] for event in first(domain, 5_000, seed=42)]
    assert len(set(ids)) == len(ids)
    assert all("-42-" in event_id for event_id in ids)


def test_runs_with_another_start_do_not_reuse_event_ids() -> None:
    later = START + timedelta(hours=1)
    one = {event["event_id"] for event in islice(emoji_events(1, 100.0, START), 1_000)}
    two = {event["event_id"] for event in islice(emoji_events(1, 100.0, later), 1_000)}
    assert not one & two


def test_sports_sequences_increase_and_scores_never_go_down_per_match() -> None:
    last: dict[str, dict[str, Any]] = {}
    kinds = Counter()
    for event in islice(sports_events(3, 20.0, START), 20 * 900):  # fifteen minutes
        kinds[event["kind"]] += 1
        previous = last.get(event["match_id"])
        if previous is not None:
            assert event["sequence"] > previous["sequence"]
            assert event["home_score"] >= previous["home_score"]
            assert event["away_score"] >= previous["away_score"]
            assert event["period"] >= previous["period"]
            goals = (event["home_score"] - previous["home_score"]) + (
                event["away_score"] - previous["away_score"]
            )
            assert goals == (1 if event["kind"] == "goal" else 0)
            assert previous["status"] != "finished"
        last[event["match_id"]] = event
    assert set(kinds) == {"start", "goal", "stat", "period", "end"}


def test_sports_goals_credit_the_scorer_of_the_scoring_side() -> None:
    goals = [e for e in islice(sports_events(3, 20.0, START), 20 * 900) if e["kind"] == "goal"]
    assert goals
    for goal in goals:
        scorer = goal["player_stats"][0]
        assert scorer["stat"] == "goals" and scorer["delta"] == 1
        assert scorer["team"] in ("home", "away")


def test_product_versions_go_up_by_one_and_images_chain() -> None:
    state: dict[str, dict[str, Any]] = {}
    ops = Counter()
    recreated = 0
    for event in islice(product_events(5, 100.0, START), 30_000):
        ops[event["op"]] += 1
        previous = state.get(event["product_id"])
        if previous is None:
            assert (event["op"], event["version"]) == ("create", 1)
        else:
            assert event["version"] == previous["version"] + 1
            assert event.get("before") == previous.get("after")
            if previous["op"] == "delete":
                assert event["op"] == "create"
                recreated += 1
        assert ("before" in event) == (event["op"] != "create")
        assert ("after" in event) == (event["op"] != "delete")
        state[event["product_id"]] = event
    assert ops["update"] > ops["create"] > ops["delete"] > 0
    assert recreated > 0


def test_emoji_storm_follows_a_goal_and_the_rate_holds() -> None:
    rate = 400.0
    fixtures = Fixtures(7)
    begin = START.timestamp() + 30  # a goal with calm before it
    goal, match = min(
        (goal.at, match)
        for match in fixtures.matches_at(begin)
        for goal in match.goals
        if goal.at > begin
    )
    seconds = goal - START.timestamp() + 10
    events = list(islice(emoji_events(7, rate, START), int(seconds * rate)))

    def window(low: float, high: float) -> list[dict[str, Any]]:
        return [e for e in events if low <= parse_timestamp(e["ts"]).timestamp() < high]

    before, during = window(goal - 20, goal - 1), window(goal + 0.5, goal + 3)
    share_before = sum(e["match_id"] == match.match_id for e in before) / len(before)
    storm = [e for e in during if e["match_id"] == match.match_id]
    assert share_before < 0.4
    assert len(storm) / len(during) > 0.7
    assert sum(e["emoji"] in ("🔥", "🎉") for e in storm) / len(storm) > 0.5
    per_second = Counter(e["ts"][:19] for e in events)
    del per_second[events[-1]["ts"][:19]]  # the last second is cut short by the sample's end
    assert set(per_second.values()) == {int(rate)}


def test_emoji_and_sports_agree_on_the_live_matches() -> None:
    sports = {e["match_id"] for e in islice(sports_events(9, 50.0, START), 3_000)}
    emoji = {e["match_id"] for e in islice(emoji_events(9, 50.0, START), 3_000)}
    assert emoji <= sports


def test_media_events_have_the_seed_format() -> None:
    for event in first("media", 500):
        assert list(event) == ["id", "timestamp", "type", "user", "metadata"]
        assert list(event["metadata"]) == ["quality", "device", "duration_ms", "content_id"]


@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_bad_kind_fails_decoding_or_validation(domain: str, kind: str) -> None:
    rng = random.Random(0)
    schema = schema_for(domain)
    for event in first(domain, 40):
        value = malformed(schema, event, kind, rng)
        assert fails(domain, value), value[:300]
        # Spark casts invalid UTF-8 to U+FFFD rather than failing: still refused.
        assert fails(domain, value, errors="replace"), value[:300]


def test_oversized_records_fit_under_the_brokers_message_limit() -> None:
    rng = random.Random(0)
    for domain in DOMAINS:
        event = first(domain, 1)[0]
        value = malformed(schema_for(domain), event, "oversized", rng)
        assert OVERSIZED_CHARS < len(value) < 1_000_000 - 1_000


def test_bad_ratio_is_honoured_and_every_bad_record_is_marked() -> None:
    counted = Counter()
    sample = list(islice(records("emoji", 3, 1000.0, START, bad_ratio=0.1), 20_000))
    for _key, value, kind in sample:
        counted[kind] += 1
        assert fails("emoji", value) == (kind is not None)
    bad = sum(count for kind, count in counted.items() if kind is not None)
    assert 0.09 < bad / len(sample) < 0.11
    assert set(counted) - {None} >= set(BAD_KINDS) - {"oversized"}


def test_records_are_keyed_by_the_schemas_key_field() -> None:
    for domain in DOMAINS:
        key_field = schema_for(domain).key_field
        for key, value, _ in islice(records(domain, 1, 100.0, START), 200):
            assert key == json.loads(value)[key_field].encode()


def test_event_clock_is_exact_in_microseconds() -> None:
    assert epoch_micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005


def test_games_and_users_come_from_catalogues_that_do_not_depend_on_the_seed() -> None:
    for seed in (1, 2):
        assert {e["game_id"] for e in first("game", 2_000, seed=seed)} <= set(GAME_IDS)
        assert {e["user"] for e in first("media", 2_000, seed=seed)} <= set(user_ids())
