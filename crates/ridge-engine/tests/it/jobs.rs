//! Two job schedulers (two `ridge serve` nodes) on one database: every due tick fires exactly
//! once, whichever node claims it.

use std::sync::Arc;

use chrono::Duration;
use ridge_core::{
    CronPattern, ExecutionStatus, Job, JobId, JobStatus, ProjectId, Runtime, Target, fixtures,
};
use ridge_engine::{Engine, EngineConfig, JobScheduler, MissedTicks, SchedulerConfig};
use ridge_package::{LocalPackageStore, PackageStore, UnpackLimits};
use ridge_store::{ExecutionQuery, ProjectScope, SqliteStore, Store};

async fn node(db: &std::path::Path, dir: &std::path::Path) -> (Arc<Engine>, JobScheduler) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db).await.expect("open"));
    let packages: Arc<dyn PackageStore> = Arc::new(LocalPackageStore::new(
        dir.join("packages"),
        dir.join("unpacked"),
        UnpackLimits::default(),
    ));
    // No runtime adapters: executions are created and then end `error`, which is all this
    // test counts.
    let engine = Engine::new(store, packages, Vec::new(), EngineConfig::default());
    let scheduler = JobScheduler::new(
        &engine,
        SchedulerConfig {
            tick: std::time::Duration::from_secs(3600),
            missed: MissedTicks::RunOnce,
        },
    );
    (engine, scheduler)
}

#[tokio::test]
async fn two_schedulers_on_one_database_never_double_fire() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("ridge.db");
    let seed = SqliteStore::open(&db).await.expect("open");
    let project = ProjectId::default_project();
    let now = ridge_core::time::now();
    let runtime = Runtime {
        image: "python3".into(),
        ..fixtures::runtime("default", true, 0)
    };
    seed.create_runtime(&runtime).await.expect("runtime");
    let function = fixtures::function("default", runtime.id, 0);
    seed.create_function(&function).await.expect("function");
    let due = now - Duration::seconds(1);
    let mut jobs = Vec::new();
    for i in 0..24 {
        // Half one-shot, half every second without a limit.
        let pattern = (i % 2 == 1).then(|| CronPattern::parse("* * * * * *").expect("valid"));
        let job = Job {
            id: JobId::new(),
            project_id: project.clone(),
            name: None,
            target: Target::Function {
                id: function.id,
                version: 0,
            },
            function_input: None,
            count: pattern.is_none().then_some(1),
            pattern,
            status: JobStatus::Running,
            first_execution_time: due,
            next_execution_time: due,
            created_at: now,
            updated_at: None,
        };
        seed.create_job(&job).await.expect("job");
        jobs.push(job);
    }

    let (_a, node_a) = node(&db, dir.path()).await;
    let (_b, node_b) = node(&db, dir.path()).await;
    let (fired_a, fired_b) = tokio::join!(node_a.tick(now), node_b.tick(now));
    let (fired_a, fired_b) = (fired_a.expect("tick a"), fired_b.expect("tick b"));
    assert_eq!(fired_a + fired_b, jobs.len(), "a: {fired_a}, b: {fired_b}");

    // The same instant again: every tick was claimed, nothing fires.
    let (again_a, again_b) = tokio::join!(node_a.tick(now), node_b.tick(now));
    assert_eq!(again_a.expect("tick a") + again_b.expect("tick b"), 0);

    let executions = seed
        .list_executions(&ExecutionQuery {
            scope: ProjectScope::All,
            function_id: None,
            status: None,
            description: None,
            page: ridge_store::Page::default(),
        })
        .await
        .expect("list");
    for job in &jobs {
        let runs = executions
            .iter()
            .filter(|e| e.description.as_deref() == Some(&format!("Created by Job {}", job.id)))
            .count();
        assert_eq!(runs, 1, "job {} ran {runs} times", job.id);
        let stored = seed.get_job(job.id).await.expect("job");
        if job.pattern.is_some() {
            assert_eq!(stored.status, JobStatus::Running);
            assert!(stored.next_execution_time > now);
        } else {
            assert_eq!((stored.status, stored.count), (JobStatus::Done, Some(0)));
        }
    }
    assert!(executions.iter().all(|e| !e.sync));
    assert!(
        executions
            .iter()
            .all(|e| matches!(e.status, ExecutionStatus::Running | ExecutionStatus::Error))
    );
}
