"""The registry API as it runs: `pulse serve registry` in a subprocess over real HTTP, on a
MySQL database of its own (see `tests/services/conftest.py`)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mysql.connector.abstracts import MySQLConnectionAbstract

from pulse.config import MySQLConfig
from pulse.directory import read_directory
from pulse.routing import rendezvous_node
from pulse.services.admission_tokens import AdmissionKey, Grant
from pulse.services.registry.assignment import Node, client_node
from tests.conftest import ADMISSION_SECRET, PulseRunner, free_tcp_port
from tests.services.support import KEYS, Service


def unique(prefix: str) -> str:
    """An id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def add_node(registry: Service, node_id: str, capacity: int = 1000, cluster: str = "c1") -> None:
    """Register a live node."""
    body = {"cluster": cluster, "url": f"ws://127.0.0.1:9/{node_id}", "capacity": capacity}
    answer = registry.request("PUT", f"/v1/nodes/{node_id}", body)
    assert answer.status == 200, answer.body


def add_subscriber(registry: Service, games: tuple[str, ...] = ()) -> str:
    """Register a subscriber following `games`; its id."""
    subscriber = unique("sub")
    answer = registry.request("PUT", f"/v1/subscribers/{subscriber}", {"name": "Ann"})
    assert answer.status == 201, answer.body
    for game in games:
        assert (
            registry.request("PUT", f"/v1/subscribers/{subscriber}/subscriptions/{game}").status
            == 204
        )
    return subscriber


def register(registry: Service, client: str, match: str = "m-1") -> Any:
    """POST /v1/clients; the answer."""
    return registry.post("/v1/clients", {"client_id": client, "match_id": match})


def assign_again(registry: Service, client: str) -> Any:
    """POST /v1/clients/{client}/assignment; the answer."""
    return registry.request("POST", f"/v1/clients/{client}/assignment")


def subscriber_assignment(registry: Service, subscriber: str, client: str) -> Any:
    """POST /v1/subscribers/{subscriber}/assignment for `client`; the answer."""
    return registry.post(f"/v1/subscribers/{subscriber}/assignment", {"client_id": client})


def assert_token_admits(body: dict[str, Any], subscriber: str | None = None) -> None:
    """The answer's token lets its client in at its node (and nowhere else), for about
    `gateway.admission_token_seconds` (60) from now."""
    grant = Grant(
        client_id=body["client_id"],
        match_id=body["match_id"],
        subscriber_id=subscriber,
        node_id=body["node_id"],
    )
    key = AdmissionKey(ADMISSION_SECRET.encode())
    now = datetime.now(UTC).timestamp()
    key.check(body["token"], grant, now + 55)
    node_id, expires, _ = body["token"].split("~")
    assert node_id == body["node_id"]
    assert now + 58 <= int(expires) <= now + 61


def without_token(body: dict[str, Any]) -> dict[str, Any]:
    """An assignment's answer less its token (which changes with the time of asking)."""
    return {name: value for name, value in body.items() if name != "token"}


# -- keys and health ----------------------------------------------------------------------------


def test_health_answers_without_a_key(registry) -> None:
    answer = registry.request("GET", "/health", key=None)

    assert (answer.status, answer.body) == (200, {"status": "ok"})


@pytest.mark.parametrize("key", [None, "", "wrong-key", KEYS[0][:-1]])
def test_without_a_valid_api_key_the_answer_is_401(registry, key) -> None:
    answer = registry.request("GET", "/v1/nodes", key=key)

    assert answer.status == 401
    assert answer.body["error"] == "unauthorized"
    assert "X-API-Key" in answer.body["message"]


def test_every_configured_key_is_accepted(registry) -> None:
    assert [registry.request("GET", "/v1/nodes", key=key).status for key in KEYS] == [200, 200]


def test_an_unknown_path_is_a_json_404(registry) -> None:
    answer = registry.request("GET", "/v1/weather")

    assert (answer.status, answer.body["error"]) == (404, "not_found")


# -- subscribers ------------------------------------------------------------------------------


