//! `StoreCopy`: every row from one store into an empty other, both ways between SQLite and
//! PostgreSQL, compared through the `Store` API; and the refusals (a target that holds data, a
//! source of another schema, a missing source) and a failed copy that leaves the target empty.

use std::path::Path;

use futures_util::future::join_all;
use ridge_core::fixtures::{self, at};
use ridge_core::tenancy::{Limit, QuotaOverrides};
use ridge_core::{
    Alias, ApiToken, Execution, ExecutionResult, ExecutionStatus, Function, FunctionVersion, Job,
    Project, Role, Runtime, User, Webhook,
};
use ridge_store::testing::TestDatabase;
use ridge_store::{
    CopyProgress, Durability, ExecutionOutcome, ExecutionQuery, Page, ProjectScope, SqliteStore,
    Store, StoreCopy, StoreError, StoreUrl,
};
use serde_json::json;

/// More executions than one page, so that paging is exercised.
const EXECUTIONS: i64 = 2_345;

/// Everything a store holds, as the API reads it.
#[derive(Debug, PartialEq)]
struct Contents {
    projects: Vec<Project>,
    users: Vec<User>,
    tokens: Vec<ApiToken>,
    quotas: QuotaOverrides,
    runtimes: Vec<Runtime>,
    functions: Vec<Function>,
    versions: Vec<FunctionVersion>,
    aliases: Vec<Alias>,
    webhooks: Vec<Webhook>,
    jobs: Vec<Job>,
    executions: Vec<Execution>,
    logs: Vec<String>,
}

async fn contents(store: &dyn Store) -> Contents {
    let functions = store.list_functions(&ProjectScope::All).await.expect("fns");
    let mut versions = Vec::new();
    for f in &functions {
        versions.extend(store.list_versions(f.id).await.expect("versions"));
    }
    let executions = store
        .list_executions(&ExecutionQuery {
            scope: ProjectScope::All,
            function_id: None,
            status: None,
            description: None,
            page: Page::default(),
        })
        .await
        .expect("executions");
    let mut logs = Vec::new();
    for e in executions
        .iter()
        .filter(|e| e.status != ExecutionStatus::Running)
    {
        logs.push(store.get_execution_logs(e.id).await.expect("logs"));
    }
    Contents {
        projects: store.list_projects().await.expect("projects"),
        users: store.list_users(None).await.expect("users"),
        tokens: store.list_tokens(None).await.expect("tokens"),
        quotas: store
            .quota_overrides(&fixtures::project("p1"))
            .await
            .expect("quotas"),
        runtimes: store.all_runtimes().await.expect("runtimes"),
        functions,
        versions,
        aliases: store
            .list_aliases(&ProjectScope::All)
            .await
            .expect("aliases"),
        webhooks: store
            .list_webhooks(&ProjectScope::All)
            .await
            .expect("hooks"),
        jobs: store.list_jobs(&ProjectScope::All).await.expect("jobs"),
        executions,
        logs,
    }
}

/// One of everything, with the values that differ in representation between the databases
/// (flags, NULLs, counters), and executions of every status.
async fn fill(store: &dyn Store) {
    store
        .create_project(&fixtures::project_row("p1", 1))
        .await
        .expect("project");
    let user = fixtures::user("p1", "alice", Role::Member, 2);
    store.create_user(&user).await.expect("user");
    let token = fixtures::token(&user, "a-sha256-hash", 3);
    store.create_token(&token).await.expect("token");
    store.revoke_token(token.id, at(4)).await.expect("revoke");
    let quotas = QuotaOverrides {
        functions: Some(Limit::At(7)),
        jobs: Some(Limit::Unlimited),
        ..QuotaOverrides::default()
    };
    store
        .set_quota_overrides(&fixtures::project("p1"), &quotas)
        .await
        .expect("quotas");
    let runtime = fixtures::runtime("p1", false, 5);
    store.create_runtime(&runtime).await.expect("runtime");
    let f = fixtures::function("p1", runtime.id, 6);
    store.create_function(&f).await.expect("function");
    store
        .create_version(f.id, ridge_core::VersionId::new(), Some("v1"), at(7), 10)
        .await
        .expect("version");
    store
        .create_alias(&fixtures::alias(&f, "prod", 1, 8))
        .await
        .expect("alias");
    let mut hook = fixtures::webhook(&f, 9);
    hook.secret = Some("sealed:secret".into());
    store.create_webhook(&hook).await.expect("webhook");
    store.create_job(&fixtures::job(&f, 10)).await.expect("job");
    let executions: Vec<Execution> = (0..EXECUTIONS)
        .map(|i| {
            let mut e = fixtures::execution(&f, 100 + i);
            e.sync = i % 2 == 0;
            e.input =
                (i % 3 == 0).then(|| ridge_core::ExecutionInput::from_stored(json!({"n": i})));
            e
        })
        .collect();
    for chunk in executions.chunks(200) {
        join_all(chunk.iter().map(|e| store.create_execution(e)))
            .await
            .into_iter()
            .for_each(|r| r.expect("execution"));
    }
    let statuses = [
        ExecutionStatus::Success,
        ExecutionStatus::Failed,
        ExecutionStatus::Error,
    ];
    for (i, e) in executions.iter().take(30).enumerate() {
        assert!(
            store
                .mark_execution_started(e.id, "local", at(5_000), Durability::Flushed)
                .await
                .expect("start")
        );
        let outcome = ExecutionOutcome {
            status: statuses[i % 3],
            result: ExecutionResult::new(0.5, json!({"i": i})),
            logs: format!("log line {i}\0 with a NUL\n"),
        };
        store
            .finish_execution(e.id, &outcome)
            .await
            .expect("finish");
    }
}

