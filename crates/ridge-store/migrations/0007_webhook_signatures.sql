-- Timestamped webhook signatures seen within their window, by any node: a replay of a signed
-- call to another node is refused as it is by the node that took the call first.
CREATE TABLE webhook_signatures (
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    -- The signature's HMAC, hex.
    signature  TEXT NOT NULL,
    -- Unix seconds after which a replay is stale anyway, and the row may go.
    until      INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, signature)
);
CREATE INDEX webhook_signatures_until ON webhook_signatures (until);
