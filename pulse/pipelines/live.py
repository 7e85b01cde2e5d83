"""The live aggregations: emoji windows, scoreboards, player stats, game fan-out.

Four queries, each with its checkpoint and one foreachBatch writing all its sinks exactly once:
emoji counts per 2-second event-time window (PostgreSQL, Redis latest per match + channel, Kafka
`emoji.aggregated`), scoreboards by highest sequence (Redis `match:{id}` + channel, PostgreSQL),
player stat totals (PostgreSQL), and game updates fanned out to subscribers routed to their
delivery node by rendezvous hashing (MySQL inbox, Redis channel of the node).

Every query is stateless in Spark: each batch is computed once on the driver as Arrow, with the
little state the emoji and stat queries need kept beside their checkpoints (pulse.batchstate).
"""

from __future__ import annotations

from functools import partial

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession

from pulse.batchstate import BatchState
from pulse.config import PulseConfig
from pulse.directory import read_directory
from pulse.progress import note_late
from pulse.queries import QuerySpec, checkpoint_of
from pulse.sinks.base import BatchContext, Derived
from pulse.sinks.kafka import KafkaOutput
from pulse.sinks.mysql import MySQLUpsert
from pulse.sinks.postgres import PostgresUpsert
from pulse.sinks.redis import RedisState
from pulse.sinks.values import collect_batch
from pulse.streams import domain_events
from pulse.transforms import emoji
from pulse.transforms.games import INBOX_COLUMNS, fan_out, inbox_rows, routes_frame
from pulse.transforms.horizon import Horizon, admit
from pulse.transforms.sports import (
    PLAYER_STAT_COLUMNS,
    SCOREBOARD_COLUMNS,
    player_stat_deltas,
    scoreboard,
)

STATE_DIR = "pulse-state"  # beside Spark's own files in a query's checkpoint


class EmojiCounter:
    """The emoji query's `prepare`: the batch counted on the driver against its state; the
    windows go to the sinks, the top-N of the same batch waits in `top` for the Redis sink."""

    def __init__(self, conf: PulseConfig, query: str) -> None:
        self._conf = conf.emoji
        self._delay = round(conf.streaming.watermark_seconds * 1_000_000)
        self._width = round(conf.emoji.window_seconds * 1_000_000)
        self._watermark = conf.streaming.watermark_seconds
        self._store: BatchState[emoji.EmojiState, emoji.EmojiDelta] = BatchState(
            checkpoint_of(conf, query) / STATE_DIR,
            initial=emoji.EmojiState.empty(),
            fold=partial(emoji.fold, window_us=self._width, delay_us=self._delay),
            watermark=lambda state: state.horizon.watermark,
        )
        self.top = emoji.TOP_SCHEMA.empty_table()

    def __call__(self, frame: DataFrame, ctx: BatchContext) -> pa.Table:
        events = collect_batch(frame.select("event_id", "match_id", "emoji", "ts"))
        counted = emoji.count_emojis(
            events,
            self._store.before(ctx.batch_id),
            window_seconds=self._conf.window_seconds,
            watermark_seconds=self._watermark,
            ratio=self._conf.ratio,
            top_n=self._conf.top_n,
        )
        self._store.record(
            ctx.batch_id,
            delta=counted.delta,
            state=counted.state,
            needed_until=emoji.needed_until(
                counted.delta, window_us=self._width, delay_us=self._delay
            ),
        )
        note_late(ctx.query, ctx.batch_id, counted.late)
        self.top = counted.top
        return counted.windows


