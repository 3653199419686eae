-- Nodes sharing this store (docs/scale-out.md): each `ridge serve` heartbeats its row; a row
-- whose heartbeat is older than the lease belongs to a lost node, whose executions another
-- node takes over.
CREATE TABLE nodes (
    name         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    -- How the other nodes reach this one (`--node-address`).
    address      TEXT COLLATE "C" NOT NULL,
    -- A fresh random id per process start: tells a restarted node from its previous run.
    incarnation  TEXT COLLATE "C" NOT NULL,
    started_at   TEXT COLLATE "C" NOT NULL,
    heartbeat_at TEXT COLLATE "C" NOT NULL,
    -- Executions this node held at its last heartbeat: submitted and unfinished, and waiting
    -- for a worker (the cross-node queue length sums these).
    running      BIGINT NOT NULL DEFAULT 0,
    waiting      BIGINT NOT NULL DEFAULT 0
);

-- The node holding a `running` execution; NULL for one handed back for any node to claim
-- (and for every execution written before nodes existed).
ALTER TABLE executions ADD COLUMN node TEXT COLLATE "C";
CREATE INDEX executions_running_node ON executions (node) WHERE status = 'running';
