-- Ridge's initial schema for PostgreSQL: Qinling's runtimes, functions and executions
-- (QINLING-API.md §2). Each file here mirrors the SQLite migration of the same number
-- (../migrations), column for column, so that one codec reads rows of either store.
--
-- Conventions (those of SQLite, so that both stores order and compare alike):
--   * ids are hyphenated lower-case UUID text;
--   * timestamps are UTC RFC 3339 text with exactly six fractional digits
--     (`2024-05-01T12:00:00.123456Z`), so that text order is time order;
--   * every text column uses the "C" collation: comparisons and order are byte order, as in
--     SQLite, whatever the database's default collation;
--   * JSON values (`code`, `input`, `result`) are JSON text;
--   * integers are BIGINT; flags are BOOLEAN.

CREATE TABLE runtimes (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id  TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C",
    description TEXT COLLATE "C",
    image       TEXT COLLATE "C" NOT NULL,
    status      TEXT COLLATE "C" NOT NULL,
    is_public   BOOLEAN NOT NULL DEFAULT TRUE,
    trusted     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C"
);

CREATE INDEX runtimes_project_created ON runtimes (project_id, created_at, id);

CREATE TABLE functions (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id     TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C",
    description    TEXT COLLATE "C",
    -- No cascade: a runtime in use cannot be deleted.
    runtime_id     TEXT COLLATE "C" NOT NULL REFERENCES runtimes (id),
    code           TEXT COLLATE "C" NOT NULL,
    entry          TEXT COLLATE "C" NOT NULL,
    cpu            BIGINT NOT NULL,
    memory_size    BIGINT NOT NULL,
    timeout        BIGINT NOT NULL,
    count          BIGINT NOT NULL DEFAULT 0,
    latest_version BIGINT NOT NULL DEFAULT 0,
    created_at     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C"
);

CREATE INDEX functions_runtime ON functions (runtime_id);
CREATE INDEX functions_project_created ON functions (project_id, created_at, id);

CREATE TABLE executions (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id       TEXT COLLATE "C" NOT NULL,
    function_id      TEXT COLLATE "C" NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    function_version BIGINT NOT NULL DEFAULT 0,
    function_alias   TEXT COLLATE "C",
    description      TEXT COLLATE "C",
    status           TEXT COLLATE "C" NOT NULL,
    sync             BOOLEAN NOT NULL DEFAULT TRUE,
    -- JSON of ExecutionInput::to_stored(); NULL when there is no input.
    input            TEXT COLLATE "C",
    -- JSON of ExecutionResult; NULL while running.
    result           TEXT COLLATE "C",
    -- bytea: text cannot hold a NUL byte, and a function's output may carry any.
    logs             BYTEA NOT NULL DEFAULT ''::bytea,
    -- When a worker took the execution; NULL while it waits.
    started_at       TEXT COLLATE "C",
    created_at       TEXT COLLATE "C" NOT NULL,
    updated_at       TEXT COLLATE "C"
);

CREATE INDEX executions_function ON executions (function_id);
CREATE INDEX executions_status ON executions (status);
CREATE INDEX executions_project_created ON executions (project_id, created_at);
