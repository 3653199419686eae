-- Each function's inter-arrival times (docs/keep-alive.md): one row per bucket that
-- was hit, at most 241 per function (bucket 240 counts the times past the last bucket). Nodes
-- add their counts to these rows, so what several nodes saw merges by addition.
CREATE TABLE arrival_histograms (
    function_id TEXT NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    bucket      INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (function_id, bucket)
);