def test_a_subscriber_is_created_updated_read_and_deleted(registry) -> None:
    subscriber = unique("sub")
    path = f"/v1/subscribers/{subscriber}"

    created = registry.request("PUT", path, {"name": "Ann", "interests": ["rpg"]})
    updated = registry.request("PUT", path, {"name": "Ann B", "interests": ["rpg", "racing"]})
    assert registry.request("PUT", f"{path}/subscriptions/g-2").status == 204
    assert registry.request("PUT", f"{path}/subscriptions/g-1").status == 204
    assert registry.request("PUT", f"{path}/subscriptions/g-1").status == 204  # again: no change
    assert registry.request("DELETE", f"{path}/subscriptions/g-2").status == 204
    read = registry.request("GET", path)
    deleted = registry.request("DELETE", path)
    gone = registry.request("GET", path)

    assert created.status == 201
    assert created.body == {
        "subscriber_id": subscriber,
        "name": "Ann",
        "interests": ["rpg"],
        "games": [],
    }
    assert updated.status == 200
    assert read.body == {
        "subscriber_id": subscriber,
        "name": "Ann B",
        "interests": ["rpg", "racing"],
        "games": ["g-1"],
    }
    assert deleted.status == 204
    assert gone.status == 404


def test_deleting_a_subscriber_removes_its_subscriptions_and_keeps_its_inbox(
    registry, registry_db
) -> None:
    subscriber = add_subscriber(registry, games=("g-1",))
    _deliver(registry_db, subscriber, "u-1", datetime(2026, 1, 1, tzinfo=UTC))

    assert registry.request("DELETE", f"/v1/subscribers/{subscriber}").status == 204

    cur = registry_db.cursor()
    cur.execute("SELECT COUNT(*) FROM subscriptions WHERE subscriber_id = %s", (subscriber,))
    assert cur.fetchone()[0] == 0
    cur.execute("SELECT COUNT(*) FROM game_deliveries WHERE subscriber_id = %s", (subscriber,))
    assert cur.fetchone()[0] == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/subscribers/{id}", None),
        ("DELETE", "/v1/subscribers/{id}", None),
        ("PUT", "/v1/subscribers/{id}/subscriptions/g-1", None),
        ("DELETE", "/v1/subscribers/{id}/subscriptions/g-1", None),
        ("POST", "/v1/subscribers/{id}/assignment", {"client_id": "c-1"}),
        ("GET", "/v1/subscribers/{id}/inbox", None),
    ],
)
def test_an_unknown_subscriber_gets_404_naming_it(registry, method, path, body) -> None:
    subscriber = unique("nobody")

    answer = registry.request(method, path.format(id=subscriber), body)

    assert answer.status == 404
    assert (answer.body["field"], answer.body["value"]) == ("subscriber_id", subscriber)
    assert subscriber in answer.body["message"]


# -- refusals of bad input ----------------------------------------------------------------------

BAD_INPUT = [
    ("PUT", "/v1/subscribers/s-1", {"name": 7}, "name", 7),
    ("PUT", "/v1/subscribers/s-1", {"interests": []}, "name", None),
    ("PUT", "/v1/subscribers/s-1", {"name": "", "interests": []}, "name", ""),
    ("PUT", "/v1/subscribers/s-1", {"name": "A", "interests": ["x", 3]}, "interests.1", 3),
    ("PUT", "/v1/subscribers/s-1", {"name": "A", "nickname": "B"}, "nickname", "B"),
    ("PUT", "/v1/subscribers/s-1", [1, 2], "<body>", [1, 2]),
    ("PUT", "/v1/subscribers/s-1", b'{"name": ', "<body>", None),
    ("PUT", "/v1/subscribers/bad%20id", {"name": "A"}, "subscriber_id", "bad id"),
    ("PUT", "/v1/subscribers/" + "x" * 65, {"name": "A"}, "subscriber_id", "x" * 65),
    ("PUT", "/v1/subscribers/s-1/subscriptions/g%201", None, "game_id", "g 1"),
    ("GET", "/v1/subscribers/s-1/inbox?limit=0", None, "limit", "0"),
    ("GET", "/v1/subscribers/s-1/inbox?limit=1001", None, "limit", "1001"),
    ("GET", "/v1/subscribers/s-1/inbox?since=2026-01-01T00:00:00", None, "since", None),
    ("GET", "/v1/subscribers/s-1/inbox?since=yesterday", None, "since", "yesterday"),
    ("POST", "/v1/clients", {"client_id": "c-1"}, "match_id", None),
    ("POST", "/v1/clients", {"client_id": "c 1", "match_id": "m-1"}, "client_id", "c 1"),
    ("PUT", "/v1/nodes/n-1", {"cluster": "c", "url": "ws://h:1", "capacity": 0}, "capacity", 0),
    ("PUT", "/v1/nodes/n-1", {"cluster": "c", "url": "ws://h:1", "capacity": "5"}, "capacity", "5"),
    ("PUT", "/v1/nodes/n-1", {"cluster": "c", "url": "h:1", "capacity": 5}, "url", "h:1"),
    ("POST", "/v1/nodes/n-1/heartbeat", {"connected": -1}, "connected", -1),
]


