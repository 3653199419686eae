-- Event triggers (docs/events.md): an AMQP source whose messages each run a function version
-- or an alias (then function_id is NULL). They go with their function.
CREATE TABLE event_triggers (
    id                      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id              TEXT COLLATE "C" NOT NULL,
    function_id             TEXT COLLATE "C" REFERENCES functions (id) ON DELETE CASCADE,
    function_version        BIGINT,
    function_alias          TEXT COLLATE "C",
    description             TEXT COLLATE "C",
    -- The broker URL with its password shown as ***, and the whole URL sealed.
    amqp_url                TEXT COLLATE "C" NOT NULL,
    amqp_url_sealed         TEXT COLLATE "C" NOT NULL,
    -- A queue source, or an exchange with its binding keys (a JSON array).
    queue                   TEXT COLLATE "C",
    exchange                TEXT COLLATE "C",
    binding_keys            TEXT COLLATE "C" NOT NULL,
    -- Event type patterns (a JSON array): not empty, messages are OpenStack notifications.
    event_types             TEXT COLLATE "C" NOT NULL,
    prefetch                BIGINT NOT NULL,
    max_retries             BIGINT NOT NULL,
    retry_backoff_ms        BIGINT NOT NULL,
    dead_letter_exchange    TEXT COLLATE "C",
    dead_letter_routing_key TEXT COLLATE "C",
    reply_exchange          TEXT COLLATE "C",
    -- `active`, or `paused` by its owner.
    desired                 TEXT COLLATE "C" NOT NULL,
    -- What a consumer last reported: starting, active, reconnecting (with last_error).
    state                   TEXT COLLATE "C" NOT NULL,
    last_error              TEXT COLLATE "C",
    created_at              TEXT COLLATE "C" NOT NULL,
    updated_at              TEXT COLLATE "C"
);

CREATE INDEX event_triggers_project ON event_triggers (project_id, created_at);
CREATE INDEX event_triggers_function ON event_triggers (function_id);

-- Ridge's webhook option: a grouped alert notification runs one execution per alert.
ALTER TABLE webhooks ADD COLUMN split_alerts BOOLEAN NOT NULL DEFAULT FALSE;
