-- Pulse's MySQL (MariaDB) schema, version 1: subscribers, deliveries and the product catalog.
--
-- MySQL has no transactional DDL: a migration that stops half way is run again from its first
-- statement, so every statement here must be re-runnable (CREATE TABLE IF NOT EXISTS, ...).
-- Statements end with ';' at the end of a line (pulse.local.migrate splits on that).
-- Later changes come as new files (0002_..., never edits of this one).
--
-- InnoDB, utf8mb4 with binary collation: keys compare byte for byte, as in PostgreSQL and
-- Spark, so that an upsert by natural key never merges 'SKU-1' and 'sku-1'. DATETIME(3)
-- columns hold UTC (Pulse's connections set time_zone '+00:00').

-- One row per (query, sink, checkpoint): the last micro-batch that sink committed. Written in
-- the same transaction as the batch's rows; a replayed batch at or below it is skipped.
-- VARCHAR(191): three keys of 4-byte characters stay within InnoDB's 3072-byte key limit.
CREATE TABLE IF NOT EXISTS sink_ledger (
    query         VARCHAR(191) NOT NULL,
    sink          VARCHAR(191) NOT NULL,
    checkpoint_id VARCHAR(191) NOT NULL,
    batch_id      BIGINT       NOT NULL,
    committed_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (query, sink, checkpoint_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Who receives game updates, registered through the registry API.
CREATE TABLE IF NOT EXISTS subscribers (
    subscriber_id VARCHAR(64)  NOT NULL,
    name          VARCHAR(200) NOT NULL,
    interests     JSON,
    created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (subscriber_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Which games each subscriber follows; the fan-out looks subscribers up by game.
CREATE TABLE IF NOT EXISTS subscriptions (
    subscriber_id VARCHAR(64) NOT NULL,
    game_id       VARCHAR(64) NOT NULL,
    created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (subscriber_id, game_id),
    KEY subscriptions_game_id (game_id),
    CONSTRAINT subscriptions_subscriber FOREIGN KEY (subscriber_id)
        REFERENCES subscribers (subscriber_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The WebSocket delivery nodes, grouped in clusters; rendezvous hashing picks one per subscriber.
CREATE TABLE IF NOT EXISTS delivery_nodes (
    node_id        VARCHAR(64)  NOT NULL,
    cluster        VARCHAR(64)  NOT NULL,
    url            VARCHAR(255) NOT NULL,
    capacity       INT          NOT NULL DEFAULT 1,
    last_heartbeat DATETIME(3),
    PRIMARY KEY (node_id),
    KEY delivery_nodes_cluster (cluster)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Each subscriber's inbox: one row per (game update, subscriber). No foreign keys: an inbox is
-- a log of what was delivered, kept even after a subscriber or a node is removed.
CREATE TABLE IF NOT EXISTS game_deliveries (
    update_id     VARCHAR(64)  NOT NULL,
    subscriber_id VARCHAR(64)  NOT NULL,
    game_id       VARCHAR(64)  NOT NULL,
    node_id       VARCHAR(64)  NOT NULL,
    title         VARCHAR(200) NOT NULL,
    delivered_at  DATETIME(3)  NOT NULL,
    PRIMARY KEY (update_id, subscriber_id),
    KEY game_deliveries_inbox (subscriber_id, delivered_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The current product catalog, guarded by version; a delete keeps the row, marked deleted.
CREATE TABLE IF NOT EXISTS products (
    product_id VARCHAR(64)   NOT NULL,
    name       VARCHAR(200),
    category   VARCHAR(100),
    price      DECIMAL(12,2),
    currency   CHAR(3),
    stock      BIGINT,
    version    BIGINT        NOT NULL,
    deleted    BOOL          NOT NULL DEFAULT FALSE,
    updated_at DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
