"""spark-submit jobs/live.py — the live aggregations: emoji windows, scoreboards, game fan-out.

Four queries, each with its checkpoint and one foreachBatch writing all its sinks exactly once:
emoji counts per 2-second event-time window (PostgreSQL, Redis latest per match + channel, Kafka
`emoji.aggregated`), scoreboards by highest sequence (Redis `match:{id}` + channel, PostgreSQL),
player stat totals (PostgreSQL), and game updates fanned out to subscribers routed to their
delivery node by rendezvous hashing (MySQL inbox, Redis channel of the node).
"""

from pyspark.sql import functions as F

from pulse.directory import read_directory
from pulse.queries import QuerySpec, open_job, run
from pulse.sinks.base import Derived
from pulse.sinks.kafka import KafkaOutput
from pulse.sinks.mysql import MySQLUpsert
from pulse.sinks.postgres import PostgresUpsert
from pulse.sinks.redis import RedisState
from pulse.streams import domain_events
from pulse.transforms.emoji import WINDOW_COLUMNS, emoji_windows, top_by_match
from pulse.transforms.games import INBOX_COLUMNS, fan_out, inbox_rows, routes_frame
from pulse.transforms.sports import (
    PLAYER_STAT_COLUMNS,
    SCOREBOARD_COLUMNS,
    player_stat_totals,
    scoreboard,
)

args, conf, spark = open_job("live", __doc__)


def events(domain: str):
    return domain_events(spark, conf, domain)


windows = emoji_windows(
    events("emoji"),
    window_seconds=conf.emoji.window_seconds,
    watermark_seconds=conf.streaming.watermark_seconds,
    ratio=conf.emoji.ratio,
)
emoji = QuerySpec(
    "emoji_windows",
    windows,
    [
        PostgresUpsert(
            "postgres", conf.postgres, "emoji_windows", WINDOW_COLUMNS[:3], WINDOW_COLUMNS
        ),
        Derived(
            RedisState(
                "redis",
                conf.redis,
                "emoji:{match_id}",
                ("match_id", "window_start", "top"),
                channel="emoji:{match_id}",
            ),
            lambda batch: top_by_match(batch, conf.emoji.top_n),
        ),
        KafkaOutput("kafka", conf.kafka, conf.topics.emoji_aggregated.name, key_column="match_id"),
    ],
    output_mode="update",
)

sports = events("sports")
scores = QuerySpec(
    "scoreboard",
    scoreboard(sports),
    [
        PostgresUpsert(
            "postgres",
            conf.postgres,
            "match_scores",
            ("match_id",),
            SCOREBOARD_COLUMNS,
            guard="EXCLUDED.sequence > match_scores.sequence",
        ),
        RedisState(
            "redis",
            conf.redis,
            "match:{match_id}",
            SCOREBOARD_COLUMNS,
            channel="match:{match_id}",
            version_field="sequence",
        ),
    ],
    output_mode="update",
)
stats = QuerySpec(
    "player_stats",
    player_stat_totals(sports, watermark_seconds=conf.streaming.dedupe_seconds),
    [
        PostgresUpsert(
            "postgres",
            conf.postgres,
            "player_stats",
            ("match_id", "player_id", "stat"),
            PLAYER_STAT_COLUMNS,
        )
    ],
    output_mode="update",
)


def routed(updates, ctx):
    """Fan each update out to the subscribers of its game, as registered right now."""
    directory = read_directory(conf.mysql, conf.streaming.node_heartbeat_seconds)
    routes = routes_frame(updates.sparkSession, directory.subscriptions, directory.live_nodes)
    return inbox_rows(fan_out(updates, routes))


games = QuerySpec(
    "game_fanout",
    events("game"),
    [
        MySQLUpsert("mysql", conf.mysql, "game_deliveries", INBOX_COLUMNS[:2], INBOX_COLUMNS),
        Derived(
            RedisState(
                "redis",
                conf.redis,
                "delivery:{update_id}:{subscriber_id}",
                INBOX_COLUMNS,
                ttl_seconds=conf.redis.event_ttl_seconds,
                channel="node:{node_id}",
            ),
            lambda batch: batch.where(F.col("node_id").isNotNull()),
        ),
    ],
    prepare=routed,
)
raise SystemExit(run(spark, [emoji, scores, stats, games], conf, available_now=args.available_now))