@pytest.mark.parametrize(("method", "path", "body", "field", "value"), BAD_INPUT)
def test_bad_input_gets_422_naming_the_field_and_the_value(
    registry, method, path, body, field, value
) -> None:
    answer = registry.request(method, path, body, headers={"Content-Type": "application/json"})

    assert answer.status == 422, answer.body
    assert answer.body["error"] == "invalid"
    assert answer.body["field"] == field
    if value is not None:
        assert answer.body["value"] == value
    assert answer.body["message"].startswith(f"{field}: ")


def test_text_that_is_not_valid_unicode_is_refused_not_a_server_error(registry) -> None:
    answer = registry.request(
        "PUT",
        "/v1/subscribers/s-1",
        b'{"name": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )

    assert (answer.status, answer.body["field"]) == (422, "name")


# -- inbox ------------------------------------------------------------------------------------


def _deliver(
    db: MySQLConnectionAbstract, subscriber: str, update: str, at: datetime, game: str = "g-1"
) -> None:
    cur = db.cursor()
    cur.execute(
        "INSERT INTO game_deliveries (update_id, subscriber_id, game_id, node_id, title,"
        " delivered_at) VALUES (%s, %s, %s, %s, %s, %s)",
        (update, subscriber, game, None, f"title {update}", at.replace(tzinfo=None)),
    )
    cur.close()


def test_the_inbox_lists_updates_after_since_oldest_first_and_pages_through_ties(
    registry, registry_db
) -> None:
    subscriber = add_subscriber(registry)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for n, update in enumerate(["u-a", "u-b", "u-c"]):  # u-b and u-c share a time
        _deliver(registry_db, subscriber, update, start + timedelta(seconds=min(n, 1)))
    _deliver(registry_db, subscriber, "u-d", start + timedelta(seconds=2))
    path = f"/v1/subscribers/{subscriber}/inbox"

    everything = registry.request("GET", path).body["updates"]
    after_first = registry.request("GET", f"{path}?since=2026-03-01T12:00:00Z&limit=1").body
    last = after_first["updates"][-1]
    rest = registry.request(
        "GET", f"{path}?since={last['delivered_at']}&after={last['update_id']}"
    ).body

    assert [u["update_id"] for u in everything] == ["u-a", "u-b", "u-c", "u-d"]
    assert everything[0] == {
        "update_id": "u-a",
        "game_id": "g-1",
        "node_id": None,
        "title": "title u-a",
        "delivered_at": "2026-03-01T12:00:00Z",
    }
    assert [u["update_id"] for u in after_first["updates"]] == ["u-b"]
    assert [u["update_id"] for u in rest["updates"]] == ["u-c", "u-d"]


def test_an_inbox_since_in_another_zone_is_read_as_that_instant(registry, registry_db) -> None:
    subscriber = add_subscriber(registry)
    _deliver(registry_db, subscriber, "u-1", datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC))

    path = f"/v1/subscribers/{subscriber}/inbox?since=2026-03-01T13:00:00%2B01:00"
    assert [u["update_id"] for u in registry.request("GET", path).body["updates"]] == ["u-1"]


# -- nodes ------------------------------------------------------------------------------------


def test_a_node_registers_heartbeats_is_listed_and_deregisters(registry, registry_db) -> None:
    body = {"cluster": "c-east", "url": "ws://10.0.0.1:8090/ws", "capacity": 500}

    registered = registry.request("PUT", "/v1/nodes/n-1", body)
    beat = registry.post("/v1/nodes/n-1/heartbeat", {"connected": 42})
    listed = registry.request("GET", "/v1/nodes").body["nodes"]
    deleted = registry.request("DELETE", "/v1/nodes/n-1")

    assert registered.status == 200
    assert registered.body == {
        "node_id": "n-1",
        **body,
        "live": True,
        "assigned": 0,
        "connected": None,
    }
    assert beat.status == 204
    assert listed == [{**registered.body, "connected": 42}]
    assert deleted.status == 204
    assert registry.request("GET", "/v1/nodes").body == {"nodes": []}
    unknown = registry.post("/v1/nodes/n-1/heartbeat", {"connected": 1})
    assert (unknown.status, unknown.body["field"], unknown.body["value"]) == (
        404,
        "node_id",
        "n-1",
    )
    assert registry.request("DELETE", "/v1/nodes/n-1").status == 404


