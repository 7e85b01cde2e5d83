-- Version 2: what the live job writes.
-- A subscriber without a live delivery node still gets the update in its inbox, with no node.
ALTER TABLE game_deliveries MODIFY node_id VARCHAR(64) NULL;
