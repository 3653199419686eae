-- How many pre-started workers each node keeps for the runtime (Ridge-only); NULL: the
-- server's default.
ALTER TABLE runtimes ADD COLUMN pool_size BIGINT CHECK (pool_size IS NULL OR pool_size >= 0);
