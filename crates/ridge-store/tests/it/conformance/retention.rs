//! Retention: purging finished executions by age and by count per function, in batches, never
//! a running one, and the per-project overrides that take a project out of the defaults.

use std::collections::BTreeSet;

use ridge_core::fixtures::{at, execution, project};
use ridge_core::tenancy::Limit;
use ridge_core::{Execution, ExecutionId, ExecutionStatus, Function, RetentionOverrides};
use ridge_store::{ExecutionQuery, Page, ProjectScope, PurgeBy, PurgeScope, Store};

use super::fixtures::seed_function;

/// A stored execution of `f` created at `created`, finished unless `running`.
async fn stored(store: &dyn Store, f: &Function, created: i64, running: bool) -> ExecutionId {
    let e = Execution {
        status: match running {
            true => ExecutionStatus::Running,
            false => ExecutionStatus::Success,
        },
        ..execution(f, created)
    };
    store.create_execution(&e).await.expect("create");
    e.id
}

async fn left(store: &dyn Store) -> BTreeSet<ExecutionId> {
    let query = ExecutionQuery {
        scope: ProjectScope::All,
        function_id: None,
        status: None,
        description: None,
        page: Page::default(),
    };
    let all = store.list_executions(&query).await.expect("list");
    all.iter().map(|e| e.id).collect()
}

pub async fn purge_by_age_deletes_old_finished_executions_in_batches(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let mut old = Vec::new();
    for i in 0..5 {
        old.push(stored(store, &f, 10 + i, false).await);
    }
    let old_running = stored(store, &f, 20, true).await;
    let recent = stored(store, &f, 1_000, false).await;

    let by = PurgeBy::CreatedBefore(at(500));
    let scope = PurgeScope::Defaults;
    assert_eq!(
        store.purge_executions(&scope, by, 2).await.expect("purge"),
        2
    );
    assert_eq!(left(store).await.len(), 5, "one batch of 2 of the 7");
    assert_eq!(
        store.purge_executions(&scope, by, 2).await.expect("purge"),
        2
    );
    assert_eq!(
        store.purge_executions(&scope, by, 2).await.expect("purge"),
        1
    );
    assert_eq!(
        store.purge_executions(&scope, by, 2).await.expect("purge"),
        0
    );
    assert_eq!(left(store).await, BTreeSet::from([old_running, recent]));
    // The cut-off is strict: an execution created at it is kept.
    let at_cut = stored(store, &f, 500, false).await;
    assert_eq!(
        store.purge_executions(&scope, by, 10).await.expect("purge"),
        0
    );
    assert!(left(store).await.contains(&at_cut));
}

pub async fn purge_by_count_keeps_the_newest_of_each_function(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let g = seed_function(store, "p1", 2).await;
    let mut fs = Vec::new();
    for i in 0..6 {
        // The oldest one is still running: it counts in the rank but is never purged.
        fs.push(stored(store, &f, 10 + i, i == 0).await);
    }
    let gs = [
        stored(store, &g, 10, false).await,
        stored(store, &g, 11, false).await,
    ];

    let by = PurgeBy::BeyondNewest(2);
    let scope = PurgeScope::Defaults;
    assert_eq!(
        store.purge_executions(&scope, by, 2).await.expect("purge"),
        2
    );
    assert_eq!(
        store.purge_executions(&scope, by, 10).await.expect("purge"),
        1
    );
    assert_eq!(
        store.purge_executions(&scope, by, 10).await.expect("purge"),
        0
    );
    let expected = BTreeSet::from([fs[0], fs[4], fs[5], gs[0], gs[1]]);
    assert_eq!(left(store).await, expected);
}

pub async fn retention_overrides_round_trip_and_take_a_project_out_of_the_defaults(
    store: &dyn Store,
) {
    let p2 = project("p2");
    assert!(
        store
            .retention_overrides(&p2)
            .await
            .expect("get")
            .is_empty()
    );
    let forever = RetentionOverrides {
        max_age: Some(Limit::Unlimited),
        max_per_function: Some(Limit::At(1)),
    };
    store
        .set_retention_overrides(&p2, &forever)
        .await
        .expect("set");
    assert_eq!(store.retention_overrides(&p2).await.expect("get"), forever);
    assert_eq!(
        store.all_retention_overrides().await.expect("all"),
        vec![(p2.clone(), forever)]
    );

    let f1 = seed_function(store, "p1", 1).await;
    let f2 = seed_function(store, "p2", 1).await;
    let kept1 = stored(store, &f1, 900, false).await;
    stored(store, &f1, 10, false).await;
    let old2 = stored(store, &f2, 10, false).await;
    let new2 = stored(store, &f2, 20, false).await;

    // The defaults' age rule skips p2, which overrides it.
    let by_age = PurgeBy::CreatedBefore(at(500));
    let purged = store
        .purge_executions(&PurgeScope::Defaults, by_age, 10)
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    assert_eq!(left(store).await, BTreeSet::from([kept1, old2, new2]));
    // The defaults' count rule skips p2 too; p2's own rule keeps its newest one.
    let none_kept = PurgeBy::BeyondNewest(0);
    let purged = store
        .purge_executions(&PurgeScope::Defaults, none_kept, 10)
        .await
        .expect("purge");
    assert_eq!(purged, 1, "p1's last one goes, by the defaults' rule of 0");
    let one = PurgeBy::BeyondNewest(1);
    let p2_scope = PurgeScope::Project(p2.clone());
    let purged = store
        .purge_executions(&p2_scope, one, 10)
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    assert_eq!(left(store).await, BTreeSet::from([new2]));

    // Empty overrides remove the row: p2 is back under the defaults.
    store
        .set_retention_overrides(&p2, &RetentionOverrides::default())
        .await
        .expect("clear");
    assert!(
        store
            .all_retention_overrides()
            .await
            .expect("all")
            .is_empty()
    );
    let purged = store
        .purge_executions(&PurgeScope::Defaults, PurgeBy::CreatedBefore(at(500)), 10)
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    assert!(left(store).await.is_empty());
}