def test_a_node_without_a_recent_heartbeat_is_not_live_and_gets_no_client(
    registry, registry_db
) -> None:
    add_node(registry, "n-old")
    add_node(registry, "n-new")
    registry_db.cursor().execute(
        "UPDATE delivery_nodes SET last_heartbeat = last_heartbeat - INTERVAL 1 HOUR"
        " WHERE node_id = 'n-old'"
    )

    listed = {n["node_id"]: n["live"] for n in registry.request("GET", "/v1/nodes").body["nodes"]}
    placed = {register(registry, unique("c")).body["node_id"] for _ in range(20)}

    assert listed == {"n-old": False, "n-new": True}
    assert placed == {"n-new"}
    assert registry.post("/v1/nodes/n-old/heartbeat", {"connected": 0}).status == 204
    assert registry.request("GET", "/v1/nodes").body["nodes"][1]["live"] is True


# -- subscriber assignment --------------------------------------------------------------------


def test_a_subscriber_without_a_live_node_gets_503_no_live_node(registry, registry_db) -> None:
    subscriber, client = add_subscriber(registry), unique("c")
    register(registry, client)  # registered, with no node (503)

    answer = subscriber_assignment(registry, subscriber, client)

    assert (answer.status, answer.body["error"]) == (503, "no_live_node")
    assert answer.headers["retry-after"].isdigit()


def test_a_subscriber_is_assigned_the_node_the_live_job_routes_it_to(
    registry, registry_db, registry_mysql: MySQLConfig
) -> None:
    for n in range(4):
        add_node(registry, f"n-{n}", cluster=f"c-{n % 2}")
    subscribers = [add_subscriber(registry, games=("g-1",)) for _ in range(40)]
    client = unique("c")
    assert register(registry, client, "m-3").status == 200

    answers = {s: subscriber_assignment(registry, s, client).body for s in subscribers}
    live = read_directory(registry_mysql, heartbeat_seconds=15).live_nodes

    assert live == ["n-0", "n-1", "n-2", "n-3"]
    for subscriber, answer in answers.items():
        node = rendezvous_node(subscriber, live)
        assert without_token(answer) == {
            "client_id": client,
            "match_id": "m-3",
            "node_id": node,
            "cluster": f"c-{int(node[-1]) % 2}",
            "url": f"ws://127.0.0.1:9/{node}",
        }
        assert_token_admits(answer, subscriber)
    assert len({answer["node_id"] for answer in answers.values()}) > 1


def test_a_subscriber_assignment_for_a_client_never_registered_is_a_404_naming_it(
    registry, registry_db
) -> None:
    add_node(registry, "n-0")
    subscriber, client = add_subscriber(registry), unique("nobody")

    answer = subscriber_assignment(registry, subscriber, client)

    assert (answer.status, answer.body["field"], answer.body["value"]) == (404, "client_id", client)


@pytest.mark.parametrize("path", ["/v1/clients/c-1/assignment", "/v1/subscribers/s-1/assignment"])
def test_an_assignment_is_a_post_and_a_get_is_refused_with_405(registry, path) -> None:
    answer = registry.request("GET", path)

    assert (answer.status, answer.headers["allow"]) == (405, "POST")


# -- clients ----------------------------------------------------------------------------------


def test_a_client_registers_keeps_its_node_and_leaves(registry, registry_db) -> None:
    for n in range(3):
        add_node(registry, f"n-{n}")
    client = unique("c")

    registered = register(registry, client, "m-7")
    again = assign_again(registry, client)
    nodes = {
        n["node_id"]: n["assigned"] for n in registry.request("GET", "/v1/nodes").body["nodes"]
    }
    left = registry.request("DELETE", f"/v1/clients/{client}")

    node = rendezvous_node(client, ["n-0", "n-1", "n-2"])
    assert registered.status == 200
    assert without_token(registered.body) == {
        "client_id": client,
        "match_id": "m-7",
        "node_id": node,
        "cluster": "c1",
        "url": f"ws://127.0.0.1:9/{node}",
    }
    assert without_token(again.body) == without_token(registered.body)
    assert_token_admits(registered.body)
    assert_token_admits(again.body)
    assert nodes[node] == 1
    assert left.status == 204
    for method, path in [
        ("POST", f"/v1/clients/{client}/assignment"),
        ("DELETE", f"/v1/clients/{client}"),
    ]:
        gone = registry.request(method, path)
        assert (gone.status, gone.body["field"], gone.body["value"]) == (404, "client_id", client)


