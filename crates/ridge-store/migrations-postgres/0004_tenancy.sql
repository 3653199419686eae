-- Tenancy (`token` auth mode): Ridge's own projects, users and API tokens, and per-project
-- quota overrides (every auth mode; a Keystone project has no row in `projects`).
CREATE TABLE projects (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    description TEXT COLLATE "C",
    created_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE users (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    project_id  TEXT COLLATE "C" NOT NULL REFERENCES projects (id),
    role        TEXT COLLATE "C" NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  TEXT COLLATE "C" NOT NULL,
    UNIQUE (project_id, name)
);

-- Only the SHA-256 of a token's secret is stored.
CREATE TABLE api_tokens (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash        TEXT COLLATE "C" NOT NULL UNIQUE,
    description TEXT COLLATE "C",
    expires_at  TEXT COLLATE "C",
    revoked_at  TEXT COLLATE "C",
    created_at  TEXT COLLATE "C" NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

-- NULL: the server's configured default; -1: no limit.
CREATE TABLE quotas (
    project_id            TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    functions             BIGINT,
    package_bytes         BIGINT,
    concurrent_executions BIGINT,
    executions_per_second BIGINT
);
