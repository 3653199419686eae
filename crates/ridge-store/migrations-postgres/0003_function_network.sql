-- A function's network grant (Ridge-only): 'loopback' (the default) or 'outbound'.
ALTER TABLE functions ADD COLUMN network TEXT COLLATE "C" NOT NULL DEFAULT 'loopback'
    CHECK (network IN ('loopback', 'outbound'));
