-- Version 4: what arrived on each topic per window of Kafka timestamps (the monitor job adds each
-- batch's count), so that the input rate is read from when records arrived, not from when a
-- batch happened to process them: a catch-up batch no longer reads as a burst of input.
CREATE TABLE topic_arrivals (
    topic        text        NOT NULL,
    window_start timestamptz NOT NULL,
    records      bigint      NOT NULL,
    last_arrival timestamptz NOT NULL, -- the latest Kafka timestamp counted in the window
    PRIMARY KEY (topic, window_start)
);
CREATE INDEX topic_arrivals_window_start_idx ON topic_arrivals (window_start);