fn sqlite_url(path: &Path) -> StoreUrl {
    format!("sqlite://{}", path.display()).parse().expect("url")
}

async fn copy(from: &StoreUrl, to: &StoreUrl) -> Result<Vec<(&'static str, u64)>, StoreError> {
    let mut seen: Vec<CopyProgress> = Vec::new();
    let summary = StoreCopy::prepare(from, to)
        .await?
        .run(&mut |p| seen.push(p))
        .await?;
    let executions: Vec<_> = seen.iter().filter(|p| p.table == "executions").collect();
    assert!(executions.len() >= 3, "paged: {executions:?}");
    assert!(executions.last().is_some_and(|p| p.done));
    Ok(summary)
}

#[tokio::test]
async fn copies_every_row_both_ways_and_refuses_a_target_that_holds_data() {
    let dir = tempfile::tempdir().expect("dir");
    let first = dir.path().join("first.db");
    let store = SqliteStore::open(&first).await.expect("sqlite");
    fill(&store).await;
    let expected = contents(&store).await;
    store.close().await;
    assert_eq!(expected.executions.len(), EXECUTIONS as usize);
    assert_eq!(expected.functions[0].count, EXECUTIONS);
    assert!(expected.tokens[0].revoked_at.is_some());

    let db = TestDatabase::create().await;
    let pg: StoreUrl = db.url().parse().expect("url");
    let summary = copy(&sqlite_url(&first), &pg).await.expect("to postgres");
    assert!(
        summary.contains(&("executions", EXECUTIONS as u64)),
        "{summary:?}"
    );
    assert!(summary.contains(&("quotas", 1)), "{summary:?}");
    let on_pg = ridge_store::open(&pg).await.expect("open postgres");
    assert_eq!(contents(on_pg.as_ref()).await, expected);

    let second = dir.path().join("second.db");
    copy(&pg, &sqlite_url(&second))
        .await
        .expect("back to sqlite");
    let back = SqliteStore::open(&second).await.expect("sqlite");
    assert_eq!(contents(&back).await, expected);
    // The copy works as a store: a new execution counts on from the copied counter.
    let f = &expected.functions[0];
    back.create_execution(&fixtures::execution(f, 9_000))
        .await
        .expect("new execution");
    assert_eq!(
        back.get_function(f.id).await.expect("f").count,
        EXECUTIONS + 1
    );
    back.close().await;

    let err = StoreCopy::prepare(&sqlite_url(&first), &pg)
        .await
        .expect_err("the target holds data");
    assert!(
        matches!(err, StoreError::CopyTargetNotEmpty { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("already holds data"), "{err}");
}

/// Runs one statement on a SQLite file, outside any store.
async fn sqlite_exec(path: &Path, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    sqlx::query(sql).execute(&mut conn).await.expect(sql);
    conn.close().await.expect("close");
}

#[tokio::test]
async fn a_source_of_another_schema_or_missing_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let target = sqlite_url(&dir.path().join("target.db"));
    let refused = |err: StoreError| err.to_string();

    let missing = dir.path().join("missing.db");
    let err = refused(
        StoreCopy::prepare(&sqlite_url(&missing), &target)
            .await
            .expect_err("x"),
    );
    assert!(err.contains("no such database file"), "{err}");
    assert!(!missing.exists(), "the source is never created");

    let foreign = dir.path().join("foreign.db");
    std::fs::File::create(&foreign).expect("empty file");
    let err = refused(
        StoreCopy::prepare(&sqlite_url(&foreign), &target)
            .await
            .expect_err("x"),
    );
    assert!(err.contains("not a Ridge store"), "{err}");

    let newer = dir.path().join("newer.db");
    SqliteStore::open(&newer).await.expect("open").close().await;
    sqlite_exec(
        &newer,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .await;
    let err = refused(
        StoreCopy::prepare(&sqlite_url(&newer), &target)
            .await
            .expect_err("x"),
    );
    assert!(
        err.contains("migration 9999") && err.contains("does not know"),
        "{err}"
    );

    let older = dir.path().join("older.db");
    SqliteStore::open(&older).await.expect("open").close().await;
    sqlite_exec(&older, "DELETE FROM _sqlx_migrations WHERE version = 5").await;
    let err = refused(
        StoreCopy::prepare(&sqlite_url(&older), &target)
            .await
            .expect_err("x"),
    );
    assert!(
        err.contains("lacks migration 5") && err.contains("--migrate-only"),
        "{err}"
    );
}

#[tokio::test]
async fn a_copy_that_fails_half_way_leaves_the_target_empty() {
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source.db");
    let store = SqliteStore::open(&source).await.expect("sqlite");
    fill(&store).await;
    store.close().await;
    // SQLite holds any integer in a flag; PostgreSQL's BOOLEAN does not: the copy of the last
    // table fails after every other table was written.
    sqlite_exec(
        &source,
        "UPDATE executions SET sync = 7 WHERE id = (SELECT MAX(id) FROM executions)",
    )
    .await;
    let db = TestDatabase::create().await;
    let pg: StoreUrl = db.url().parse().expect("url");
    let err = StoreCopy::prepare(&sqlite_url(&source), &pg)
        .await
        .unwrap_or_else(|e| panic!("prepare: {e:?}"))
        .run(&mut |_| {})
        .await
        .expect_err("an unfit value");
    assert!(err.to_string().contains("`executions`.`sync`"), "{err}");
    let target = ridge_store::open(&pg).await.expect("open");
    let left = contents(target.as_ref()).await;
    assert!(
        left.projects.is_empty() && left.functions.is_empty(),
        "{left:?}"
    );
    assert!(left.executions.is_empty());
}
