-- Function versions, aliases, webhooks and jobs (QINLING-API.md §2, §3.4, §3.5, §3.7, §3.8).
-- Same conventions as 0001 (UUID text ids, fixed-width UTC RFC 3339 timestamps, JSON text).

-- An immutable snapshot of a function's package (by md5), entry and limits. Numbers are never
-- reused: functions.latest_version is the last number issued.
CREATE TABLE function_versions (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id     TEXT COLLATE "C" NOT NULL,
    function_id    TEXT COLLATE "C" NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    version_number BIGINT NOT NULL,
    description    TEXT COLLATE "C",
    code           TEXT COLLATE "C" NOT NULL,
    entry          TEXT COLLATE "C" NOT NULL,
    cpu            BIGINT NOT NULL,
    memory_size    BIGINT NOT NULL,
    timeout        BIGINT NOT NULL,
    count          BIGINT NOT NULL DEFAULT 0,
    created_at     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C",
    UNIQUE (function_id, version_number)
);

-- No cascade from functions: a function with aliases cannot be deleted (403).
CREATE TABLE function_aliases (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id       TEXT COLLATE "C" NOT NULL,
    name             TEXT COLLATE "C" NOT NULL,
    function_id      TEXT COLLATE "C" NOT NULL REFERENCES functions (id),
    function_version BIGINT NOT NULL DEFAULT 0,
    description      TEXT COLLATE "C",
    created_at       TEXT COLLATE "C" NOT NULL,
    updated_at       TEXT COLLATE "C",
    -- Named: the store tells a taken name from a taken target by the constraint.
    CONSTRAINT function_aliases_name UNIQUE (project_id, name),
    CONSTRAINT function_aliases_target UNIQUE (project_id, function_id, function_version)
);

-- A webhook targets a function version or an alias (then function_id is NULL). The secret is
-- kept as given (HMAC verification needs it); it is never returned by the API.
CREATE TABLE webhooks (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id       TEXT COLLATE "C" NOT NULL,
    function_id      TEXT COLLATE "C" REFERENCES functions (id),
    function_version BIGINT,
    function_alias   TEXT COLLATE "C",
    description      TEXT COLLATE "C",
    secret           TEXT COLLATE "C",
    created_at       TEXT COLLATE "C" NOT NULL,
    updated_at       TEXT COLLATE "C"
);

CREATE INDEX webhooks_function ON webhooks (function_id, function_version);
CREATE INDEX webhooks_alias ON webhooks (project_id, function_alias);

-- A job targets a function version or an alias (then function_id is NULL). Finished jobs
-- (done, cancelled) go with their function.
CREATE TABLE jobs (
    id                   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id           TEXT COLLATE "C" NOT NULL,
    name                 TEXT COLLATE "C",
    function_id          TEXT COLLATE "C" REFERENCES functions (id) ON DELETE CASCADE,
    function_version     BIGINT NOT NULL DEFAULT 0,
    function_alias       TEXT COLLATE "C",
    function_input       TEXT COLLATE "C",
    pattern              TEXT COLLATE "C",
    status               TEXT COLLATE "C" NOT NULL,
    first_execution_time TEXT COLLATE "C" NOT NULL,
    next_execution_time  TEXT COLLATE "C" NOT NULL,
    -- Runs left; NULL is unlimited.
    count                BIGINT,
    created_at           TEXT COLLATE "C" NOT NULL,
    updated_at           TEXT COLLATE "C"
);

CREATE INDEX jobs_due ON jobs (status, next_execution_time);
CREATE INDEX jobs_function ON jobs (function_id, function_version);
CREATE INDEX jobs_alias ON jobs (project_id, function_alias);
CREATE INDEX function_aliases_function ON function_aliases (function_id, function_version);
