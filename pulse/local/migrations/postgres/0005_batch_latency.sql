-- Version 5: each batch's latency, Kafka to the batch's end, of the records it read (p50, p95;
-- pulse.progress): the end-to-end latency of every query's outputs, which the monitor's own
-- rollups cannot give (they measure up to the monitor's batch, its 5 s trigger included).
ALTER TABLE query_batches
    ADD COLUMN latency_p50_ms double precision,
    ADD COLUMN latency_p95_ms double precision;
