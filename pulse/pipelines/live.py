"""The live aggregations: emoji windows, scoreboards, player stats, game fan-out.

One query over the emoji, sports and game topics, one foreachBatch writing all its sinks exactly
once; the batch is decoded and computed on the driver in Arrow, with the little state it needs
beside the checkpoint (docs/ARCHITECTURE.md, "Where a batch is computed")."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession

from pulse import livestate, outputs
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
from pulse.streams import BatchInput, topic_records
from pulse.transforms import emoji
from pulse.transforms.decode import sort_tables
from pulse.transforms.games import INBOX_COLUMNS, inbox
from pulse.transforms.horizon import Horizon, admit
from pulse.transforms.sports import (
    PLAYER_STAT_COLUMNS,
    SCOREBOARD_COLUMNS,
    player_stat_deltas,
    scoreboard,
)

log = logging.getLogger("pulse.pipelines.live")

QUERY = "live"
DOMAINS = ("emoji", "sports", "game")
STATE_DIR = "pulse-state"  # beside Spark's own files in the query's checkpoint


@dataclass(frozen=True)
class LiveBatch:
    """Everything one batch gives its sinks, computed once."""

    windows: pa.Table  # emoji.WINDOW_COLUMNS, absolute counts of the windows touched
    top: pa.Table  # emoji.TOP_COLUMNS, per match touched
    scores: pa.Table  # SCOREBOARD_COLUMNS, the highest sequence per match in the batch
    stats: pa.Table  # PLAYER_STAT_COLUMNS, this batch's sums (added by the sink)
    inbox: pa.Table  # INBOX_COLUMNS


class EmojiCounter:
    """Counts each batch's emoji events against the state of the batches before it."""

    def __init__(self, conf: PulseConfig, directory: str) -> None:
        self._conf = conf.emoji
        self._watermark = conf.streaming.watermark_seconds
        self._delay = round(self._watermark * 1_000_000)
        self._width = round(conf.emoji.window_seconds * 1_000_000)
        self._store: BatchState[emoji.EmojiState, emoji.EmojiDelta] = BatchState(
            directory,
            initial=emoji.EmojiState.empty(),
            fold=partial(emoji.fold, window_us=self._width, delay_us=self._delay),
            watermark=lambda state: state.horizon.watermark,
        )

    def __call__(self, events: pa.Table, batch_id: int) -> emoji.EmojiBatch:
        counted = emoji.count_emojis(
            events,
            self._store.before(batch_id),
            window_seconds=self._conf.window_seconds,
            watermark_seconds=self._watermark,
            ratio=self._conf.ratio,
            top_n=self._conf.top_n,
        )
        needed = emoji.needed_until(counted.delta, window_us=self._width, delay_us=self._delay)
        self._store.record(batch_id, delta=counted.delta, state=counted.state, needed_until=needed)
        return counted


class StatDeltas:
    """Each sports event once within `streaming.dedupe_seconds` (stat deltas are not
    idempotent), then this batch's sums per player and stat."""

    def __init__(self, conf: PulseConfig, directory: str) -> None:
        self._delay = round(conf.streaming.dedupe_seconds * 1_000_000)
        self._store: BatchState[Horizon, tuple[pa.Table, int | None]] = BatchState(
            directory,
            initial=Horizon.empty(),
            fold=lambda horizon, delta: horizon.advanced(delta[0], delta[1], self._delay),
            watermark=lambda horizon: horizon.watermark,
        )

    def __call__(self, events: pa.Table, batch_id: int) -> tuple[pa.Table, int]:
        """This batch's sums, and how many events were late."""
        admitted = admit(events, self._store.before(batch_id), delay_us=self._delay)
        added = admitted.added
        newest = pc.max(added["ts"]).as_py() if added.num_rows else None
        self._store.record(
            batch_id,
            delta=(added, admitted.horizon.watermark),
            state=admitted.horizon,
            needed_until=emoji.NOTHING_NEEDED if newest is None else newest + self._delay,
        )
        return player_stat_deltas(admitted.fresh), admitted.late


