//! Projects, users, tokens and quota overrides.

use chrono::Duration;
use ridge_core::fixtures::{at, execution, function, job, project, runtime};
use ridge_core::tenancy::{Limit, QuotaOverrides};
use ridge_core::{ApiToken, JobStatus, Project, Role, TokenId, User, UserId};
use ridge_store::{Store, StoreError};

fn user(project_id: &str, name: &str, role: Role, created: i64) -> User {
    User {
        id: UserId::new(),
        name: name.to_owned(),
        project_id: project(project_id),
        role,
        created_at: at(created),
    }
}

fn token(user: &User, hash: &str, created: i64) -> ApiToken {
    ApiToken {
        id: TokenId::new(),
        user_id: user.id,
        hash: hash.to_owned(),
        description: Some("ci".to_owned()),
        expires_at: Some(at(created) + Duration::hours(1)),
        revoked_at: None,
        created_at: at(created),
    }
}

async fn new_project(store: &dyn Store, id: &str, created: i64) -> Project {
    let p = Project {
        id: project(id),
        description: Some(format!("project {id}")),
        created_at: at(created),
    };
    store.create_project(&p).await.expect("create project");
    p
}

pub async fn projects_and_users_round_trip_and_are_unique(store: &dyn Store) {
    let a = new_project(store, "team-a", 2).await;
    let b = new_project(store, "team-b", 1).await;
    assert_eq!(store.get_project(&a.id).await.expect("get"), a);
    assert_eq!(
        store.list_projects().await.expect("list"),
        vec![b, a.clone()]
    );
    assert!(matches!(
        store.create_project(&a).await,
        Err(StoreError::DuplicateProject { .. })
    ));
    assert!(matches!(
        store.get_project(&project("nope")).await,
        Err(StoreError::ProjectNotFound { .. })
    ));

    assert_eq!(store.count_users().await.expect("count"), 0);
    let alice = user("team-a", "alice", Role::Admin, 1);
    store.create_user(&alice).await.expect("create user");
    assert_eq!(store.get_user(alice.id).await.expect("get user"), alice);
    let again = user("team-a", "alice", Role::Member, 2);
    assert!(matches!(
        store.create_user(&again).await,
        Err(StoreError::DuplicateUser { .. })
    ));
    let same_name_elsewhere = user("team-b", "alice", Role::Member, 3);
    store
        .create_user(&same_name_elsewhere)
        .await
        .expect("names are per project");
    let orphan = user("ghost", "bob", Role::Member, 4);
    assert!(matches!(
        store.create_user(&orphan).await,
        Err(StoreError::ProjectNotFound { .. })
    ));
    assert_eq!(
        store.list_users(Some(&a.id)).await.expect("list"),
        vec![alice.clone()]
    );
    assert_eq!(store.list_users(None).await.expect("list all").len(), 2);
    assert_eq!(store.count_users().await.expect("count"), 2);
}

pub async fn tokens_are_found_by_hash_revoked_and_deleted_with_their_user(store: &dyn Store) {
    new_project(store, "team-a", 1).await;
    let alice = user("team-a", "alice", Role::Member, 1);
    store.create_user(&alice).await.expect("create user");
    let t = token(&alice, "hash-1", 2);
    store.create_token(&t).await.expect("create token");
    let (found, owner) = store
        .token_by_hash("hash-1")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!((found, owner), (t.clone(), alice.clone()));
    assert!(
        store
            .token_by_hash("hash-2")
            .await
            .expect("lookup")
            .is_none()
    );
    let stranger = token(&user("team-a", "x", Role::Member, 1), "hash-3", 3);
    assert!(matches!(
        store.create_token(&stranger).await,
        Err(StoreError::UserNotFound { .. })
    ));

    let revoked = store.revoke_token(t.id, at(10)).await.expect("revoke");
    assert_eq!(revoked.revoked_at, Some(at(10)));
    let again = store
        .revoke_token(t.id, at(20))
        .await
        .expect("revoke again");
    assert_eq!(again.revoked_at, Some(at(10)), "the first revocation holds");
    assert!(matches!(
        store.revoke_token(TokenId::new(), at(1)).await,
        Err(StoreError::TokenNotFound { .. })
    ));
    assert_eq!(
        store.list_tokens(Some(alice.id)).await.expect("list").len(),
        1
    );

    store.delete_user(alice.id).await.expect("delete user");
    assert!(
        store
            .token_by_hash("hash-1")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(store.list_tokens(None).await.expect("list").is_empty());
    assert!(matches!(
        store.delete_user(alice.id).await,
        Err(StoreError::UserNotFound { .. })
    ));
}

pub async fn quota_overrides_round_trip_and_usage_counts(store: &dyn Store) {
    let p = project("team-a");
    assert!(store.quota_overrides(&p).await.expect("none").is_empty());
    let overrides = QuotaOverrides {
        functions: Some(Limit::At(3)),
        package_bytes: Some(Limit::Unlimited),
        concurrent_executions: None,
        executions_per_second: Some(Limit::At(0)),
        jobs: Some(Limit::At(5)),
    };
    store
        .set_quota_overrides(&p, &overrides)
        .await
        .expect("set");
    assert_eq!(store.quota_overrides(&p).await.expect("get"), overrides);
    assert!(
        store
            .quota_overrides(&project("team-b"))
            .await
            .expect("other")
            .is_empty()
    );
    store
        .set_quota_overrides(&p, &QuotaOverrides::default())
        .await
        .expect("clear");
    assert!(store.quota_overrides(&p).await.expect("cleared").is_empty());

    let rt = runtime("team-a", true, 1);
    store.create_runtime(&rt).await.expect("runtime");
    let f = function("team-a", rt.id, 1);
    store.create_function(&f).await.expect("function");
    let other = function("team-b", rt.id, 2);
    store.create_function(&other).await.expect("function");
    let running = execution(&f, 3);
    store.create_execution(&running).await.expect("execution");
    // Jobs count while they may still run: running and paused, not done or cancelled.
    for (i, status) in [
        JobStatus::Running,
        JobStatus::Paused,
        JobStatus::Done,
        JobStatus::Cancelled,
    ]
    .into_iter()
    .enumerate()
    {
        let mut j = job(&f, 4 + i as i64);
        j.status = status;
        store.create_job(&j).await.expect("job");
    }
    store.create_job(&job(&other, 9)).await.expect("job");
    let usage = store.project_usage(&p).await.expect("usage");
    assert_eq!(
        (usage.functions, usage.unfinished_executions, usage.jobs),
        (1, 1, 2)
    );
    let empty = store
        .project_usage(&project("nobody"))
        .await
        .expect("usage");
    assert_eq!(
        (empty.functions, empty.unfinished_executions, empty.jobs),
        (0, 0, 0)
    );
}
