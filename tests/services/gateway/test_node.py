"""A delivery node as it runs: `pulse serve gateway` in a subprocess, real Redis, a fake registry.

Clients are the `websockets` library's synchronous client; what the live job would publish is
published here on the same channels, in the same format (`batch_id` and `seq` included).
"""

from __future__ import annotations

import json
import uuid

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from pulse.services.gateway.channels import match_channel, node_channel
from tests.polling import wait_for
from tests.services.gateway.support import admitted_url, join, received, score

pytestmark = pytest.mark.broker  # the session's test stack (its configuration)


@pytest.fixture(scope="module")
def node(start_node):
    """One node for the module's delivery tests."""
    return start_node()


@pytest.fixture
def match_id() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"


def test_a_score_reaches_the_clients_of_its_match_and_no_other(node, redis_conn, match_id):
    with join(node, match_id) as viewer, join(node, f"{match_id}-other") as other:
        redis_conn.publish(match_channel(match_id), score(match_id, 1))
        [message] = received(viewer)
        assert message["type"] == "score"
        assert message["id"] == f"score:{match_id}:1"
        assert message["home_score"] == 1
        assert "batch_id" not in message
        assert received(other) == []


def test_a_repeated_message_is_delivered_once(node, redis_conn, match_id):
    with join(node, match_id) as viewer:
        for sequence in (1, 1, 2, 1):  # the repeats as a replayed chunk would send them
            redis_conn.publish(match_channel(match_id), score(match_id, sequence))
        assert [m["sequence"] for m in received(viewer)] == [1, 2]


def test_a_game_update_reaches_its_subscriber_only(node, redis_conn, match_id):
    subscriber = f"s-{uuid.uuid4().hex[:8]}"
    with (
        join(node, match_id, subscriber) as follower,
        join(node, match_id, f"{subscriber}-other") as other,
    ):
        update = {"update_id": "u-1", "subscriber_id": subscriber, "game_id": "g-1",
                  "node_id": node.node_id, "title": "Patch 1.2", "batch_id": 5,
                  "seq": 0}  # fmt: skip
        redis_conn.publish(node_channel(node.node_id), json.dumps(update))
        [message] = received(follower)
        assert (message["type"], message["title"]) == ("game", "Patch 1.2")
        assert received(other) == []


def test_a_client_beyond_capacity_is_closed_with_1013(start_node, match_id):
    small = start_node(capacity=2)
    with join(small, match_id), join(small, match_id):
        with (
            connect(admitted_url(small, match_id)) as third,
            pytest.raises(ConnectionClosed) as closed,
        ):
            third.recv(10)
        assert closed.value.rcvd.code == 1013
        assert "full" in closed.value.rcvd.reason


def test_a_browser_of_an_unlisted_origin_is_refused(node, match_id):
    with (
        pytest.raises(InvalidStatus) as refused,
        join(node, match_id, origin="https://elsewhere.example"),
    ):
        pass
    assert refused.value.response.status_code == 403
    with join(node, match_id, origin="http://localhost:3000"):
        pass  # an allowed origin (conf/pulse.yaml)


def test_bad_parameters_are_refused_before_the_upgrade(node):
    with pytest.raises(InvalidStatus) as refused, connect(f"{node.url}?client_id=c-1"):
        pass
    assert refused.value.response.status_code == 400
    assert b"match_id is missing" in refused.value.response.body


def test_a_node_heartbeats_its_count_and_leaves_cleanly_on_sigterm(start_node, registry, match_id):
    leaving = start_node()
    with join(leaving, match_id) as viewer:
        wait_for(lambda: registry.nodes[leaving.node_id]["connected"] == 1, 5, "a heartbeat with 1")
        assert leaving.stop() == 0
        with pytest.raises(ConnectionClosed) as closed:
            viewer.recv(10)
        assert closed.value.rcvd.code == 1001  # going away: ask the registry again
    assert leaving.node_id not in registry.nodes
    assert ("DELETE", f"/v1/nodes/{leaving.node_id}", None) in registry.calls
