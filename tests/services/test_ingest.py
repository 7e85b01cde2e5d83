"""The ingest API as it runs: `pulse serve ingest` in a subprocess, writing to the session's broker.

Each API gets topics of its own (`PULSE_TOPICS__<DOMAIN>__NAME`), so what a test reads back is
what that API wrote. Requests go over real HTTP with the standard library's client.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest

from pulse.events import SCHEMAS, example, source_domains, validate
from pulse.events.domains import MONITORING, PRODUCT
from pulse.services.auth import label_of
from tests.conftest import PulseRunner, free_tcp_port
from tests.services.support import (
    KEYS,
    Api,
    Events,
    StartApi,
    read_answer,
    read_until,
    wait_for,
)

pytestmark = pytest.mark.broker

REACTION = {"user_id": "u-1", "match_id": "m-1", "emoji": "🔥", "ts": "2026-11-22T20:15:00.000Z"}


@pytest.fixture(scope="module")
def api(start_api: StartApi) -> Api:
    """One API for the tests that do not stop it: fast flushes, a small body limit."""
    return start_api(flush_interval_ms=100, max_body_bytes=4096)


def read_events(api: Api, domain: str, ids: Iterable[str] = ()) -> Events:
    """The domain's topic once every id of `ids` is in it."""
    wanted, id_field = set(ids), SCHEMAS[domain].id_field
    return read_until(
        api.conf, api.topic(domain), lambda events: wanted <= {e[id_field] for e in events}
    )


def id_counts(events: Events, domain: str) -> Counter[str]:
    """How often each event id occurs."""
    return Counter(event[SCHEMAS[domain].id_field] for event in events)


def test_accepted_emoji_appear_in_kafka_exactly_once_under_the_id_they_were_given(api) -> None:
    answers = [api.post("/v1/emoji", {**REACTION, "user_id": f"u-{n}"}) for n in range(20)]

    assert {answer.status for answer in answers} == {202}
    given = {answer.body["event_id"] for answer in answers}
    assert len(given) == 20
    events = read_events(api, "emoji", given)
    counts = id_counts(events, "emoji")
    assert all(counts[event_id] == 1 for event_id in given)
    found = {e["event_id"]: e for e in events}
    for event_id in given:
        assert validate(SCHEMAS["emoji"], _without_kafka(found[event_id]))["match_id"] == "m-1"
        assert found[event_id]["_key"] == b"m-1"


def test_every_domain_single_and_batch_lands_once_on_its_topic_keyed(api) -> None:
    sent: dict[str, set[str]] = {}
    for domain in source_domains():
        schema = SCHEMAS[domain]
        events = [
            {**example(schema), schema.id_field: f"{domain}-{uuid.uuid4().hex}"} for _ in range(4)
        ]
        single = api.post(f"/v1/events/{domain}", events[0])
        batch = api.post(f"/v1/events/{domain}:batch", events[1:])
        assert (single.status, batch.status) == (202, 202), (single.body, batch.body)
        assert single.body == {"event_id": events[0][schema.id_field]}
        assert batch.body["accepted"] == 3
        sent[domain] = {event[schema.id_field] for event in events}
    change = {**example(PRODUCT), "change_id": f"pc-{uuid.uuid4().hex}", "product_id": "sku-9"}
    assert api.post("/v1/products/sku-9", change).status == 202
    sent["product"].add(change["change_id"])

    for domain, ids in sent.items():
        events = read_events(api, domain, ids)
        counts = id_counts(events, domain)
        assert all(counts[event_id] == 1 for event_id in ids)
        key_field = SCHEMAS[domain].key_field
        for event in events:
            assert event["_key"] == str(event[key_field]).encode()


def test_producer_acks_join_each_accepted_event_by_id_with_its_offset(api) -> None:
    given = [api.post("/v1/emoji", REACTION).body["event_id"] for _ in range(5)]

    def acked(events: Events) -> dict[str, dict[str, Any]]:
        return {ack["event_id"]: ack for ack in events if ack.get("event_id") in given}

    acks = acked(read_until(api.conf, api.topic("monitoring"), lambda e: len(acked(e)) == 5))
    written = {e["event_id"]: e for e in read_events(api, "emoji", given)}
    assert len(acks) == 5
    for event_id, ack in acks.items():
        assert validate(MONITORING, _without_kafka(ack))
        assert (ack["kind"], ack["component"]) == ("producer_ack", "ingest")
        assert ack["topic"] == api.topic("emoji")
        origin = written[event_id]
        assert (ack["partition"], ack["offset"]) == (origin["_partition"], origin["_offset"])
        assert ack["latency_ms"] >= 0


