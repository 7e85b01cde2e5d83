"""Game update fan-out over rendezvous routes, compared as DataFrames with chispa."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from pulse.events.domains import GAME
from pulse.events.spark import struct_type
from pulse.routing import rendezvous_node
from pulse.transforms.games import ROUTE_SCHEMA, fan_out, inbox_rows, routes_frame

pytestmark = pytest.mark.spark

T0 = datetime(2026, 11, 22, 20, 15, 0, tzinfo=UTC)
NODES = ["gw-a", "gw-b", "gw-c"]
SUBSCRIPTIONS = [("alice", "g1"), ("alice", "g2"), ("bob", "g1"), ("carol", "g2")]
DELIVERIES = (
    "update_id string, subscriber_id string, game_id string, node_id string, title string, "
    "kind string, ts timestamp"
)


def updates(spark: SparkSession, *rows: tuple[str, str, str]) -> DataFrame:
    """Valid game updates from (update_id, game_id, title)."""
    data = [(u, g, "news", title, None, None, 1, T0) for u, g, title in rows]
    return spark.createDataFrame(data, struct_type(GAME))


def test_routes_put_each_subscriber_on_its_rendezvous_node_for_all_its_games(spark):
    actual = routes_frame(spark, [*SUBSCRIPTIONS, ("bob", "g1")], NODES)
    node = {name: rendezvous_node(name, NODES) for name in ("alice", "bob", "carol")}
    expected = spark.createDataFrame([(s, g, node[s]) for s, g in SUBSCRIPTIONS], ROUTE_SCHEMA)
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_routes_without_live_nodes_have_no_node(spark):
    actual = routes_frame(spark, [("alice", "g1")], [])
    expected = spark.createDataFrame([("alice", "g1", None)], ROUTE_SCHEMA)
    assert_df_equality(actual, expected)


def test_an_update_reaches_every_subscriber_of_its_game_through_their_node(spark):
    routes = spark.createDataFrame(
        [("alice", "g1", "gw-a"), ("bob", "g1", None), ("carol", "g2", "gw-b")], ROUTE_SCHEMA
    )
    actual = fan_out(
        updates(spark, ("u1", "g1", "Patch 1.4"), ("u2", "g9", "Nobody follows g9")), routes
    )
    expected = spark.createDataFrame(
        [
            ("u1", "alice", "g1", "gw-a", "Patch 1.4", "news", T0),
            ("u1", "bob", "g1", None, "Patch 1.4", "news", T0),  # no live node: inbox only
        ],
        DELIVERIES,
    )
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_inbox_rows_are_the_game_deliveries_columns_delivered_at_the_update_time(spark):
    deliveries = spark.createDataFrame(
        [("u1", "alice", "g1", "gw-a", "Patch 1.4", "news", T0)], DELIVERIES
    )
    expected = spark.createDataFrame(
        [("u1", "alice", "g1", "gw-a", "Patch 1.4", T0)],
        "update_id string, subscriber_id string, game_id string, node_id string, "
        "title string, delivered_at timestamp",
    )
    assert_df_equality(inbox_rows(deliveries), expected, ignore_nullable=True)
