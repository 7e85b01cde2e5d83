"""Every table the jobs upsert into, named once with its key. The pipelines write through these,
the readers (`pulse.reads`) name them, and a test holds each key to the migrations' primary key.
Redis keys and channels are named in `pulse.livestate`, topics in the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from pulse.sinks.upsert import Upsert


@dataclass(frozen=True)
class Table:
    """A table of PostgreSQL or MySQL (`store`) and its primary key."""

    name: str
    store: str
    key: tuple[str, ...]

    def upsert(
        self,
        columns: tuple[str, ...],
        newer_by: str | None = None,
        rows_per_statement: int = 1000,
    ) -> Upsert:
        """An upsert of `columns` into this table by its key.

        >>> EMOJI_WINDOWS.upsert(("count",)).written
        ('match_id', 'emoji', 'window_start', 'count')
        """
        return Upsert(self.name, self.key, columns, newer_by, rows_per_statement)


# The live job.
EMOJI_WINDOWS = Table("emoji_windows", "postgres", ("match_id", "emoji", "window_start"))
MATCH_SCORES = Table("match_scores", "postgres", ("match_id",))
PLAYER_STATS = Table("player_stats", "postgres", ("match_id", "player_id", "stat"))
GAME_DELIVERIES = Table("game_deliveries", "mysql", ("update_id", "subscriber_id"))
# The enrich job.
EVENTS = Table("events", "postgres", ("id",))
PRODUCTS = Table("products", "mysql", ("product_id",))
# The monitor job.
MONITORING_ROLLUPS = Table("monitoring_rollups", "postgres", ("topic", "window_start"))
TOPIC_ARRIVALS = Table("topic_arrivals", "postgres", ("topic", "window_start"))
QUERY_BATCHES = Table("query_batches", "postgres", ("query", "batch_id", "reported_at"))
EVENT_ACKS = Table("event_acks", "postgres", ("event_id", "kind", "component"))

TABLES: tuple[Table, ...] = (
    EMOJI_WINDOWS,
    MATCH_SCORES,
    PLAYER_STATS,
    GAME_DELIVERIES,
    EVENTS,
    PRODUCTS,
    MONITORING_ROLLUPS,
    TOPIC_ARRIVALS,
    QUERY_BATCHES,
    EVENT_ACKS,
)
