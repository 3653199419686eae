//! Versions, aliases, webhooks and jobs: round trips, numbering, guards and the job claim.

use ridge_core::fixtures::{at, execution, project};
use ridge_core::{
    Alias, AliasId, AliasName, Code, CronPattern, Job, JobId, JobStatus, ProjectId, Target,
    VersionId, Webhook, WebhookId,
};
use ridge_store::{JobClaim, ProjectScope, Store, StoreError};

use super::fixtures::seed_function;

fn alias(f: &ridge_core::Function, name: &str, version: i64, created: i64) -> Alias {
    Alias {
        id: AliasId::new(),
        project_id: f.project_id.clone(),
        name: name.parse().expect("valid name"),
        function_id: f.id,
        function_version: version,
        description: Some("an alias".into()),
        created_at: at(created),
        updated_at: None,
    }
}

fn webhook(project_id: &ProjectId, target: Target, created: i64) -> Webhook {
    Webhook {
        id: WebhookId::new(),
        project_id: project_id.clone(),
        target,
        description: None,
        secret: Some("0123456789abcdef".into()),
        split_alerts: true,
        created_at: at(created),
        updated_at: None,
    }
}

fn job(project_id: &ProjectId, target: Target, next: i64, count: Option<i64>) -> Job {
    Job {
        id: JobId::new(),
        project_id: project_id.clone(),
        name: Some("nightly".into()),
        target,
        function_input: Some("{\"a\": 1}".into()),
        pattern: Some(CronPattern::parse("*/5 * * * *").expect("valid")),
        status: JobStatus::Running,
        first_execution_time: at(next),
        next_execution_time: at(next),
        count,
        created_at: at(0),
        updated_at: None,
    }
}

pub async fn versions_snapshot_and_are_never_renumbered(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let v1 = store
        .create_version(f.id, VersionId::new(), Some("first"), at(2), 10)
        .await
        .expect("v1");
    assert_eq!(v1.version_number, 1);
    assert_eq!(
        (v1.code.clone(), v1.entry.clone(), v1.limits),
        (f.code.clone(), f.entry.clone(), f.limits)
    );
    assert_eq!(store.get_version(f.id, 1).await.expect("get"), v1);
    assert!(matches!(
        store
            .create_version(f.id, VersionId::new(), None, at(3), 10)
            .await,
        Err(StoreError::VersionUnchanged { latest: 1 })
    ));
    let mut changed = f.clone();
    changed.code = Code::Package {
        md5sum: "0cc175b9c0f1b6a831c399e269772661".into(),
    };
    store.update_function(&changed).await.expect("update");
    let v2 = store
        .create_version(f.id, VersionId::new(), None, at(4), 2)
        .await
        .expect("v2");
    assert_eq!(
        (v2.version_number, v2.code.clone()),
        (2, changed.code.clone())
    );
    assert!(matches!(
        store
            .create_version(f.id, VersionId::new(), None, at(5), 2)
            .await,
        Err(StoreError::VersionLimit { max: 2 })
    ));
    // Executions of a version count on the version, not the function.
    let mut e = execution(&f, 6);
    e.function_version = 2;
    store.create_execution(&e).await.expect("execution");
    assert_eq!(store.get_version(f.id, 2).await.expect("v2").count, 1);
    assert_eq!(store.get_function(f.id).await.expect("f").count, 0);
    let mut missing = execution(&f, 7);
    missing.function_version = 9;
    assert!(matches!(
        store.create_execution(&missing).await,
        Err(StoreError::VersionNotFound { version: 9, .. })
    ));

    store.delete_version(f.id, 2).await.expect("delete v2");
    assert!(matches!(
        store.get_version(f.id, 2).await,
        Err(StoreError::VersionNotFound { version: 2, .. })
    ));
    changed.entry = "other.main".to_owned().try_into().expect("entry");
    store.update_function(&changed).await.expect("update");
    let v3 = store
        .create_version(f.id, VersionId::new(), None, at(8), 2)
        .await
        .expect("v3");
    assert_eq!(v3.version_number, 3, "numbers are not reused");
    let listed: Vec<i64> = store
        .list_versions(f.id)
        .await
        .expect("list")
        .iter()
        .map(|v| v.version_number)
        .collect();
    assert_eq!(listed, [1, 3]);
    assert_eq!(store.get_function(f.id).await.expect("f").latest_version, 3);
}

