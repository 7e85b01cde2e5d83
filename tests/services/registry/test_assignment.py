"""Assignment choices: subscribers as the live job routes them, clients to the first-ranked
node with room, one client at a time as the registry places them."""

from __future__ import annotations

from collections import Counter

from pulse.routing import rank_nodes, rendezvous_node
from pulse.services.registry.assignment import Node, client_node, subscriber_node

# Room for every client: capacity matters only where a test makes it small.
NODES = [Node(f"n-{i}", f"c-{i % 3}", f"ws://h/{i}", capacity=10_000) for i in range(6)]
IDS = [node.node_id for node in NODES]
CLIENTS = [f"client-{i:05d}" for i in range(10_000)]


def place_one_by_one(clients: list[str], nodes: list[Node]) -> dict[str, str | None]:
    """Each client in turn, its load counting those placed before it (as the registry does)."""
    load: Counter[str] = Counter()
    placed: dict[str, str | None] = {}
    for client in clients:
        node = client_node(client, nodes, load)
        placed[client] = node.node_id if node else None
        load.update([node.node_id] if node else [])
    return placed


def test_a_subscriber_gets_the_node_of_rendezvous_hashing() -> None:
    for subscriber in CLIENTS[:200]:
        node = subscriber_node(subscriber, NODES)
        assert node is not None and node.node_id == rendezvous_node(subscriber, IDS)


def test_with_no_live_node_nobody_gets_a_node() -> None:
    assert subscriber_node("s-1", []) is None
    assert client_node("c-1", [], {}) is None


def test_with_room_everywhere_a_client_gets_its_rendezvous_node() -> None:
    placed = place_one_by_one(CLIENTS[:1000], NODES)

    assert placed == {client: rendezvous_node(client, IDS) for client in CLIENTS[:1000]}


def test_a_client_skips_full_nodes_in_its_ranking_order() -> None:
    ranking = rank_nodes("c-1", IDS)
    load = {ranking[0]: 5, ranking[1]: 7}
    small = [Node(n.node_id, n.cluster, n.url, load.get(n.node_id, 1000)) for n in NODES]

    roomy = client_node("c-1", NODES, load)
    skipped = client_node("c-1", small, load)

    assert roomy is not None and roomy.node_id == ranking[0]
    assert skipped is not None and skipped.node_id == ranking[2]


def test_the_load_of_a_client_does_not_count_itself() -> None:
    # A client already on a node with one place is not pushed off it by its own place.
    only = [Node("n-0", "c", "ws://h/0", capacity=1)]
    assert client_node("c-1", only, {}) == only[0]
    assert client_node("c-2", only, {"n-0": 1}) is None


def test_with_small_capacities_nobody_is_placed_on_a_full_node() -> None:
    small = [Node(n.node_id, n.cluster, n.url, capacity=10 + 5 * i) for i, n in enumerate(NODES)]
    capacity = {n.node_id: n.capacity for n in small}

    placed = place_one_by_one(CLIENTS[:300], small)

    counts = Counter(placed.values())
    assert counts == {**capacity, None: 300 - sum(capacity.values())}
    load: Counter[str] = Counter()
    for client in CLIENTS[:300]:
        ranking = rank_nodes(client, IDS)
        chosen = placed[client]
        preferred = ranking if chosen is None else ranking[: ranking.index(chosen)]
        # every node it preferred to the one it got was full when it came
        assert all(load[node] == capacity[node] for node in preferred)
        load.update([chosen] if chosen else [])


def test_adding_a_node_moves_about_one_in_n_plus_one_clients_all_to_it() -> None:
    before = place_one_by_one(CLIENTS, NODES)
    grown = [*NODES, Node("n-new", "c", "u", 10_000)]
    after = place_one_by_one(CLIENTS, grown)

    moved = [client for client in CLIENTS if before[client] != after[client]]
    expected = len(CLIENTS) / len(grown)
    assert 0.85 * expected <= len(moved) <= 1.15 * expected
    assert {after[client] for client in moved} == {"n-new"}


def test_removing_a_node_moves_only_its_clients() -> None:
    before = place_one_by_one(CLIENTS, NODES)
    after = place_one_by_one(CLIENTS, [n for n in NODES if n.node_id != "n-3"])

    moved = {client for client in CLIENTS if before[client] != after[client]}
    assert moved == {client for client in CLIENTS if before[client] == "n-3"}


def test_placement_is_deterministic() -> None:
    assert place_one_by_one(CLIENTS[:500], NODES) == place_one_by_one(
        CLIENTS[:500], list(reversed(NODES))
    )
