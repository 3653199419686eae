-- Tenancy (`token` auth mode): Ridge's own projects, users and API tokens, and per-project
-- quota overrides (every auth mode; a Keystone project has no row in `projects`).
CREATE TABLE projects (
    id          TEXT PRIMARY KEY NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  TEXT NOT NULL,
    UNIQUE (project_id, name)
);

-- Only the SHA-256 of a token's secret is stored.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash        TEXT NOT NULL UNIQUE,
    description TEXT,
    expires_at  TEXT,
    revoked_at  TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

-- NULL: the server's configured default; -1: no limit.
CREATE TABLE quotas (
    project_id            TEXT PRIMARY KEY NOT NULL,
    functions             INTEGER,
    package_bytes         INTEGER,
    concurrent_executions INTEGER,
    executions_per_second INTEGER
);