def test_with_no_live_node_a_client_gets_503_no_capacity_with_retry_after(
    registry, registry_db
) -> None:
    answer = register(registry, unique("c"))

    assert (answer.status, answer.body["error"]) == (503, "no_capacity")
    assert int(answer.headers["retry-after"]) > 0


def test_no_client_is_assigned_to_a_full_node(registry, registry_db) -> None:
    capacities = {"n-a": 3, "n-b": 5, "n-c": 7}
    for node, capacity in capacities.items():
        add_node(registry, node, capacity)
    clients = [f"c-{n:03d}-{uuid.uuid4().hex[:6]}" for n in range(20)]

    answers = {client: register(registry, client) for client in clients}

    placed = {c: a.body["node_id"] for c, a in answers.items() if a.status == 200}
    refused = [c for c, a in answers.items() if a.status == 503]
    assert Counter(placed.values()) == capacities  # every place taken, none over
    assert len(refused) == 20 - sum(capacities.values())
    # exactly the pure choice, client after client: the first-ranked node with room
    live = [Node(n, "c1", f"ws://127.0.0.1:9/{n}", cap) for n, cap in sorted(capacities.items())]
    load: Counter[str] = Counter()
    for client in clients:
        node = client_node(client, live, load)
        assert placed.get(client) == (node.node_id if node else None)
        load.update([node.node_id] if node else [])
    listed = registry.request("GET", "/v1/nodes").body["nodes"]
    assert {n["node_id"]: n["assigned"] for n in listed} == capacities
    # a client leaving frees a place for a refused one
    assert registry.request("DELETE", f"/v1/clients/{next(iter(placed))}").status == 204
    assert assign_again(registry, refused[0]).status == 200


def test_a_deregistered_node_moves_only_its_own_clients(registry, registry_db) -> None:
    nodes = [f"n-{n}" for n in range(4)]
    for node in nodes:
        add_node(registry, node)
    clients = [unique("c") for _ in range(200)]
    before = {c: register(registry, c).body["node_id"] for c in clients}

    assert registry.request("DELETE", "/v1/nodes/n-2").status == 204
    after = {c: assign_again(registry, c).body["node_id"] for c in clients}

    moved = {c for c in clients if before[c] != after[c]}
    assert moved == {c for c in clients if before[c] == "n-2"}
    assert 20 < len(moved) < 80  # about a quarter
    assert "n-2" not in after.values()
    assert before == {c: rendezvous_node(c, nodes) for c in clients}
    assert after == {c: rendezvous_node(c, ["n-0", "n-1", "n-3"]) for c in clients}


# -- start-up ---------------------------------------------------------------------------------


def test_the_registry_refuses_to_start_without_a_key(run_pulse: PulseRunner) -> None:
    result = run_pulse("serve", "registry", env={"PULSE_REGISTRY__API_KEYS": ""}, timeout=60)

    assert result.returncode == 1
    assert "PULSE_REGISTRY__API_KEYS" in result.stderr


def test_the_registry_refuses_to_start_without_the_admission_secret(
    run_pulse: PulseRunner,
) -> None:
    env = {"PULSE_REGISTRY__API_KEYS": KEYS[0], "PULSE_GATEWAY__ADMISSION_SECRET": ""}
    result = run_pulse("serve", "registry", env=env, timeout=60)

    assert result.returncode == 1
    assert "PULSE_GATEWAY__ADMISSION_SECRET" in result.stderr


def test_the_registry_names_mysql_when_it_cannot_reach_it(run_pulse: PulseRunner) -> None:
    result = run_pulse(
        "serve",
        "registry",
        env={"PULSE_REGISTRY__API_KEYS": KEYS[0], "PULSE_MYSQL__PORT": str(free_tcp_port())},
        timeout=60,
    )

    assert result.returncode == 1
    assert "mysql" in result.stderr


def test_the_openapi_document_describes_every_route_and_its_refusals(registry) -> None:
    document = registry.request("GET", "/openapi.json", key=None).body

    operations = {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert len(operations) == 15
    assert ("POST", "/v1/clients") in operations
    refusal = operations[("PUT", "/v1/nodes/{node_id}")]["responses"]["422"]
    assert refusal["content"]["application/json"]["schema"]["$ref"].endswith("/Problem")
    assert "HTTPValidationError" not in document["components"]["schemas"]
