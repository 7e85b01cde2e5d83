"""Rendezvous hashing: stable, minimal movement when nodes come and go, capacity honoured."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from pulse.routing import assign_with_capacity, rank_nodes, rendezvous_node, weight

NODES = [f"node-{i}" for i in range(5)]
KEYS = [f"sub-{i:05d}" for i in range(10_000)]


def placement(nodes: list[str]) -> dict[str, str | None]:
    return {key: rendezvous_node(key, nodes) for key in KEYS}


def test_the_weight_is_the_same_in_every_process():
    # Python's hash() is salted per process; blake2b is not. Pinned values catch a change.
    code = "from pulse.routing import weight; print(weight('node-1', 'sub-1'))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert int(other) == weight("node-1", "sub-1") == 1460327526481603306


def test_routing_does_not_import_spark():
    # The delivery services import this module and have no Spark.
    code = "import sys, pulse.routing; print('pyspark' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert result.strip() == "False"


def test_the_choice_depends_only_on_the_key_and_the_set_of_nodes():
    assert rendezvous_node("sub-1", NODES) == rendezvous_node("sub-1", list(reversed(NODES)))
    assert rank_nodes("sub-1", NODES) == rank_nodes("sub-1", NODES + NODES[:2])
    assert rank_nodes("sub-1", NODES)[0] == rendezvous_node("sub-1", NODES)
    assert sorted(rank_nodes("sub-1", NODES)) == sorted(NODES)


def test_keys_spread_over_all_nodes():
    counts = Counter(placement(NODES).values())
    assert set(counts) == set(NODES)
    assert all(0.8 * 2000 < count < 1.2 * 2000 for count in counts.values())


def test_adding_a_node_moves_about_one_in_n_plus_one_keys_all_to_it():
    before = placement(NODES)
    after = placement([*NODES, "node-new"])
    moved = [key for key in KEYS if before[key] != after[key]]
    expected = len(KEYS) / (len(NODES) + 1)
    assert 0.6 * expected <= len(moved) <= 1.4 * expected
    assert {after[key] for key in moved} == {"node-new"}


def test_removing_a_node_moves_only_its_own_keys():
    before = placement(NODES)
    after = placement([node for node in NODES if node != "node-2"])
    moved = {key for key in KEYS if before[key] != after[key]}
    assert moved == {key for key in KEYS if before[key] == "node-2"}
    assert "node-2" not in after.values()


def test_no_nodes_means_no_node():
    assert rendezvous_node("sub-1", []) is None
    assert rank_nodes("sub-1", []) == []
    assert assign_with_capacity(["sub-1"], {}) == {"sub-1": None}


def test_capacity_is_honoured_and_the_overflow_goes_to_the_next_choice():
    keys = KEYS[:100]
    placed = assign_with_capacity(keys, {"a": 10, "b": 50, "c": 90}, load={"b": 45})
    counts = Counter(placed.values())
    # About a third of the keys prefer each node: a and b overflow, c takes the rest.
    assert counts == {"a": 10, "b": 5, "c": 85}
    for key, node in placed.items():
        preferred = rank_nodes(key, ["a", "b", "c"])
        # every node this key prefers to the one it got is full
        for better in preferred[: preferred.index(node)]:
            assert counts[better] == {"a": 10, "b": 5, "c": 90}[better]


def test_keys_that_fit_nowhere_get_no_node():
    placed = assign_with_capacity(KEYS[:5], {"a": 2, "b": 1})
    assert Counter(placed.values()) == {"a": 2, "b": 1, None: 2}


def test_with_room_to_spare_capacity_changes_nothing():
    placed = assign_with_capacity(KEYS[:500], dict.fromkeys(NODES, 1000))
    assert placed == {key: rendezvous_node(key, NODES) for key in KEYS[:500]}
