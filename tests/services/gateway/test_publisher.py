"""A cluster publisher as it runs: a record on `emoji.aggregated` reaches, through Redis
`cluster:{C}:emoji` and a node of cluster C, the clients of its match, once."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Producer

from pulse.config import load_config
from pulse.kafka.admin import ensure_topics
from tests.services.gateway.support import join, received

pytestmark = pytest.mark.broker


def window(match_id: str, count: int, batch_id: int) -> bytes:
    """An `emoji.aggregated` record as the live job writes it."""
    return json.dumps(
        {"match_id": match_id, "emoji": "🔥", "window_start": "2026-01-01T00:00:00Z",
         "window_end": "2026-01-01T00:00:02Z", "count": count, "units": -(-count // 1000),
         "batch_id": batch_id, "seq": 0}
    ).encode()  # fmt: skip


def test_a_window_reaches_the_clients_of_its_match_in_the_cluster_once(
    start_service, start_node, gateway_env
):
    cluster = f"c-{uuid.uuid4().hex[:6]}"
    topic = f"p{uuid.uuid4().hex[:8]}.emoji.aggregated"
    env = {"PULSE_TOPICS__EMOJI_AGGREGATED__NAME": topic}
    conf = load_config(environ={**gateway_env, **env})
    ensure_topics(conf.kafka, {topic: 2})
    start_service(
        "publisher",
        "--cluster",
        cluster,
        extra_env=env,
        ready=lambda service: f"publisher of cluster {cluster}" in service.output(),
    )
    node = start_node(cluster=cluster)
    other_cluster = start_node()
    match_id = f"m-{uuid.uuid4().hex[:8]}"
    with (
        join(node, match_id) as viewer,
        join(node, f"{match_id}-other") as other_match,
        join(other_cluster, match_id) as elsewhere,
    ):
        producer = Producer(conf.kafka.client_params())
        # The second record repeats the first (a replayed batch); the third is the window grown.
        for count, batch_id in ((1500, 1), (1500, 2), (2100, 3)):
            record = window(match_id, count, batch_id)
            producer.produce(topic, record, key=match_id.encode())
        assert producer.flush(10) == 0
        messages = received(viewer)
        assert [(m["type"], m["count"], m["units"]) for m in messages] == [
            ("emoji", 1500, 2),
            ("emoji", 2100, 3),
        ]
        assert received(other_match) == []
        assert received(elsewhere) == []  # another cluster's node: not fed by this publisher
