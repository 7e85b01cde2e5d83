-- Version 3: what the registry API (`pulse serve registry`) keeps besides subscribers and nodes.

-- Viewers of a match and the delivery node each was assigned. A node's load is the number of
-- clients assigned to it; node_id is null while a client has no node. No foreign key to
-- delivery_nodes: a deregistered node's clients keep its id until they ask again.
CREATE TABLE IF NOT EXISTS clients (
    client_id        VARCHAR(64) NOT NULL,
    match_id         VARCHAR(64) NOT NULL,
    node_id          VARCHAR(64),
    registered_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    last_assigned_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (client_id),
    KEY clients_node_id (node_id),
    KEY clients_match_id (match_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The WebSocket connections a node reported in its last heartbeat (null: none reported yet).
-- MySQL 8 has no ADD COLUMN IF NOT EXISTS (MariaDB has): the column is added only when
-- information_schema lacks it, through a prepared statement, so the file stays re-runnable on
-- both servers.
SET @pulse_add_connected = IF(
    (SELECT COUNT(*) FROM information_schema.columns
     WHERE table_schema = DATABASE() AND table_name = 'delivery_nodes'
       AND column_name = 'connected') = 0,
    'ALTER TABLE delivery_nodes ADD COLUMN connected INT NULL',
    'DO 0');
PREPARE pulse_add_connected FROM @pulse_add_connected;
EXECUTE pulse_add_connected;
DEALLOCATE PREPARE pulse_add_connected;
