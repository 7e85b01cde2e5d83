"""Game updates: fan each update out to the subscribers of its game, each via its delivery node.

The node of each subscriber is chosen on the driver by rendezvous hashing over the live nodes
(`routes_frame`); the fan-out itself is a stateless stream-static join, so a replayed batch
produces the same rows and the inbox upsert by (update_id, subscriber_id) stays exact.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pulse.routing import rendezvous_node

ROUTE_SCHEMA = T.StructType(
    [
        T.StructField("subscriber_id", T.StringType(), nullable=False),
        T.StructField("game_id", T.StringType(), nullable=False),
        T.StructField("node_id", T.StringType(), nullable=True),
    ]
)
DELIVERY_COLUMNS = ("update_id", "subscriber_id", "game_id", "node_id", "title", "kind", "ts")
INBOX_COLUMNS = ("update_id", "subscriber_id", "game_id", "node_id", "title", "delivered_at")


def routes_frame(
    spark: SparkSession, subscriptions: Iterable[tuple[str, str]], live_nodes: list[str]
) -> DataFrame:
    """One row per (subscriber_id, game_id) subscription with the subscriber's node.

    The node is keyed by subscriber, not by subscription: all the games of one subscriber go
    through the same node, where its one WebSocket lives. With no live node, node_id is null.
    Driver-side: `subscriptions` is the (small) subscriptions table; repeats are dropped.
    """
    rows = [
        (subscriber_id, game_id, rendezvous_node(subscriber_id, live_nodes))
        for subscriber_id, game_id in sorted(set(subscriptions))
    ]
    return spark.createDataFrame(rows, ROUTE_SCHEMA)


def fan_out(updates: DataFrame, routes: DataFrame) -> DataFrame:
    """One row per (update, subscriber of its game): `DELIVERY_COLUMNS`.

    `updates` are valid game events (streaming or static), `routes` the output of
    `routes_frame`. Updates of a game nobody follows produce no row. node_id is null for a
    subscriber without a live node: the update lands in its inbox only.
    """
    joined = updates.join(routes, on="game_id", how="inner")
    return joined.select(*DELIVERY_COLUMNS)


def inbox_rows(deliveries: DataFrame) -> DataFrame:
    """The `game_deliveries` columns of `fan_out` rows: `INBOX_COLUMNS`.

    `delivered_at` is the update's event time `ts`, not the wall clock: the inbox is ordered by
    when the news happened, and a replayed batch writes identical rows. node_id stays null for
    subscribers without a live node; the MySQL table needs it nullable for those rows.
    """
    return deliveries.select(
        "update_id",
        "subscriber_id",
        "game_id",
        "node_id",
        "title",
        F.col("ts").alias("delivered_at"),
    )
