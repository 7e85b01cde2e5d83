-- Version 3: change data capture of the product information system (`pulse serve cdc`).

-- Updates and deletes carry the whole old row in the WAL, not only the key: the relay's
-- events have their `before` image (and a delete its last version).
ALTER TABLE products_pim REPLICA IDENTITY FULL;

-- The publication the relay's pgoutput slot reads (`cdc.publication`). Publications are
-- per database, not per schema: a migration into another schema of the same database (the
-- migration tests use scratch schemas) adds its own products_pim to the one publication rather
-- than failing on the name; the relay keeps the changes of the configured table only, and a
-- dropped table leaves the publication by itself. Migrations run one at a time per database
-- (pulse.local.migrate's advisory lock), so the check and the creation cannot race.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'pulse_products') THEN
        CREATE PUBLICATION pulse_products WITH (publish = 'insert, update, delete, truncate');
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
        WHERE p.pubname = 'pulse_products' AND r.prrelid = 'products_pim'::regclass
    ) THEN
        ALTER PUBLICATION pulse_products ADD TABLE products_pim;
    END IF;
END
$$;
