//! Builders for test resources, with explicit timestamps so that ordering is deterministic.

use chrono::{Duration, TimeZone, Utc};
use ridge_core::{
    Code, Entry, Execution, ExecutionId, ExecutionStatus, Function, FunctionId, Limits, ProjectId,
    Runtime, RuntimeId, RuntimeStatus, Timestamp,
};
use ridge_store::Store;

/// A fixed instant plus `micros` microseconds.
pub fn at(micros: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
        .single()
        .expect("valid date")
        + Duration::microseconds(micros)
}

pub fn project(name: &str) -> ProjectId {
    name.parse().expect("valid project id")
}

pub fn runtime(project_id: &str, is_public: bool, created: i64) -> Runtime {
    Runtime {
        id: RuntimeId::new(),
        project_id: project(project_id),
        name: Some(format!("rt-{created}")),
        description: Some("a runtime".into()),
        image: "openstackqinling/python3-runtime:latest".into(),
        status: RuntimeStatus::Available,
        is_public,
        trusted: true,
        created_at: at(created),
        updated_at: None,
    }
}

pub fn function(project_id: &str, runtime_id: RuntimeId, created: i64) -> Function {
    Function {
        id: FunctionId::new(),
        project_id: project(project_id),
        name: Some(format!("fn-{created}")),
        description: None,
        runtime_id,
        code: Code::Package {
            md5sum: "d41d8cd98f00b204e9800998ecf8427e".into(),
        },
        entry: Entry::default_entry(),
        limits: Limits {
            cpu: 100,
            memory_size: 33_554_432,
            timeout: 5,
        },
        count: 0,
        latest_version: 0,
        network: ridge_core::NetworkAccess::Loopback,
        created_at: at(created),
        updated_at: None,
    }
}

pub fn execution(function: &Function, created: i64) -> Execution {
    Execution {
        id: ExecutionId::new(),
        project_id: function.project_id.clone(),
        function_id: function.id,
        function_version: 0,
        function_alias: None,
        description: None,
        status: ExecutionStatus::Running,
        sync: true,
        input: None,
        result: None,
        started_at: None,
        created_at: at(created),
        updated_at: None,
    }
}

/// A stored runtime and function of `project_id`.
pub async fn seed_function(store: &dyn Store, project_id: &str, created: i64) -> Function {
    let rt = runtime(project_id, false, created);
    store.create_runtime(&rt).await.expect("create runtime");
    let f = function(project_id, rt.id, created);
    store.create_function(&f).await.expect("create function");
    f
}