@pytest.mark.parametrize(
    ("path", "body", "field", "value", "index"),
    [
        ("/v1/emoji", {**REACTION, "emoji": "pizza"}, "emoji", "pizza", None),
        ("/v1/emoji", {**REACTION, "event_id": "mine"}, "event_id", "mine", None),
        (
            "/v1/events/sports",
            {**example(SCHEMAS["sports"]), "home_score": -2},
            "home_score",
            -2,
            None,
        ),
        (
            "/v1/events/game:batch",
            [example(SCHEMAS["game"]), {**example(SCHEMAS["game"]), "kind": "rumour"}],
            "kind",
            "rumour",
            1,
        ),
        ("/v1/products/sku-other", example(PRODUCT), "product_id", "sku-00001", None),
        ("/v1/events/media", b'{"id": ', "<body>", '{"id": ', None),
    ],
)
def test_an_invalid_payload_gets_422_naming_the_field_and_the_value(
    api, path, body, field, value, index
) -> None:
    answer = api.post(path, body)

    assert answer.status == 422
    assert (answer.body["field"], answer.body["value"]) == (field, value)
    assert answer.body.get("index") == index
    assert field in answer.body["message"] or field == "<body>"


def test_nothing_of_a_batch_with_one_bad_event_is_written(api) -> None:
    schema = SCHEMAS["media"]
    good = {**example(schema), "id": f"me-{uuid.uuid4().hex}"}
    bad = {**example(schema), "type": "teleport"}

    assert api.post("/v1/events/media:batch", [good, bad]).status == 422
    marker = {**example(schema), "id": f"me-{uuid.uuid4().hex}"}
    assert api.post("/v1/events/media", marker).status == 202
    assert good["id"] not in id_counts(read_events(api, "media", [marker["id"]]), "media")


@pytest.mark.parametrize("key", [None, "", "wrong-key", KEYS[0][:-1]])
def test_without_a_valid_api_key_the_answer_is_401(api, key) -> None:
    answer = api.post("/v1/emoji", REACTION, key=key)

    assert answer.status == 401
    assert "X-API-Key" in answer.body["message"]


def test_every_configured_key_is_accepted(api) -> None:
    assert [api.post("/v1/emoji", REACTION, key=key).status for key in KEYS] == [202, 202]


def test_each_key_is_rate_limited_alone_and_a_refusal_costs_nothing(start_api) -> None:
    api = start_api(rate_limit_events_per_second=2, rate_limit_burst_events=10)

    def media(count: int) -> Events:
        return [{**example(SCHEMAS["media"]), "id": f"me-{uuid.uuid4().hex}"} for _ in range(count)]

    first = api.post("/v1/events/media:batch", media(10), key=KEYS[0])
    refused = api.post("/v1/events/media", media(1)[0], key=KEYS[0])
    other = api.post("/v1/events/media:batch", media(10), key=KEYS[1])
    over_burst = api.post("/v1/events/media:batch", media(11), key=KEYS[1])

    assert [first.status, refused.status, other.status] == [202, 429, 202]
    label = label_of(KEYS[0].encode())
    assert refused.body["key"] == label and KEYS[0] not in json.dumps(refused.body)
    assert refused.body["limit_events_per_second"] == 2
    assert 0 < float(refused.headers["retry-after"]) <= 1
    assert over_burst.status == 413 and over_burst.body["error"] == "over_burst"
    assert "send smaller batches" in over_burst.body["message"]
    accepted = first.body["event_ids"] + other.body["event_ids"]
    written = id_counts(read_events(api, "media", accepted), "media")
    assert sum(written.values()) == 20, "a refused request wrote something"


