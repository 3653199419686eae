-- Function versions, aliases, webhooks and jobs (QINLING-API.md §2, §3.4, §3.5, §3.7, §3.8).
-- Same conventions as 0001 (UUID text ids, fixed-width UTC RFC 3339 timestamps, JSON text).

-- An immutable snapshot of a function's package (by md5), entry and limits. Numbers are never
-- reused: functions.latest_version is the last number issued.
CREATE TABLE function_versions (
    id             TEXT    NOT NULL PRIMARY KEY,
    project_id     TEXT    NOT NULL,
    function_id    TEXT    NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    version_number INTEGER NOT NULL,
    description    TEXT,
    code           TEXT    NOT NULL,
    entry          TEXT    NOT NULL,
    cpu            INTEGER NOT NULL,
    memory_size    INTEGER NOT NULL,
    timeout        INTEGER NOT NULL,
    count          INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT,
    UNIQUE (function_id, version_number)
);

-- No cascade from functions: a function with aliases cannot be deleted (403).
CREATE TABLE function_aliases (
    id               TEXT    NOT NULL PRIMARY KEY,
    project_id       TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    function_id      TEXT    NOT NULL REFERENCES functions (id),
    function_version INTEGER NOT NULL DEFAULT 0,
    description      TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT,
    UNIQUE (project_id, name),
    UNIQUE (project_id, function_id, function_version)
);

-- A webhook targets a function version or an alias (then function_id is NULL). The secret is
-- kept as given (HMAC verification needs it); it is never returned by the API.
CREATE TABLE webhooks (
    id               TEXT    NOT NULL PRIMARY KEY,
    project_id       TEXT    NOT NULL,
    function_id      TEXT    REFERENCES functions (id),
    function_version INTEGER,
    function_alias   TEXT,
    description      TEXT,
    secret           TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT
);

CREATE INDEX webhooks_function ON webhooks (function_id, function_version);
CREATE INDEX webhooks_alias ON webhooks (project_id, function_alias);

-- A job targets a function version or an alias (then function_id is NULL). Finished jobs
-- (done, cancelled) go with their function.
CREATE TABLE jobs (
    id                   TEXT    NOT NULL PRIMARY KEY,
    project_id           TEXT    NOT NULL,
    name                 TEXT,
    function_id          TEXT    REFERENCES functions (id) ON DELETE CASCADE,
    function_version     INTEGER NOT NULL DEFAULT 0,
    function_alias       TEXT,
    function_input       TEXT,
    pattern              TEXT,
    status               TEXT    NOT NULL,
    first_execution_time TEXT    NOT NULL,
    next_execution_time  TEXT    NOT NULL,
    -- Runs left; NULL is unlimited.
    count                INTEGER,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT
);

CREATE INDEX jobs_due ON jobs (status, next_execution_time);
CREATE INDEX jobs_function ON jobs (function_id, function_version);
CREATE INDEX jobs_alias ON jobs (project_id, function_alias);
CREATE INDEX function_aliases_function ON function_aliases (function_id, function_version);
