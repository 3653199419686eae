-- A per-project quota of jobs that may still run (NULL: the server's default, -1: no limit).
ALTER TABLE quotas ADD COLUMN jobs INTEGER;
