//! Runtimes: round trips, visibility, updates, deletion.

use ridge_core::fixtures::{at, function, project, runtime};
use ridge_core::{RuntimeId, RuntimeStatus};
use ridge_store::{Store, StoreError};

use super::fixtures::seed_function;

pub async fn runtime_round_trips(store: &dyn Store) {
    let mut bare = runtime("p1", false, 1);
    bare.name = None;
    bare.description = None;
    bare.trusted = false;
    bare.status = RuntimeStatus::Creating;
    let mut updated = runtime("p1", true, 2);
    updated.updated_at = Some(at(3));
    for rt in [&bare, &updated] {
        store.create_runtime(rt).await.expect("create");
        assert_eq!(&store.get_runtime(rt.id).await.expect("get"), rt);
    }
}

pub async fn runtimes_are_listed_by_project_and_public_in_order(store: &dyn Store) {
    let own_late = runtime("p1", false, 30);
    let other_public = runtime("p2", true, 20);
    let other_private = runtime("p2", false, 10);
    let own_early = runtime("p1", false, 5);
    // Two at the same instant are ordered by id.
    let mut tie_a = runtime("p1", false, 40);
    let mut tie_b = runtime("p1", false, 40);
    if tie_a.id > tie_b.id {
        std::mem::swap(&mut tie_a, &mut tie_b);
    }
    for rt in [
        &own_late,
        &tie_b,
        &other_public,
        &other_private,
        &tie_a,
        &own_early,
    ] {
        store.create_runtime(rt).await.expect("create");
    }

    let visible = store.list_runtimes(&project("p1")).await.expect("list");
    assert_eq!(
        visible,
        vec![
            own_early.clone(),
            other_public.clone(),
            own_late.clone(),
            tie_a.clone(),
            tie_b.clone()
        ]
    );

    let p2 = store.list_runtimes(&project("p2")).await.expect("list");
    assert_eq!(p2, vec![other_private.clone(), other_public.clone()]);

    let nobody = store.list_runtimes(&project("p3")).await.expect("list");
    assert_eq!(nobody, vec![other_public.clone()]);

    let all = store.all_runtimes().await.expect("all");
    assert_eq!(
        all,
        vec![
            own_early,
            other_private,
            other_public,
            own_late,
            tie_a,
            tie_b
        ]
    );
}

pub async fn runtime_update_writes_mutable_fields(store: &dyn Store) {
    let rt = runtime("p1", true, 1);
    store.create_runtime(&rt).await.expect("create");
    let mut changed = rt.clone();
    changed.name = None;
    changed.description = Some("new description".into());
    changed.image = "python3".into();
    changed.status = RuntimeStatus::Upgrading;
    changed.updated_at = Some(at(9));
    store.update_runtime(&changed).await.expect("update");
    assert_eq!(store.get_runtime(rt.id).await.expect("get"), changed);
}

pub async fn runtime_status_change_sets_updated_at(store: &dyn Store) {
    let mut rt = runtime("p1", true, 1);
    rt.status = RuntimeStatus::Creating;
    store.create_runtime(&rt).await.expect("create");
    store
        .set_runtime_status(rt.id, RuntimeStatus::Available)
        .await
        .expect("set status");
    let got = store.get_runtime(rt.id).await.expect("get");
    assert_eq!(got.status, RuntimeStatus::Available);
    let updated_at = got.updated_at.expect("status change sets updated_at");
    assert!(updated_at > rt.created_at);
    assert_eq!(
        got,
        ridge_core::Runtime {
            status: RuntimeStatus::Available,
            updated_at: Some(updated_at),
            ..rt
        }
    );
}

pub async fn runtime_in_use_cannot_be_deleted(store: &dyn Store) {
    // A function of another project still blocks the delete.
    let rt = runtime("p1", true, 1);
    store.create_runtime(&rt).await.expect("create runtime");
    let f = function("p2", rt.id, 2);
    store.create_function(&f).await.expect("create function");

    let err = store.delete_runtime(rt.id).await.expect_err("in use");
    assert!(
        matches!(err, StoreError::RuntimeInUse { id } if id == rt.id),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("Runtime {} is still in use.", rt.id)
    );
    assert_eq!(store.get_runtime(rt.id).await.expect("still there"), rt);

    store.delete_function(f.id).await.expect("delete function");
    store.delete_runtime(rt.id).await.expect("delete runtime");
    assert!(matches!(
        store.get_runtime(rt.id).await,
        Err(StoreError::RuntimeNotFound { .. })
    ));
    assert!(store.all_runtimes().await.expect("all").is_empty());
    // Unrelated runtimes are untouched by another's deletion.
    let kept = seed_function(store, "p1", 3).await;
    assert_eq!(store.all_runtimes().await.expect("all").len(), 1);
    assert_eq!(store.get_function(kept.id).await.expect("get"), kept);
}

pub async fn missing_runtimes_are_not_found(store: &dyn Store) {
    let id = RuntimeId::new();
    let err = store.get_runtime(id).await.expect_err("absent");
    assert_eq!(err.to_string(), format!("Runtime not found [id={id}]"));
    let ghost = runtime("p1", false, 1);
    for result in [
        store.update_runtime(&ghost).await,
        store
            .set_runtime_status(ghost.id, RuntimeStatus::Error)
            .await,
        store.delete_runtime(ghost.id).await,
    ] {
        assert!(
            matches!(result, Err(StoreError::RuntimeNotFound { id }) if id == ghost.id),
            "{result:?}"
        );
    }
    assert!(store.all_runtimes().await.expect("all").is_empty());
}

pub async fn runtime_pool_size_is_kept_and_cleared(store: &dyn Store) {
    let rt = runtime("p1", true, 1);
    store.create_runtime(&rt).await.expect("create");
    assert_eq!(store.runtime_pool_size(rt.id).await.expect("read"), None);
    store
        .set_runtime_pool_size(rt.id, Some(5))
        .await
        .expect("set");
    assert_eq!(store.runtime_pool_size(rt.id).await.expect("read"), Some(5));
    // Other fields are left alone, and an update of them leaves the size alone.
    assert_eq!(store.get_runtime(rt.id).await.expect("get"), rt);
    let mut renamed = rt.clone();
    renamed.name = Some("renamed".to_owned());
    store.update_runtime(&renamed).await.expect("update");
    assert_eq!(store.runtime_pool_size(rt.id).await.expect("read"), Some(5));
    store
        .set_runtime_pool_size(rt.id, Some(0))
        .await
        .expect("zero");
    assert_eq!(store.runtime_pool_size(rt.id).await.expect("read"), Some(0));
    store
        .set_runtime_pool_size(rt.id, None)
        .await
        .expect("clear");
    assert_eq!(store.runtime_pool_size(rt.id).await.expect("read"), None);
    let missing = RuntimeId::new();
    assert!(matches!(
        store.runtime_pool_size(missing).await,
        Err(StoreError::RuntimeNotFound { .. })
    ));
    assert!(matches!(
        store.set_runtime_pool_size(missing, Some(1)).await,
        Err(StoreError::RuntimeNotFound { .. })
    ));
}
