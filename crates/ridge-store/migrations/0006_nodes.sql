-- Nodes sharing this store (docs/scale-out.md): each `ridge serve` heartbeats its row; a row
-- whose heartbeat is older than the lease belongs to a lost node, whose executions another
-- node takes over.
CREATE TABLE nodes (
    name         TEXT NOT NULL PRIMARY KEY,
    -- How the other nodes reach this one (`--node-address`).
    address      TEXT NOT NULL,
    -- A fresh random id per process start: tells a restarted node from its previous run.
    incarnation  TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    -- Executions this node held at its last heartbeat: submitted and unfinished, and waiting
    -- for a worker (the cross-node queue length sums these).
    running      INTEGER NOT NULL DEFAULT 0,
    waiting      INTEGER NOT NULL DEFAULT 0
);

-- The node holding a `running` execution; NULL for one handed back for any node to claim
-- (and for every execution written before nodes existed).
ALTER TABLE executions ADD COLUMN node TEXT;
CREATE INDEX executions_running_node ON executions (node) WHERE status = 'running';
