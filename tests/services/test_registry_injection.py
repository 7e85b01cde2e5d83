"""The registry API and SQL injection: free text (names, interests, node URLs) is stored and
given back as the text it is; ids, whose pattern leaves no room for SQL, are refused with a 422
naming the field; every table is still there afterwards."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.hostile import INJECTIONS
from tests.services.support import Service

pytestmark = pytest.mark.broker


def test_free_text_with_sql_in_it_is_stored_and_read_back_verbatim(
    registry: Service, registry_db
) -> None:
    for number, text in enumerate(INJECTIONS):
        path = f"/v1/subscribers/inj-{number}"
        put = registry.request("PUT", path, {"name": text, "interests": [text, "rpg"]})
        assert put.status == 201, put.body
        assert registry.request("GET", path).body["name"] == text
        assert registry.request("GET", path).body["interests"] == [text, "rpg"]

    url = "ws://127.0.0.1:9/');DROP%20TABLE%20delivery_nodes;--"
    body = {"cluster": "c", "url": url, "capacity": 1}
    node = registry.request("PUT", "/v1/nodes/inj-node", body)
    assert node.status in (200, 201), node.body
    listed = registry.request("GET", "/v1/nodes").body
    assert url in {n["url"] for n in listed["nodes"]}

    cur = registry_db.cursor()
    for table in ("subscribers", "subscriptions", "delivery_nodes", "clients", "game_deliveries"):
        cur.execute(f"SELECT count(*) FROM {table}")
        cur.fetchall()
    cur.execute("SELECT count(*) FROM subscribers WHERE subscriber_id LIKE 'inj-%'")
    assert cur.fetchone()[0] == len(INJECTIONS)


@pytest.mark.parametrize("text", INJECTIONS[:4])
def test_an_id_with_sql_in_it_is_refused_naming_the_field(registry: Service, text: str) -> None:
    quoted = quote(text, safe="")
    attempts = {
        "subscriber_id": registry.request("PUT", f"/v1/subscribers/{quoted}", {"name": "n"}),
        "game_id": registry.request("PUT", f"/v1/subscribers/s-1/subscriptions/{quoted}"),
        "node_id": registry.request(
            "PUT", f"/v1/nodes/{quoted}", {"cluster": "c", "url": "ws://h:1", "capacity": 1}
        ),
        "client_id": registry.request("POST", "/v1/clients", {"client_id": text, "match_id": "m"}),
        "match_id": registry.request("POST", "/v1/clients", {"client_id": "c", "match_id": text}),
    }

    for field, answer in attempts.items():
        assert answer.status == 422, (field, answer.body)
        assert field in str(answer.body), (field, answer.body)
