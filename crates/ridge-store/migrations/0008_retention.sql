-- Per-project retention of finished executions (docs/retention.md), overriding the server's
-- `[executions.retention]`: NULL keeps the default, -1 keeps executions forever by that rule.
-- `max_age` is in seconds.
CREATE TABLE retention (
    project_id       TEXT PRIMARY KEY NOT NULL,
    max_age          INTEGER,
    max_per_function INTEGER
);

-- The per-function rule ranks each function's executions, newest first.
CREATE INDEX executions_function_created ON executions (function_id, created_at);