def test_a_body_over_the_limit_gets_413_declared_or_chunked(api) -> None:
    big = json.dumps([REACTION] * 100).encode()  # about 8 KB, over the 4096-byte limit
    declared = api.post("/v1/events/emoji:batch", big)

    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    connection.request(
        "POST",
        "/v1/events/emoji:batch",
        body=iter([big[:3000], big[3000:]]),
        headers={"X-API-Key": KEYS[0], "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    chunked = read_answer(connection.getresponse())
    connection.close()

    for answer in (declared, chunked):
        assert answer.status == 413
        assert answer.body["max_body_bytes"] == 4096


def test_an_unknown_domain_gets_404_naming_it(api) -> None:
    for path in ("/v1/events/weather", "/v1/events/weather:batch"):
        answer = api.post(path, {})
        assert answer.status == 404
        assert answer.body["domain"] == "weather"
        assert "'weather'" in answer.body["message"]


def test_an_unknown_path_gets_404_and_a_wrong_method_405_naming_the_allowed_one(api) -> None:
    missing = api.request("GET", "/v2/emoji", key=None)
    wrong = api.request("GET", "/v1/emoji")

    assert (missing.status, missing.body["error"], missing.body["path"]) == (
        404,
        "not_found",
        "/v2/emoji",
    )
    assert (wrong.status, wrong.headers["allow"], wrong.body["method"]) == (405, "POST", "GET")


def test_metrics_count_requests_acceptances_rejections_and_deliveries(api) -> None:
    assert api.post("/v1/emoji", REACTION).status == 202
    assert api.post("/v1/emoji", REACTION, key="nope").status == 401

    def metrics() -> dict[str, float]:
        answer = api.request("GET", "/metrics", key=None)
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        lines = [line for line in answer.body.splitlines() if not line.startswith("#")]
        return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in lines)}

    wait_for(lambda: metrics()["pulse_ingest_delivered_total"] >= 1, 15, "a delivery")
    values = metrics()
    assert values['pulse_ingest_requests_total{path="/v1/emoji",status="202"}'] >= 1
    assert values['pulse_ingest_requests_total{path="/v1/emoji",status="401"}'] >= 1
    assert values['pulse_ingest_events_accepted_total{domain="emoji"}'] >= 1
    assert values['pulse_ingest_requests_rejected_total{reason="unauthorized"}'] >= 1
    assert "pulse_ingest_producer_queue_depth" in values
    assert values['pulse_ingest_delivery_latency_seconds_bucket{le="+Inf"}'] >= 1


def test_a_full_queue_gets_503_with_retry_after_and_a_stop_still_delivers_what_it_held(
    start_api,
) -> None:
    # Nothing is sent for ten minutes: the queue fills after five events.
    api = start_api(max_queue=5, flush_interval_ms=600_000)
    given = [api.post("/v1/emoji", REACTION).body["event_id"] for _ in range(5)]

    refused = api.post("/v1/emoji", REACTION)

    assert refused.status == 503
    assert refused.headers["retry-after"] == "600"
    assert refused.body["error"] == "queue_full"
    assert api.request("GET", "/health", key=None).body["queue_depth"] == 5
    assert api.stop() == 0  # a graceful stop that lost nothing
    assert id_counts(read_events(api, "emoji"), "emoji") == Counter(given)


def test_sigterm_under_load_loses_nothing_that_got_a_202(start_api) -> None:
    # Flushes by count only: at the stop, records are in flight to Kafka and up to 499 are
    # still held in the buffer, so the drain must send them.
    api = start_api(flush_messages=500, flush_interval_ms=600_000)
    accepted: list[str] = []
    failures: list[str] = []
    terminated = threading.Event()

    def send() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
        body = json.dumps(REACTION).encode()
        try:
            while True:
                try:
                    connection.request("POST", "/v1/emoji", body, {"X-API-Key": KEYS[0]})
                    answer = read_answer(connection.getresponse())
                except (OSError, http.client.HTTPException) as exc:
                    if not terminated.is_set():
                        failures.append(repr(exc))
                    return
                if answer.status == 202:
                    accepted.append(answer.body["event_id"])
                elif answer.status != 503 or not terminated.is_set():
                    failures.append(f"{answer.status} {answer.body}")
                    return
        finally:
            connection.close()

    senders = [threading.Thread(target=send) for _ in range(6)]
    for sender in senders:
        sender.start()
    wait_for(lambda: len(accepted) >= 1500 or bool(failures), 30, "1500 accepted events")
    terminated.set()
    code = api.stop()
    for sender in senders:
        sender.join(15)

    assert not failures, failures[:3]
    assert code == 0, api.log.read_text()
    found = id_counts(read_events(api, "emoji"), "emoji")
    assert all(found[event_id] == 1 for event_id in accepted)
    assert len(found) == sum(found.values())  # no id twice
    # Requests cut off by the stop may have been written without their 202 reaching us.
    assert len(found) - len(accepted) <= len(senders)


def test_it_refuses_to_start_without_an_api_key(run_pulse: PulseRunner) -> None:
    result = run_pulse(
        "serve", "ingest", "--port", str(free_tcp_port()), env={"PULSE_INGEST__API_KEYS": ""}
    )

    assert result.returncode == 1
    assert "PULSE_INGEST__API_KEYS" in result.stderr


def _without_kafka(event: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in event.items() if not name.startswith("_")}
