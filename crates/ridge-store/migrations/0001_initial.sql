-- Ridge's initial schema: Qinling's runtimes, functions and executions (QINLING-API.md §2).
--
-- Conventions:
--   * ids are hyphenated lower-case UUID text;
--   * timestamps are UTC RFC 3339 text with exactly six fractional digits
--     (`2024-05-01T12:00:00.123456Z`), so that text order is time order;
--   * JSON values (`code`, `input`, `result`) are JSON text;
--   * booleans are 0 or 1.

CREATE TABLE runtimes (
    id          TEXT    NOT NULL PRIMARY KEY,
    project_id  TEXT    NOT NULL,
    name        TEXT,
    description TEXT,
    image       TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    is_public   INTEGER NOT NULL DEFAULT 1,
    trusted     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT
);

CREATE INDEX runtimes_project_created ON runtimes (project_id, created_at, id);

CREATE TABLE functions (
    id             TEXT    NOT NULL PRIMARY KEY,
    project_id     TEXT    NOT NULL,
    name           TEXT,
    description    TEXT,
    -- No cascade: a runtime in use cannot be deleted.
    runtime_id     TEXT    NOT NULL REFERENCES runtimes (id),
    code           TEXT    NOT NULL,
    entry          TEXT    NOT NULL,
    cpu            INTEGER NOT NULL,
    memory_size    INTEGER NOT NULL,
    timeout        INTEGER NOT NULL,
    count          INTEGER NOT NULL DEFAULT 0,
    latest_version INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT
);

CREATE INDEX functions_runtime ON functions (runtime_id);
CREATE INDEX functions_project_created ON functions (project_id, created_at, id);

CREATE TABLE executions (
    id               TEXT    NOT NULL PRIMARY KEY,
    project_id       TEXT    NOT NULL,
    function_id      TEXT    NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    function_version INTEGER NOT NULL DEFAULT 0,
    function_alias   TEXT,
    description      TEXT,
    status           TEXT    NOT NULL,
    sync             INTEGER NOT NULL DEFAULT 1,
    -- JSON of ExecutionInput::to_stored(); NULL when there is no input.
    input            TEXT,
    -- JSON of ExecutionResult; NULL while running.
    result           TEXT,
    logs             TEXT    NOT NULL DEFAULT '',
    -- When a worker took the execution; NULL while it waits.
    started_at       TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT
);

CREATE INDEX executions_function ON executions (function_id);
CREATE INDEX executions_status ON executions (status);
CREATE INDEX executions_project_created ON executions (project_id, created_at);