pub async fn aliases_are_unique_and_guarded(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    store
        .create_version(f.id, VersionId::new(), None, at(2), 10)
        .await
        .expect("v1");
    let a = alias(&f, "prod", 1, 3);
    store.create_alias(&a).await.expect("create");
    assert_eq!(
        store.get_alias(&f.project_id, &a.name).await.expect("get"),
        a
    );
    assert!(matches!(
        store.create_alias(&alias(&f, "prod", 0, 4)).await,
        Err(StoreError::DuplicateAlias { .. })
    ));
    assert!(matches!(
        store.create_alias(&alias(&f, "other", 1, 4)).await,
        Err(StoreError::DuplicateAliasTarget { version: 1, .. })
    ));
    let missing: AliasName = "nope".parse().expect("name");
    assert!(matches!(
        store.get_alias(&f.project_id, &missing).await,
        Err(StoreError::AliasNotFound { .. })
    ));
    // The version and the function are held by the alias.
    assert!(matches!(
        store.delete_version(f.id, 1).await,
        Err(StoreError::VersionInUse { reason: "alias" })
    ));
    assert!(matches!(
        store.delete_function(f.id).await,
        Err(StoreError::FunctionInUse {
            reason: "function alias(es)"
        })
    ));
    // An alias a webhook uses cannot go.
    let w = webhook(&f.project_id, Target::Alias(a.name.clone()), 5);
    store.create_webhook(&w).await.expect("webhook");
    assert!(matches!(
        store.delete_alias(&f.project_id, &a.name).await,
        Err(StoreError::AliasInUse {
            by: "webhook(s)",
            ..
        })
    ));
    store.delete_webhook(w.id).await.expect("delete webhook");

    let mut moved = a.clone();
    moved.function_version = 0;
    moved.updated_at = Some(at(6));
    store.update_alias(&moved).await.expect("update");
    assert_eq!(
        store.get_alias(&f.project_id, &a.name).await.expect("get"),
        moved
    );
    assert_eq!(
        store
            .list_aliases(&ProjectScope::Project(project("p1")))
            .await
            .expect("list"),
        vec![moved.clone()]
    );
    assert!(
        store
            .list_aliases(&ProjectScope::Project(project("p2")))
            .await
            .expect("list")
            .is_empty()
    );
    store
        .delete_alias(&f.project_id, &a.name)
        .await
        .expect("delete");
    store.delete_version(f.id, 1).await.expect("version free");
    store.delete_function(f.id).await.expect("function free");
}

pub async fn webhooks_round_trip_and_hold_their_function(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let mut w = webhook(
        &f.project_id,
        Target::Function {
            id: f.id,
            version: 0,
        },
        2,
    );
    store.create_webhook(&w).await.expect("create");
    assert_eq!(store.get_webhook(w.id).await.expect("get"), w);
    assert!(matches!(
        store.delete_function(f.id).await,
        Err(StoreError::FunctionInUse {
            reason: "webhook(s)"
        })
    ));
    w.secret = None;
    w.split_alerts = false;
    w.description = Some("changed".into());
    w.updated_at = Some(at(3));
    store.update_webhook(&w).await.expect("update");
    assert_eq!(store.get_webhook(w.id).await.expect("get"), w);
    assert_eq!(
        store.list_webhooks(&ProjectScope::All).await.expect("list"),
        vec![w.clone()]
    );
    let ghost = webhook(
        &f.project_id,
        Target::Function {
            id: ridge_core::FunctionId::new(),
            version: 0,
        },
        4,
    );
    assert!(matches!(
        store.create_webhook(&ghost).await,
        Err(StoreError::FunctionNotFound { .. })
    ));
    store.delete_webhook(w.id).await.expect("delete");
    assert!(matches!(
        store.get_webhook(w.id).await,
        Err(StoreError::WebhookNotFound { .. })
    ));
    assert_eq!(store.function_usage(f.id).await.expect("usage").webhooks, 0);
}

