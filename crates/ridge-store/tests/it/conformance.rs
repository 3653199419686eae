//! The store conformance suite: every behaviour the engine and the API rely on, written once
//! against `&dyn Store` and run here against every store: [`SqliteStore`] (module `on_sqlite`)
//! and [`PostgresStore`] on a real PostgreSQL (module `on_postgres`). A new store
//! implementation adds one module to `store_suite!` with its own constructor.

mod arrivals;
mod event_triggers;
mod executions;
mod filters;
mod fixtures;
mod functions;
mod nodes;
mod retention;
mod runtimes;
mod tenancy;
mod triggers;

use ridge_store::testing::TestDatabase;
use ridge_store::{PostgresStore, SqliteStore};
use tempfile::TempDir;

/// A fresh SQLite store in its own temporary directory (kept alive by the returned guard).
async fn sqlite() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("ridge.db"))
        .await
        .expect("open sqlite store");
    (dir, store)
}

/// A fresh PostgreSQL store in its own database (dropped with the returned guard).
async fn postgres() -> (TestDatabase, PostgresStore) {
    let db = TestDatabase::create().await;
    let store = PostgresStore::connect(db.url())
        .await
        .expect("connect postgres store");
    (db, store)
}

/// One `#[tokio::test]` per suite case and store, each on a fresh store.
macro_rules! store_suite {
    ($($module:ident::$case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let (_guard, store) = super::sqlite().await;
                    super::$module::$case(&store).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let (_guard, store) = super::postgres().await;
                    super::$module::$case(&store).await;
                    store.close().await;
                }
            )*
        }
    };
}

store_suite!(
    runtimes::runtime_round_trips,
    runtimes::runtimes_are_listed_by_project_and_public_in_order,
    runtimes::runtime_update_writes_mutable_fields,
    runtimes::runtime_status_change_sets_updated_at,
    runtimes::runtime_in_use_cannot_be_deleted,
    runtimes::missing_runtimes_are_not_found,
    runtimes::runtime_pool_size_is_kept_and_cleared,
    functions::function_round_trips,
    functions::a_function_to_run_comes_with_its_runtime_and_quotas,
    functions::a_function_to_run_follows_every_change_of_what_it_was_read_with,
    functions::functions_are_listed_by_scope_in_order,
    functions::function_update_keeps_counters,
    functions::function_needs_an_existing_runtime,
    functions::function_delete_cascades_to_its_executions,
    functions::missing_functions_are_not_found,
    executions::execution_round_trips_every_field,
    executions::create_execution_counts_version_zero_only,
    executions::concurrent_creates_count_every_execution,
    executions::a_burst_of_writes_all_land,
    executions::a_failing_write_fails_alone,
    executions::execution_needs_an_existing_function,
    executions::a_finished_execution_is_recorded_complete_in_one_write,
    executions::mark_started_is_compare_and_swap,
    executions::finish_is_compare_and_swap,
    executions::logs_are_stored_on_finish_only,
    executions::delete_execution_removes_it,
    executions::executions_are_listed_by_scope_in_order,
    executions::execution_statistics_are_scoped_and_bounded,
    nodes::heartbeats_keep_a_name_to_one_live_node,
    triggers::a_webhook_signature_is_recorded_once_within_its_window,
    nodes::a_nodes_executions_are_listed_oldest_first,
    nodes::stranded_executions_are_taken_once_and_started_only_by_their_node,
    nodes::a_stopping_node_hands_back_only_queued_async_executions,
    filters::eq_and_neq,
    filters::in_and_nin,
    filters::ordering_operators,
    filters::has_matches_substrings_literally,
    filters::filters_combine_with_scope,
    filters::single_valued_operators_reject_lists,
    filters::pages_follow_the_order_from_their_marker,
    triggers::versions_snapshot_and_are_never_renumbered,
    triggers::aliases_are_unique_and_guarded,
    triggers::webhooks_round_trip_and_hold_their_function,
    triggers::jobs_are_due_in_order_and_claimed_once,
    event_triggers::event_triggers_round_trip_and_go_with_their_function,
    tenancy::projects_and_users_round_trip_and_are_unique,
    tenancy::tokens_are_found_by_hash_revoked_and_deleted_with_their_user,
    tenancy::quota_overrides_round_trip_and_usage_counts,
    retention::purge_by_age_deletes_old_finished_executions_in_batches,
    retention::purge_by_count_keeps_the_newest_of_each_function,
    retention::retention_overrides_round_trip_and_take_a_project_out_of_the_defaults,
    arrivals::arrival_histograms_add_up_and_go_with_their_function,
);
