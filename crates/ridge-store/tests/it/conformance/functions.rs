//! Functions: round trips, scoping, updates, deletion and its cascade.

use ridge_core::fixtures::{at, execution, function, project, runtime};
use ridge_core::{Code, Entry, FunctionId, Limits, RuntimeId};
use ridge_store::{ProjectScope, Store, StoreError};

use super::fixtures::seed_function;

pub async fn function_round_trips(store: &dyn Store) {
    let rt = runtime("p1", false, 1);
    store.create_runtime(&rt).await.expect("create runtime");
    let mut f = function("p1", rt.id, 2);
    f.description = Some("greets".into());
    f.entry = Entry::try_from("pkg.mod.handler".to_owned()).expect("valid entry");
    f.limits = Limits {
        cpu: 300,
        memory_size: 134_217_728,
        timeout: 300,
    };
    f.count = 7;
    f.latest_version = 2;
    f.updated_at = Some(at(3));
    store.create_function(&f).await.expect("create");
    assert_eq!(store.get_function(f.id).await.expect("get"), f);

    // Timestamps from the clock keep their microseconds.
    let mut now = function("p1", rt.id, 0);
    now.created_at = ridge_core::time::now();
    store.create_function(&now).await.expect("create");
    assert_eq!(store.get_function(now.id).await.expect("get"), now);
}

pub async fn functions_are_listed_by_scope_in_order(store: &dyn Store) {
    let rt = runtime("p1", true, 0);
    store.create_runtime(&rt).await.expect("create runtime");
    let late = function("p1", rt.id, 30);
    let other = function("p2", rt.id, 20);
    let early = function("p1", rt.id, 10);
    for f in [&late, &other, &early] {
        store.create_function(f).await.expect("create");
    }
    let p1 = store
        .list_functions(&ProjectScope::Project(project("p1")))
        .await
        .expect("list");
    assert_eq!(p1, vec![early.clone(), late.clone()]);
    let p3 = store
        .list_functions(&ProjectScope::Project(project("p3")))
        .await
        .expect("list");
    assert!(p3.is_empty());
    let all = store
        .list_functions(&ProjectScope::All)
        .await
        .expect("list");
    assert_eq!(all, vec![early, other, late]);
}

pub async fn function_update_keeps_counters(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    store
        .create_execution(&execution(&f, 2))
        .await
        .expect("create execution");

    let mut changed = f.clone();
    changed.name = None;
    changed.description = Some("updated".into());
    changed.code = Code::Package {
        md5sum: "0cc175b9c0f1b6a831c399e269772661".into(),
    };
    changed.entry = Entry::try_from("app.run".to_owned()).expect("valid entry");
    changed.limits = Limits {
        cpu: 200,
        memory_size: 67_108_864,
        timeout: 30,
    };
    changed.updated_at = Some(at(5));
    // Stale counters in the caller's copy are not written back.
    changed.count = 0;
    changed.latest_version = 9;
    store.update_function(&changed).await.expect("update");

    let got = store.get_function(f.id).await.expect("get");
    assert_eq!(
        got,
        ridge_core::Function {
            count: 1,
            latest_version: 0,
            network: ridge_core::NetworkAccess::Loopback,
            ..changed
        }
    );
}

/// A function read to run it follows every change of what it was read with, read right after
/// the change (the SQLite store keeps the read between executions: `to_run_cache.rs`).
pub async fn a_function_to_run_follows_every_change_of_what_it_was_read_with(store: &dyn Store) {
    use ridge_core::tenancy::{Limit, QuotaOverrides};
    use ridge_core::{RuntimeStatus, VersionId};
    let f = seed_function(store, "p1", 1).await;
    let to_run = async || store.get_function_to_run(f.id).await.expect("to run");
    let first = to_run().await;
    assert_eq!(to_run().await, first, "read again");
    // The function's own columns.
    let mut changed = first.function.clone();
    changed.code = Code::Package {
        md5sum: "0cc175b9c0f1b6a831c399e269772661".into(),
    };
    changed.entry = Entry::try_from("app.run".to_owned()).expect("valid entry");
    changed.limits.timeout = 30;
    store.update_function(&changed).await.expect("update");
    let read = to_run().await;
    assert_eq!(read.function.code, changed.code);
    assert_eq!(read.function.entry, changed.entry);
    assert_eq!(read.function.limits.timeout, 30);
    // A version moves the latest version.
    store
        .create_version(f.id, VersionId::new(), None, at(3), 10)
        .await
        .expect("version");
    assert_eq!(to_run().await.function.latest_version, 1);
    // Its runtime: an update, and a change of status.
    let mut runtime = read.runtime.clone();
    runtime.description = Some("patched".into());
    store
        .update_runtime(&runtime)
        .await
        .expect("update runtime");
    let read = to_run().await;
    assert_eq!(read.runtime.description.as_deref(), Some("patched"));
    store
        .set_runtime_status(runtime.id, RuntimeStatus::Error)
        .await
        .expect("status");
    assert_eq!(to_run().await.runtime.status, RuntimeStatus::Error);
    // Its project's quotas, set and then removed.
    let overrides = QuotaOverrides {
        concurrent_executions: Some(Limit::At(1)),
        ..QuotaOverrides::default()
    };
    store
        .set_quota_overrides(&project("p1"), &overrides)
        .await
        .expect("set quotas");
    assert_eq!(to_run().await.quotas, overrides);
    store
        .set_quota_overrides(&project("p1"), &QuotaOverrides::default())
        .await
        .expect("clear quotas");
    assert_eq!(to_run().await.quotas, QuotaOverrides::default());
    // Deleted: not found, not the last read.
    store.delete_function(f.id).await.expect("delete");
    assert!(matches!(
        store.get_function_to_run(f.id).await,
        Err(StoreError::FunctionNotFound { id }) if id == f.id
    ));
}

