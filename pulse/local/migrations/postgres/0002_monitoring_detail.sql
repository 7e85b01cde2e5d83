-- Version 2: the detail tables of the monitor job, for the dashboard.

-- One row per micro-batch of every query of every job (from the jobs' progress reports on
-- platform.monitoring): how long it took, how much it read, how far behind it is, and how many
-- events arrived later than the watermark.
CREATE TABLE query_batches (
    query        text             NOT NULL,
    batch_id     bigint           NOT NULL,
    component    text             NOT NULL,
    reported_at  timestamptz      NOT NULL,
    rows         bigint           NOT NULL,
    duration_ms  double precision NOT NULL,
    rows_per_second double precision,
    late_rows    bigint           NOT NULL DEFAULT 0,
    lag          bigint,
    PRIMARY KEY (query, batch_id, reported_at)
);
CREATE INDEX query_batches_reported_at_idx ON query_batches (reported_at);

-- Producer and processing acknowledgements by event id: where each event's path can be
-- followed (a producer ack and a processing ack share the event id).
CREATE TABLE event_acks (
    event_id   text             NOT NULL,
    kind       text             NOT NULL,
    component  text             NOT NULL,
    topic      text,
    acked_at   timestamptz      NOT NULL,
    latency_ms double precision,
    PRIMARY KEY (event_id, kind, component)
);