class LivePrepare:
    """The query's `prepare`: the raw batch collected once, decoded, and every output of it."""

    def __init__(self, conf: PulseConfig) -> None:
        self._conf = conf
        self._topics = {getattr(conf.topics, domain).name: domain for domain in DOMAINS}
        self._input = BatchInput(conf, QUERY, ",".join(self._topics))
        state = checkpoint_of(conf, QUERY) / STATE_DIR
        self._emoji = EmojiCounter(conf, str(state / "emoji"))
        self._stats = StatDeltas(conf, str(state / "player_stats"))

    def __call__(self, frame: DataFrame, ctx: BatchContext) -> LiveBatch:
        began = time.perf_counter()
        raw = self._input.read(ctx).records
        read = time.perf_counter()
        events = sort_tables(raw, self._topics).events
        decoded = time.perf_counter()
        reactions, sports = events["emoji"], events["sports"]
        counted = self._emoji(
            reactions.select(["event_id", "match_id", "emoji", "ts"]), ctx.batch_id
        )
        stats, late_stats = self._stats(sports, ctx.batch_id)
        note_late(ctx.query, ctx.batch_id, counted.late + late_stats)
        updates = events["game"]
        if updates.num_rows:
            directory = read_directory(
                self._conf.mysql, self._conf.streaming.node_heartbeat_seconds
            )
            deliveries = inbox(updates, directory.subscriptions, directory.live_nodes)
        else:
            deliveries = inbox(updates, (), [])
        batch = LiveBatch(counted.windows, counted.top, scoreboard(sports), stats, deliveries)
        log.info(
            "%s batch %d: %d records read in %.2f s, decoded in %.2f s, computed in %.2f s",
            ctx.query,
            ctx.batch_id,
            raw.num_rows,
            read - began,
            decoded - read,
            time.perf_counter() - decoded,
        )
        return batch


def queries(spark: SparkSession, conf: PulseConfig) -> list[QuerySpec]:
    """The live job's one query, on `streaming.trigger_seconds`."""
    trigger = conf.streaming.trigger_seconds
    topics = ",".join(getattr(conf.topics, domain).name for domain in DOMAINS)
    sinks = [
        Derived(
            PostgresUpsert(
                "emoji_windows",
                conf.postgres,
                outputs.EMOJI_WINDOWS.upsert(emoji.WINDOW_COLUMNS),
            ),
            lambda batch: batch.windows,
        ),
        Derived(
            RedisState(
                "emoji_top",
                conf.redis,
                livestate.EMOJI,
                emoji.TOP_COLUMNS,
                channel=livestate.EMOJI,
            ),
            lambda batch: batch.top,
        ),
        Derived(
            KafkaOutput(
                "emoji_aggregated",
                conf.kafka,
                conf.topics.emoji_aggregated.name,
                key_column="match_id",
            ),
            lambda batch: batch.windows,
        ),
        Derived(
            PostgresUpsert(
                "match_scores",
                conf.postgres,
                outputs.MATCH_SCORES.upsert(SCOREBOARD_COLUMNS, newer_by="sequence"),
            ),
            lambda batch: batch.scores,
        ),
        Derived(
            RedisState(
                "match_state",
                conf.redis,
                livestate.MATCH,
                SCOREBOARD_COLUMNS,
                channel=livestate.MATCH,
                version_field="sequence",
            ),
            lambda batch: batch.scores,
        ),
        Derived(
            PostgresUpsert(
                "player_stats",
                conf.postgres,
                outputs.PLAYER_STATS.upsert(PLAYER_STAT_COLUMNS),
                merge=(
                    ("total", "player_stats.total + EXCLUDED.total"),
                    ("team", "GREATEST(player_stats.team, EXCLUDED.team)"),
                ),
            ),
            lambda batch: batch.stats,
        ),
        Derived(
            MySQLUpsert(
                "game_deliveries",
                conf.mysql,
                outputs.GAME_DELIVERIES.upsert(INBOX_COLUMNS),
            ),
            lambda batch: batch.inbox,
        ),
        Derived(
            RedisState(
                "game_channels",
                conf.redis,
                livestate.DELIVERY,
                INBOX_COLUMNS,
                ttl_seconds=conf.redis.event_ttl_seconds,
                channel=livestate.NODE_CHANNEL,
            ),
            lambda batch: batch.inbox.filter(pc.is_valid(batch.inbox["node_id"])),
        ),
    ]
    # Batches take what is there (up to kafka.max_offsets_per_trigger), not trigger-sized
    # slices: a backlog cut in slices shared by offsets across partitions lets one partition's
    # slice reach minutes past another's, and the watermark of the first then drops the
    # second's next events as late (seen in the store-outage fault test: windows undercounted).
    # Slicing by event time per partition (a per-partition watermark) would lift this.
    records = topic_records(spark, conf, topics, None)
    return [QuerySpec(QUERY, records, sinks, trigger_seconds=trigger, prepare=LivePrepare(conf))]
