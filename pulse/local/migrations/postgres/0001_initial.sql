-- Pulse's PostgreSQL schema, version 1: the durable facts of the streaming jobs.
--
-- Applied once, in one transaction, by pulse.local.migrate; later changes come as new files
-- (0002_..., never edits of this one). Primary keys are the natural keys that the sinks upsert
-- by, so that a replayed micro-batch overwrites its own rows instead of adding new ones.
-- Timestamps are timestamptz (UTC in, UTC out).

-- One row per (query, sink, checkpoint): the last micro-batch that sink committed. Written in
-- the same transaction as the batch's rows; a replayed batch at or below it is skipped.
CREATE TABLE sink_ledger (
    query         text        NOT NULL,
    sink          text        NOT NULL,
    checkpoint_id text        NOT NULL,
    batch_id      bigint      NOT NULL,
    committed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (query, sink, checkpoint_id)
);

-- Emoji counts per (match, emoji) per event-time window; units = ceil(count / ratio).
CREATE TABLE emoji_windows (
    match_id     text        NOT NULL,
    emoji        text        NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    count        bigint      NOT NULL,
    units        bigint      NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (match_id, emoji, window_start)
);
-- Dashboards read the latest windows of all matches.
CREATE INDEX emoji_windows_window_start_idx ON emoji_windows (window_start);

-- The scoreboard of each match; `sequence` guards against out-of-order updates.
CREATE TABLE match_scores (
    match_id   text        PRIMARY KEY,
    home_team  text        NOT NULL,
    away_team  text        NOT NULL,
    home_score bigint      NOT NULL DEFAULT 0,
    away_score bigint      NOT NULL DEFAULT 0,
    period     bigint,
    status     text        NOT NULL,
    sequence   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Running totals of each player's stats in a match.
CREATE TABLE player_stats (
    match_id  text   NOT NULL,
    player_id text   NOT NULL,
    team      text   NOT NULL,
    stat      text   NOT NULL,
    total     bigint NOT NULL,
    PRIMARY KEY (match_id, player_id, stat)
);

-- Enriched multimedia events, one row per event id.
CREATE TABLE events (
    id              text        PRIMARY KEY,
    ts              timestamptz NOT NULL,
    type            text        NOT NULL,
    user_id         text        NOT NULL,
    quality         text,
    quality_tier    text,
    device          text,
    device_class    text,
    duration_ms     bigint,
    duration_bucket text,
    content_id      text,
    user_segment    text,
    processed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_ts_idx ON events (ts);

-- The enrichment dimension: each user's segment.
CREATE TABLE user_segments (
    user_id    text        PRIMARY KEY,
    segment    text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per-topic, per-window monitoring rollups; latencies are absent when no acks arrived.
CREATE TABLE monitoring_rollups (
    topic             text             NOT NULL,
    window_start      timestamptz      NOT NULL,
    records           bigint           NOT NULL,
    bytes             bigint           NOT NULL,
    latency_p50_ms    double precision,
    latency_p95_ms    double precision,
    latency_max_ms    double precision,
    lag               bigint,
    batch_duration_ms bigint,
    PRIMARY KEY (topic, window_start)
);

-- The product information system: the source of truth that the catalog CDC reads.
CREATE TABLE products_pim (
    product_id text          PRIMARY KEY,
    name       text          NOT NULL,
    category   text          NOT NULL,
    price      numeric(12,2) NOT NULL,
    currency   text          NOT NULL,
    stock      bigint        NOT NULL,
    version    bigint        NOT NULL,
    updated_at timestamptz   NOT NULL DEFAULT now()
);
