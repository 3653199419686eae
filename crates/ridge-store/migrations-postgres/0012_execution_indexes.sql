-- Fewer rows in `executions`' indexes: an INSERT writes a page of each index the row enters
-- (docs/benchmarks.md, "the store's share"). A warm sync execution is written once, finished
-- and successful, so it does not enter the partial index below; an async one enters it while
-- it runs, as it entered `executions_status`.
-- `executions_function (function_id)` is a prefix of `executions_function_created`, which
-- serves the same lookups (the list's function filter, a function's cascading delete).
DROP INDEX executions_function;
-- `executions_status` indexed every row. The queries that need it look for `running` rows (a
-- project's, for the concurrency quota on every execution when one is set; every project's:
-- queued, stranded) or, in the list's status filter, other unsuccessful ones. SQLite uses a
-- partial index only where the query repeats its condition: those queries say
-- `status <> 'success'` too.
DROP INDEX executions_status;
CREATE INDEX executions_unsuccessful ON executions (status, project_id) WHERE status <> 'success';
