"""The pieces of `--via-api` that need no server: endpoints, Retry-After, URLs, records, summary."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import islice

import pytest

from pulse.config import load_config
from pulse.simulate import GENERATORS, records
from pulse.simulate.clients import Tally, endpoint, ingest_url, retry_after

START = datetime(2026, 11, 22, 20, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("domain", "key", "path"),
    [
        ("emoji", b"m-1", "/v1/emoji"),
        ("product", b"sku-1-ab", "/v1/products/sku-1-ab"),
        ("product", b"a/b c", "/v1/products/a%2Fb%20c"),
        ("product", None, "/v1/products/{id}"),
        ("media", b"me-1", "/v1/events/media"),
    ],
)
def test_each_domain_is_posted_to_its_endpoint(domain, key, path) -> None:
    assert endpoint(domain, key) == path


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("3") == 3.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after(later) <= 30
    assert retry_after(None) == 1.0
    assert retry_after("soon") == 1.0


def test_the_default_url_is_the_configured_listen_address_or_loopback() -> None:
    assert ingest_url(load_config(environ={}).ingest) == "http://127.0.0.1:8080"
    everywhere = load_config(environ={"PULSE_INGEST__HOST": "0.0.0.0", "PULSE_INGEST__PORT": "81"})
    assert ingest_url(everywhere.ingest) == "http://127.0.0.1:81"


def test_records_without_id_are_the_generated_events_less_the_id() -> None:
    sent = islice(records("emoji", 2, 500, START, without_id=True), 200)
    generated = islice(GENERATORS["emoji"](2, 500, START), 200)
    for (key, value, kind), event in zip(sent, generated, strict=True):
        assert kind is None
        assert json.loads(value) == {k: v for k, v in event.items() if k != "event_id"}
        assert key == event["match_id"].encode()


def test_malformed_records_without_id_carry_no_id_either() -> None:
    sent = list(islice(records("emoji", 2, 500, START, 0.5, without_id=True), 400))
    bad = [value for _, value, kind in sent if kind]
    assert len(bad) > 100
    assert not [value for value in bad if b'"event_id"' in value]


def test_the_summary_counts_answers_by_status_and_shows_unexpected_bodies() -> None:
    tally = Tally(
        accepted=95,
        rejected=Counter({"422 invalid": 4, "413 too_large": 1}),
        retries=Counter({"503 queue_full": 7}),
    )
    assert tally.lines(100) == [
        "  sent 100: accepted 95 (202); rejected 5 malformed (422 invalid: 4, 413 too_large: 1);"
        " retries 7 (503 queue_full: 7)"
    ]
    assert not tally.failed
    tally.unexpected["500 Internal Server Error"] += 1
    tally.examples["500 Internal Server Error"] = "oops"
    assert tally.lines(100)[1:] == [
        "  unexpected 1: 500 Internal Server Error: 1",
        "    500 Internal Server Error: oops",
    ]
    assert tally.failed
