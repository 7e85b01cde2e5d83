"""10,000 malformed events through the ingest API: each one a 4xx whose body says what is
wrong, none of them in Kafka; the good events sent between them all there, once.

Kinds: every kind of `pulse.simulate.bad` (as the body of `POST /v1/events/{domain}`), plus an
unknown domain in the path. Bodies over the API's limit get 413 before they are read whole.
"""

from __future__ import annotations

import http.client
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from pulse.events import SCHEMAS, source_domains
from pulse.events.schema import wire_bytes
from pulse.simulate import GENERATORS
from pulse.simulate.bad import BAD_KINDS, malformed
from tests.services.support import KEYS, Api, read_answer, read_until
from tests.services.test_ingest import id_counts

pytestmark = [pytest.mark.broker, pytest.mark.counts]

MALFORMED = 10_000
OVERSIZED = 5
GOOD_EVERY = 10  # a good event after every 10th malformed one
KINDS = (*(kind for kind in BAD_KINDS if kind != "oversized"), "unknown_domain")


def test_every_malformed_request_gets_a_4xx_saying_why_and_writes_nothing(start_api) -> None:
    api: Api = start_api(max_body_bytes=100_000, flush_interval_ms=100)
    rng = random.Random(7)
    templates = {
        domain: GENERATORS[domain](7, 1000.0, datetime.now(UTC)) for domain in source_domains()
    }
    plan = [("oversized", source_domains()[i]) for i in range(OVERSIZED)]
    plan += [
        (KINDS[i % len(KINDS)], source_domains()[(i // len(KINDS)) % 5])
        for i in range(MALFORMED - OVERSIZED)
    ]
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    unexplained: list[tuple[str, int, object]] = []
    good: dict[str, list[str]] = defaultdict(list)
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)

    def post(path: str, body: bytes):
        headers = {"X-API-Key": KEYS[0], "Content-Type": "application/json"}
        connection.request("POST", path, body=body, headers=headers)
        return read_answer(connection.getresponse())

    try:
        for number, (kind, domain) in enumerate(plan):
            schema = SCHEMAS[domain]
            event = {**next(templates[domain]), schema.id_field: f"api-{domain}-{number}"}
            if kind == "unknown_domain":
                answer = post("/v1/events/not-a-domain", wire_bytes(event))
            else:
                answer = post(f"/v1/events/{domain}", malformed(schema, event, kind, rng))
            statuses[kind][answer.status] += 1
            says = (
                isinstance(answer.body, dict)
                and answer.body.get("error")
                and answer.body.get("message")
            )
            if not 400 <= answer.status < 500 or not says:
                unexplained.append((kind, answer.status, answer.body))
            if number % GOOD_EVERY == 0:
                fine = {**next(templates[domain]), schema.id_field: f"good-{domain}-{number}"}
                accepted = post(f"/v1/events/{domain}", wire_bytes(fine))
                assert accepted.status == 202, accepted.body
                good[domain].append(fine[schema.id_field])
    finally:
        connection.close()

    print("\nmalformed requests by kind: sent / answers")
    for kind, counts in statuses.items():
        print(f"  {kind:>16}  {sum(counts.values()):>5}  {dict(counts)}")
    assert sum(sum(c.values()) for c in statuses.values()) == MALFORMED
    assert set(statuses) == set(KINDS) | {"oversized"}
    assert not unexplained, unexplained[:5]
    assert statuses["oversized"] == {413: OVERSIZED}
    assert statuses["unknown_domain"] == {404: sum(statuses["unknown_domain"].values())}

    print("good events between them: sent / on the topic once")
    for domain, ids in good.items():
        topic = api.topic(domain)
        events = read_until(
            api.conf, topic, lambda found, ids=ids, d=domain: set(ids) <= set(id_counts(found, d))
        )
        counts = id_counts(events, domain)
        print(f"  {domain:>16}  {len(ids):>5}  {sum(counts.values())}")
        assert counts == Counter(ids), f"{domain}: only the good events may be in Kafka"