class StatDeltas:
    """The player-stats query's `prepare`: each event once within `streaming.dedupe_seconds`
    (deltas are not idempotent), then this batch's sums, added by the sink."""

    def __init__(self, conf: PulseConfig, query: str) -> None:
        self._delay = round(conf.streaming.dedupe_seconds * 1_000_000)
        self._store: BatchState[Horizon, tuple[pa.Table, int | None]] = BatchState(
            checkpoint_of(conf, query) / STATE_DIR,
            initial=Horizon.empty(),
            fold=lambda horizon, delta: horizon.advanced(delta[0], delta[1], self._delay),
            watermark=lambda horizon: horizon.watermark,
        )

    def __call__(self, frame: DataFrame, ctx: BatchContext) -> pa.Table:
        events = collect_batch(frame.select("event_id", "ts", "match_id", "player_stats"))
        admitted = admit(events, self._store.before(ctx.batch_id), delay_us=self._delay)
        added = admitted.added
        newest = pc.max(added["ts"]).as_py() if added.num_rows else None
        self._store.record(
            ctx.batch_id,
            delta=(added, admitted.horizon.watermark),
            state=admitted.horizon,
            needed_until=None if newest is None else newest + self._delay,
        )
        note_late(ctx.query, ctx.batch_id, admitted.late)
        return player_stat_deltas(admitted.fresh)


def queries(spark: SparkSession, conf: PulseConfig) -> list[QuerySpec]:
    """The live job's four queries, each on the live trigger (`streaming.trigger_seconds`)."""
    trigger = conf.streaming.trigger_seconds

    def events(domain: str) -> DataFrame:
        return domain_events(spark, conf, domain, trigger_seconds=trigger)

    counter = EmojiCounter(conf, "emoji_windows")
    windows = QuerySpec(
        "emoji_windows",
        events("emoji"),
        [
            PostgresUpsert(
                "postgres",
                conf.postgres,
                "emoji_windows",
                ("match_id", "emoji", "window_start"),
                emoji.WINDOW_COLUMNS,
            ),
            Derived(
                RedisState(
                    "redis",
                    conf.redis,
                    "emoji:{match_id}",
                    emoji.TOP_COLUMNS,
                    channel="emoji:{match_id}",
                ),
                lambda _: counter.top,
            ),
            KafkaOutput(
                "kafka", conf.kafka, conf.topics.emoji_aggregated.name, key_column="match_id"
            ),
        ],
        trigger_seconds=trigger,
        prepare=counter,
    )

    sports = events("sports")
    scores = QuerySpec(
        "scoreboard",
        sports,
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
        trigger_seconds=trigger,
        prepare=lambda batch, ctx: collect_batch(scoreboard(batch)),
    )
    stats = QuerySpec(
        "player_stats",
        sports,
        [
            PostgresUpsert(
                "postgres",
                conf.postgres,
                "player_stats",
                ("match_id", "player_id", "stat"),
                PLAYER_STAT_COLUMNS,
                merge=(
                    ("total", "player_stats.total + EXCLUDED.total"),
                    ("team", "GREATEST(player_stats.team, EXCLUDED.team)"),
                ),
            )
        ],
        trigger_seconds=trigger,
        prepare=StatDeltas(conf, "player_stats"),
    )

    def routed(updates: DataFrame, ctx: BatchContext) -> pa.Table:
        """Fan each update out to the subscribers of its game, as registered right now."""
        directory = read_directory(conf.mysql, conf.streaming.node_heartbeat_seconds)
        routes = routes_frame(updates.sparkSession, directory.subscriptions, directory.live_nodes)
        return collect_batch(inbox_rows(fan_out(updates, routes)))

    games = QuerySpec(
        "game_fanout",
        events("game"),
        [
            MySQLUpsert(
                "mysql",
                conf.mysql,
                "game_deliveries",
                ("update_id", "subscriber_id"),
                INBOX_COLUMNS,
            ),
            Derived(
                RedisState(
                    "redis",
                    conf.redis,
                    "delivery:{update_id}:{subscriber_id}",
                    INBOX_COLUMNS,
                    ttl_seconds=conf.redis.event_ttl_seconds,
                    channel="node:{node_id}",
                ),
                lambda batch: batch.filter(pc.is_valid(batch["node_id"])),
            ),
        ],
        trigger_seconds=trigger,
        prepare=routed,
    )
    return [windows, scores, stats, games]