pub async fn function_needs_an_existing_runtime(store: &dyn Store) {
    let missing = RuntimeId::new();
    let f = function("p1", missing, 1);
    let err = store.create_function(&f).await.expect_err("no runtime");
    assert!(
        matches!(err, StoreError::RuntimeNotFound { id } if id == missing),
        "{err:?}"
    );
    assert!(matches!(
        store.get_function(f.id).await,
        Err(StoreError::FunctionNotFound { .. })
    ));
}

pub async fn function_delete_cascades_to_its_executions(store: &dyn Store) {
    let doomed = seed_function(store, "p1", 1).await;
    let kept = seed_function(store, "p1", 2).await;
    let gone = [execution(&doomed, 3), execution(&doomed, 4)];
    let stays = execution(&kept, 5);
    for e in gone.iter().chain([&stays]) {
        store.create_execution(e).await.expect("create execution");
    }

    store.delete_function(doomed.id).await.expect("delete");
    assert!(matches!(
        store.get_function(doomed.id).await,
        Err(StoreError::FunctionNotFound { id }) if id == doomed.id
    ));
    for e in &gone {
        assert!(matches!(
            store.get_execution(e.id).await,
            Err(StoreError::ExecutionNotFound { .. })
        ));
    }
    let left = store
        .list_executions(&super::filters::all_of(ProjectScope::All))
        .await
        .expect("list");
    assert_eq!(
        left.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![stays.id]
    );
    // Its runtime is free again.
    store
        .delete_runtime(doomed.runtime_id)
        .await
        .expect("runtime no longer in use");
}

pub async fn missing_functions_are_not_found(store: &dyn Store) {
    let id = FunctionId::new();
    let err = store.get_function(id).await.expect_err("absent");
    assert_eq!(err.to_string(), format!("Function not found [id={id}]"));
    let rt = runtime("p1", false, 1);
    store.create_runtime(&rt).await.expect("create runtime");
    let ghost = function("p1", rt.id, 2);
    let update = store.update_function(&ghost).await;
    assert!(
        matches!(update, Err(StoreError::FunctionNotFound { id }) if id == ghost.id),
        "{update:?}"
    );
    let delete = store.delete_function(ghost.id).await;
    assert!(
        matches!(delete, Err(StoreError::FunctionNotFound { id }) if id == ghost.id),
        "{delete:?}"
    );
}

/// What running a function needs, in one read: the same rows as three reads give.
pub async fn a_function_to_run_comes_with_its_runtime_and_quotas(store: &dyn Store) {
    use ridge_core::tenancy::{Limit, QuotaOverrides};
    let f = seed_function(store, "p1", 1).await;
    let other = seed_function(store, "p2", 2).await;
    let read = store.get_function_to_run(f.id).await.expect("to run");
    assert_eq!(read.function, store.get_function(f.id).await.expect("get"));
    assert_eq!(
        read.runtime,
        store.get_runtime(f.runtime_id).await.expect("runtime")
    );
    assert_eq!(read.quotas, QuotaOverrides::default(), "none set");
    let overrides = QuotaOverrides {
        concurrent_executions: Some(Limit::At(3)),
        executions_per_second: Some(Limit::Unlimited),
        ..QuotaOverrides::default()
    };
    store
        .set_quota_overrides(&project("p1"), &overrides)
        .await
        .expect("set quotas");
    let read = store.get_function_to_run(f.id).await.expect("to run");
    assert_eq!(read.quotas, overrides);
    assert_eq!(
        read.quotas,
        store.quota_overrides(&project("p1")).await.expect("quotas")
    );
    // Another project's function: its own (no) overrides, its own runtime.
    let read = store.get_function_to_run(other.id).await.expect("to run");
    assert_eq!(read.quotas, QuotaOverrides::default());
    assert_eq!(read.runtime.id, other.runtime_id);
    let missing = FunctionId::new();
    assert!(matches!(
        store.get_function_to_run(missing).await,
        Err(StoreError::FunctionNotFound { id }) if id == missing
    ));
}
