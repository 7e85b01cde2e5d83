"""`pulse simulate --via-api` as a user runs it: concurrent clients post the simulated events to a
real ingest API (`pulse serve ingest`, a subprocess), which writes them to the session's broker.

The API assigns the ids of emoji reactions, so those are compared on what the clients sent:
(user_id, match_id, emoji, ts), as a multiset, so that a lost or a repeated event shows.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from itertools import islice
from typing import Any

import pytest

from pulse.events import SCHEMAS
from pulse.simulate import GENERATORS, records
from pulse.simulate.clock import parse_start
from tests.conftest import PulseRunner, free_tcp_port
from tests.services.support import Api, StartApi, read_until

pytestmark = pytest.mark.broker

START = "2026-11-22T20:15:00Z"
Reaction = tuple[str, str, str, str]


@pytest.fixture(scope="module")
def api(start_api: StartApi) -> Api:
    """An API with fast flushes, for the tests that send emoji once, or no emoji at all."""
    return start_api(flush_interval_ms=100)


def simulate_via(
    run_pulse: PulseRunner, api: Api, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`pulse simulate ARGS --via-api` against `api`, from a fixed start time."""
    command = ("simulate", *args, "--via-api", "--api-url", api.url, "--start", START, "--quiet")
    return run_pulse(*command, env={**api.env, **(env or {})}, timeout=60)


def reaction(event: dict[str, Any]) -> Reaction:
    return (event["user_id"], event["match_id"], event["emoji"], event["ts"])


def landed(api: Api, domain: str, count: int) -> list[dict[str, Any]]:
    """The domain's topic, read to its end once it holds `count` records."""
    return read_until(api.conf, api.topic(domain), lambda events: len(events) >= count, timeout=30)


def good_reactions(seed: int, rate: float, count: int, bad_ratio: float) -> Counter[Reaction]:
    """The reactions among the first `count` records the clients send that are not malformed."""
    sent = records("emoji", seed, rate, parse_start(START), bad_ratio, without_id=True)
    return Counter(
        reaction(json.loads(value)) for _, value, kind in islice(sent, count) if not kind
    )


def test_every_simulated_reaction_reaches_the_topic_once_through_the_api(
    api: Api, run_pulse: PulseRunner
) -> None:
    result = simulate_via(
        run_pulse, api, "emoji", "--clients", "4", "--rate", "400", "--duration", "3", "--seed", "1"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    generated = islice(GENERATORS["emoji"](1, 400, parse_start(START)), 1200)
    expected = Counter(reaction(event) for event in generated)
    events = landed(api, "emoji", 1200)
    assert Counter(reaction(event) for event in events) == expected
    assert len({event["event_id"] for event in events}) == 1200  # ids the API assigned
    assert f"{api.url}/v1/emoji: 1,200 events, 0 bad" in result.stdout
    assert "sent 1,200: accepted 1,200 (202); rejected 0" in result.stdout


def test_malformed_records_are_answered_422_and_none_reaches_the_topic(
    start_api: StartApi, run_pulse: PulseRunner
) -> None:
    api = start_api(flush_interval_ms=100)
    args = ("emoji", "--clients", "4", "--rate", "300", "--duration", "1", "--bad-ratio", "0.1")
    result = simulate_via(run_pulse, api, *args, "--seed", "3")

    assert result.returncode == 0, result.stdout + result.stderr
    expected = good_reactions(3, 300, 300, 0.1)
    bad = 300 - expected.total()
    assert 15 <= bad <= 45
    events = landed(api, "emoji", expected.total())
    assert Counter(reaction(event) for event in events) == expected
    assert f"300 events, {bad} bad ({bad / 300:.1%})" in result.stdout
    assert f"accepted {expected.total():,} (202); " in result.stdout
    assert f"rejected {bad} malformed (422 invalid: {bad})" in result.stdout
    assert "unexpected" not in result.stdout


def test_a_full_queue_is_waited_out_and_everything_is_delivered_once(
    start_api: StartApi, run_pulse: PulseRunner
) -> None:
    # The API sends to Kafka once a second and holds at most 50 events: 200 events in one second
    # cannot all be taken at once, so clients get 503s, wait (Retry-After: 1) and send again.
    api = start_api(max_queue=50, flush_interval_ms=1000)
    result = simulate_via(
        run_pulse, api, "emoji", "--clients", "4", "--rate", "200", "--duration", "1", "--seed", "1"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    expected = Counter(map(reaction, islice(GENERATORS["emoji"](1, 200, parse_start(START)), 200)))
    events = landed(api, "emoji", 200)
    assert Counter(reaction(event) for event in events) == expected
    assert "accepted 200 (202); rejected 0; retries " in result.stdout
    assert "(503 queue_full: " in result.stdout


def test_product_changes_go_through_the_product_endpoint_with_their_own_ids(
    api: Api, run_pulse: PulseRunner
) -> None:
    result = simulate_via(
        run_pulse,
        api,
        "product",
        "--clients",
        "2",
        "--rate",
        "100",
        "--duration",
        "1",
        "--seed",
        "1",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{api.url}/v1/products/{{id}}: 100 events" in result.stdout
    generated = list(islice(GENERATORS["product"](1, 100, parse_start(START)), 100))
    events = landed(api, "product", 100)
    found = Counter(event["change_id"] for event in events)
    assert found == Counter(event["change_id"] for event in generated)
    written = {event["change_id"]: event for event in events}
    key_field = SCHEMAS["product"].key_field
    for change in generated:
        event = written[change["change_id"]]
        assert event["_key"] == change[key_field].encode()
        assert {k: v for k, v in event.items() if not k.startswith("_")} == {
            k: v for k, v in change.items() if v is not None
        }


def test_a_refused_key_stops_the_run_and_shows_the_answer(api: Api, run_pulse: PulseRunner) -> None:
    result = simulate_via(
        run_pulse,
        api,
        "media",
        "--rate",
        "50",
        "--duration",
        "5",
        env={"PULSE_INGEST__API_KEYS": "not-a-key"},
    )

    assert result.returncode == 1
    assert "the API refused the key: 401" in result.stderr
    assert "X-API-Key" in result.stdout  # the 401 body, under "unexpected"


def test_an_api_that_does_not_answer_is_named_within_the_wait(run_pulse: PulseRunner) -> None:
    nowhere = f"http://127.0.0.1:{free_tcp_port()}"
    args = ("simulate", "emoji", "--via-api", "--api-url", nowhere, "--api-wait", "1")
    result = run_pulse(*args, env={"PULSE_INGEST__API_KEYS": "k"})

    assert result.returncode == 1
    assert nowhere in result.stderr and "pulse serve ingest" in result.stderr


def test_without_an_api_key_it_says_which_variable_to_set(run_pulse: PulseRunner) -> None:
    result = run_pulse("simulate", "emoji", "--via-api", env={"PULSE_INGEST__API_KEYS": ""})

    assert result.returncode == 1
    assert "PULSE_INGEST__API_KEYS" in result.stderr


def test_client_options_need_via_api(run_pulse: PulseRunner) -> None:
    result = run_pulse("simulate", "emoji", "--clients", "2")

    assert result.returncode == 2
    assert "--clients needs --via-api" in result.stderr
