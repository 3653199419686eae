-- Fewer rows in `executions`' indexes: a warm execution's INSERT writes a page of each index
-- it enters (docs/benchmarks.md, "the store's share"). A warm execution is written once,
-- finished and successful, so it enters neither partial index below.
-- `executions_function (function_id)` is a prefix of `executions_function_created`, which
-- serves the same lookups (the list's function filter, a function's cascading delete).
DROP INDEX executions_function;
-- `executions_status` indexed every row. The queries that look for `running` rows, a
-- project's (the concurrency quota's count, on every execution when one is set) or every
-- project's (queued, stranded), have their own index; the list's filter on other statuses
-- repeats this index's condition (`status <> 'success'`, crates/ridge-store/src/filter.rs) so
-- that the store can use it.
DROP INDEX executions_status;
CREATE INDEX executions_running ON executions (project_id) WHERE status = 'running';
CREATE INDEX executions_unsuccessful ON executions (status) WHERE status <> 'success';
