-- Event triggers (docs/events.md): an AMQP source whose messages each run a function version
-- or an alias (then function_id is NULL). They go with their function.
CREATE TABLE event_triggers (
    id                      TEXT    NOT NULL PRIMARY KEY,
    project_id              TEXT    NOT NULL,
    function_id             TEXT    REFERENCES functions (id) ON DELETE CASCADE,
    function_version        INTEGER,
    function_alias          TEXT,
    description             TEXT,
    -- The broker URL with its password shown as ***, and the whole URL sealed.
    amqp_url                TEXT    NOT NULL,
    amqp_url_sealed         TEXT    NOT NULL,
    -- A queue source, or an exchange with its binding keys (a JSON array).
    queue                   TEXT,
    exchange                TEXT,
    binding_keys            TEXT    NOT NULL,
    -- Event type patterns (a JSON array): not empty, messages are OpenStack notifications.
    event_types             TEXT    NOT NULL,
    prefetch                INTEGER NOT NULL,
    max_retries             INTEGER NOT NULL,
    retry_backoff_ms        INTEGER NOT NULL,
    dead_letter_exchange    TEXT,
    dead_letter_routing_key TEXT,
    reply_exchange          TEXT,
    -- `active`, or `paused` by its owner.
    desired                 TEXT    NOT NULL,
    -- What a consumer last reported: starting, active, reconnecting (with last_error).
    state                   TEXT    NOT NULL,
    last_error              TEXT,
    created_at              TEXT    NOT NULL,
    updated_at              TEXT
);

CREATE INDEX event_triggers_project ON event_triggers (project_id, created_at);
CREATE INDEX event_triggers_function ON event_triggers (function_id);

-- Ridge's webhook option: a grouped alert notification runs one execution per alert.
ALTER TABLE webhooks ADD COLUMN split_alerts INTEGER NOT NULL DEFAULT 0;
