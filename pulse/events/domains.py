"""The event of each Pulse domain, declared once.

Every event carries an id and an event time. Timestamps travel as ISO-8601 strings with a
zone (`2026-11-22T10:00:00.000Z`), which both Python and Spark's JSON reader parse exactly.
"""

from __future__ import annotations

from pulse.events.registry import Domain, domain_of, register
from pulse.events.schema import EventSchema, Field

TS = "2026-11-22T20:15:00.000Z"

EMOJIS = ("🔥", "👏", "😂", "😮", "😢", "❤️", "🎉", "🏏", "⚽", "💯")

GAME = EventSchema(
    domain="game",
    id_field="update_id",
    time_field="ts",
    key_field="game_id",
    fields=(
        Field("update_id", "string", "gu-000001", max_length=64),
        Field("game_id", "string", "g-0007", max_length=64),
        Field("kind", "string", "patch", choices=("patch", "news", "event", "maintenance")),
        Field("title", "string", "Patch 1.4.2 is live", max_length=200),
        Field(
            "body", "string", "Balance changes for ranked play.", required=False, max_length=4000
        ),
        Field("version", "string", "1.4.2", required=False, max_length=32),
        Field("priority", "long", 1, minimum=0),
        Field("ts", "timestamp", TS),
    ),
)

PLAYER_STAT = (
    Field("player_id", "string", "p-017", max_length=64),
    Field("team", "string", "home", choices=("home", "away")),
    Field("stat", "string", "goals", choices=("goals", "assists", "shots", "saves", "fouls")),
    Field("delta", "long", 1),
)

SPORTS = EventSchema(
    domain="sports",
    id_field="event_id",
    time_field="ts",
    key_field="match_id",
    fields=(
        Field("event_id", "string", "se-000001", max_length=64),
        Field("match_id", "string", "m-001", max_length=64),
        Field("sequence", "long", 12, minimum=0),
        Field("kind", "string", "goal", choices=("start", "goal", "stat", "period", "end")),
        Field("home_team", "string", "Lions", max_length=100),
        Field("away_team", "string", "Tigers", max_length=100),
        Field("home_score", "long", 1, minimum=0),
        Field("away_score", "long", 0, minimum=0),
        Field("period", "long", 1, minimum=0),
        Field("status", "string", "live", choices=("scheduled", "live", "break", "finished")),
        Field("player_stats", "list", item="object", fields=PLAYER_STAT, required=False),
        Field("ts", "timestamp", TS),
    ),
)

EMOJI = EventSchema(
    domain="emoji",
    id_field="event_id",
    time_field="ts",
    key_field="match_id",
    fields=(
        Field("event_id", "string", "er-000001", max_length=64),
        Field("user_id", "string", "u-0042", max_length=64),
        Field("match_id", "string", "m-001", max_length=64),
        Field("emoji", "string", "🔥", choices=EMOJIS),
        Field("ts", "timestamp", TS),
    ),
)

PRODUCT_STATE = (
    Field("name", "string", "Trail shoe", max_length=200),
    Field("category", "string", "footwear", max_length=100),
    Field("price", "double", 89.9, minimum=0),
    Field("currency", "string", "EUR", choices=("EUR", "USD", "GBP", "INR")),
    Field("stock", "long", 12, minimum=0),
)

PRODUCT = EventSchema(
    domain="product",
    id_field="change_id",
    time_field="ts",
    key_field="product_id",
    fields=(
        Field("change_id", "string", "pc-000001", max_length=64),
        Field("product_id", "string", "sku-00001", max_length=64),
        Field("version", "long", 2, minimum=1),
        Field("op", "string", "update", choices=("create", "update", "delete")),
        Field("source", "string", "api", choices=("api", "cdc")),
        Field("before", "object", fields=PRODUCT_STATE, required=False),
        Field("after", "object", fields=PRODUCT_STATE, required=False),
        Field("ts", "timestamp", TS),
    ),
)

MEDIA_METADATA = (
    Field("quality", "string", "1080p", choices=("240p", "360p", "480p", "720p", "1080p", "2160p")),
    Field("device", "string", "mobile", choices=("mobile", "tablet", "desktop", "tv")),
    Field("duration_ms", "long", 184000, minimum=0),
    Field("content_id", "string", "c-00031", max_length=64),
)

MEDIA = EventSchema(
    domain="media",
    id_field="id",
    time_field="timestamp",
    key_field="id",
    fields=(
        Field("id", "string", "me-000001", max_length=64),
        Field("timestamp", "timestamp", TS),
        Field(
            "type", "string", "play", choices=("view", "play", "pause", "upload", "like", "share")
        ),
        Field("user", "string", "u-0042", max_length=64),
        Field("metadata", "object", fields=MEDIA_METADATA),
    ),
)

MONITORING = EventSchema(
    domain="monitoring",
    id_field="id",
    time_field="ts",
    key_field="component",
    fields=(
        Field("id", "string", "mon-000001", max_length=64),
        Field("ts", "timestamp", TS),
        Field("component", "string", "ingest", max_length=100),
        Field(
            "kind", "string", "producer_ack", choices=("producer_ack", "processing_ack", "batch")
        ),
        Field("topic", "string", "emoji.reactions", required=False, max_length=249),
        Field("event_id", "string", "er-000001", required=False, max_length=64),
        Field("partition", "long", 0, required=False, minimum=0),
        Field("offset", "long", 0, required=False, minimum=0),
        Field("count", "long", 1, required=False, minimum=0),
        Field("latency_ms", "double", 3.5, required=False, minimum=0),
        Field("detail", "string", None, required=False, max_length=4000),
        # Set by Pulse's Kafka outputs, so that readers can drop repeats (at-least-once).
        Field("batch_id", "long", None, required=False, minimum=0),
        Field("seq", "long", None, required=False, minimum=0),
    ),
)

# The registry (pulse.events.registry): a new domain is one more line here, with its schema
# above, its simulator in pulse/simulate/ and its topic in conf/pulse.yaml. The rates are what
# `pulse run` simulates: emoji is the high-volume stream, the others tick at the pace of their
# real systems, leaving the two cores of a laptop to Spark.
for _domain in (
    Domain(GAME, "pulse.simulate.game:game_events", simulated_rate=20),
    Domain(SPORTS, "pulse.simulate.sports:sports_events", simulated_rate=40),
    Domain(EMOJI, "pulse.simulate.emoji:emoji_events", simulated_rate=2000),
    Domain(PRODUCT, "pulse.simulate.product:product_events", simulated_rate=50),
    Domain(MEDIA, "pulse.simulate.media:media_events", simulated_rate=200),
    Domain(MONITORING),  # Pulse's own: acks and batch reports, simulated by no one
):
    register(_domain)


def schema_for(domain: str) -> EventSchema:
    """The schema of `domain`; a clear error listing the known ones otherwise."""
    return domain_of(domain).schema