pub async fn jobs_are_due_in_order_and_claimed_once(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let target = Target::Function {
        id: f.id,
        version: 0,
    };
    let late = job(&f.project_id, target.clone(), 20, Some(2));
    let early = job(&f.project_id, target.clone(), 10, None);
    let future = job(&f.project_id, target.clone(), 90, None);
    for j in [&late, &early, &future] {
        store.create_job(j).await.expect("create");
    }
    assert_eq!(store.get_job(late.id).await.expect("get"), late);
    let due: Vec<JobId> = store
        .due_jobs(at(50))
        .await
        .expect("due")
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(due, [early.id, late.id]);
    assert_eq!(
        store
            .function_usage(f.id)
            .await
            .expect("usage")
            .running_jobs,
        3
    );

    // Concurrent claims of one tick: exactly one wins.
    let claim = JobClaim {
        status: JobStatus::Running,
        next_execution_time: at(80),
        count: Some(1),
    };
    let wins = futures_claims(store, late.id, at(20), &claim).await;
    assert_eq!(wins, 1);
    let claimed = store.get_job(late.id).await.expect("get");
    assert_eq!(
        (claimed.next_execution_time, claimed.count),
        (at(80), Some(1))
    );
    assert!(claimed.updated_at.is_some());
    // A stale claim (the old next time) loses.
    assert!(
        !store
            .claim_job(late.id, at(20), &claim)
            .await
            .expect("claim")
    );

    // A paused job is not due and its update is a compare-and-swap too.
    let mut paused = store.get_job(early.id).await.expect("get");
    paused.status = JobStatus::Paused;
    assert!(
        store
            .update_job(&paused, (JobStatus::Running, at(10)))
            .await
            .expect("update")
    );
    assert!(
        !store
            .update_job(&paused, (JobStatus::Running, at(10)))
            .await
            .expect("stale")
    );
    assert_eq!(store.due_jobs(at(85)).await.expect("due").len(), 1);
    store.delete_job(early.id).await.expect("delete");
    assert!(matches!(
        store.get_job(early.id).await,
        Err(StoreError::JobNotFound { .. })
    ));
    assert!(matches!(
        store.delete_function(f.id).await,
        Err(StoreError::FunctionInUse {
            reason: "running job(s)"
        })
    ));
}

/// Runs four claims of the same tick at once; returns how many won.
async fn futures_claims(
    store: &dyn Store,
    id: JobId,
    expected: ridge_core::Timestamp,
    claim: &JobClaim,
) -> usize {
    let (a, b, c, d) = tokio::join!(
        store.claim_job(id, expected, claim),
        store.claim_job(id, expected, claim),
        store.claim_job(id, expected, claim),
        store.claim_job(id, expected, claim),
    );
    [a, b, c, d]
        .into_iter()
        .filter(|r| *r.as_ref().expect("claim"))
        .count()
}

pub async fn a_webhook_signature_is_recorded_once_within_its_window(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let target = || Target::Function {
        id: f.id,
        version: 0,
    };
    let hook = webhook(&f.project_id, target(), 2);
    store.create_webhook(&hook).await.expect("create");
    let other = webhook(&f.project_id, target(), 3);
    store.create_webhook(&other).await.expect("create");
    let now = 1_700_000_000;
    assert!(
        store
            .record_webhook_signature(hook.id, "ab", now + 300, now)
            .await
            .expect("record")
    );
    // The same call again, through any node: a replay.
    assert!(
        !store
            .record_webhook_signature(hook.id, "ab", now + 300, now + 5)
            .await
            .expect("record")
    );
    // The same signature of another webhook is another call.
    assert!(
        store
            .record_webhook_signature(other.id, "ab", now + 300, now)
            .await
            .expect("record")
    );
    // Past its window the record goes (the window check refuses such a call first).
    assert!(
        store
            .record_webhook_signature(hook.id, "ab", now + 700, now + 301)
            .await
            .expect("record")
    );
    // A deleted webhook's records go with it.
    store.delete_webhook(other.id).await.expect("delete");
    store.create_webhook(&other).await.expect("create again");
    assert!(
        store
            .record_webhook_signature(other.id, "ab", now + 300, now)
            .await
            .expect("record")
    );
}
