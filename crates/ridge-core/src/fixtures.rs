//! Domain values for tests, in one place for every crate's tests (the `fixtures` feature,
//! enabled from dev-dependencies only). Each builder gives a valid resource with plain defaults
//! and a timestamp at a fixed instant, so that orderings and rendered views are deterministic;
//! ids are fresh unless a test pins them with [`fixed_id`]. Adjust a value with struct update
//! syntax: `Function { name: None, ..fixtures::function("p", rt.id, 0) }`.

use chrono::{Duration, TimeZone, Utc};
use uuid::Uuid;

use crate::tenancy::{ApiToken, Project, Role, TokenId, User, UserId};
use crate::{
    Alias, AliasId, Code, Entry, Execution, ExecutionId, ExecutionStatus, Function, FunctionId,
    FunctionVersion, Job, JobId, JobStatus, Limits, NetworkAccess, ProjectId, Runtime, RuntimeId,
    RuntimeStatus, Target, Timestamp, VersionId, Webhook, WebhookId,
};

/// The md5 of an empty package.
pub const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// A fixed instant (2024-05-01T12:00:00Z) plus `micros` microseconds.
pub fn at(micros: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
        .single()
        .expect("a valid date")
        + Duration::microseconds(micros)
}

/// An id of any kind that is the same on every run: `n` as a UUID.
pub fn fixed_id<T: From<Uuid>>(n: u128) -> T {
    T::from(Uuid::from_u128(n))
}

pub fn project(name: &str) -> ProjectId {
    name.parse().expect("a valid project id")
}

/// The limits a function gets when it asks for nothing (Qinling's defaults).
pub fn limits() -> Limits {
    Limits {
        cpu: 100,
        memory_size: 33_554_432,
        timeout: 5,
    }
}

/// An available python3 runtime of `project_id`.
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

/// A function of `project_id` on `runtime_id`, with an empty package, entry `main.main` and
/// the default limits.
pub fn function(project_id: &str, runtime_id: RuntimeId, created: i64) -> Function {
    Function {
        id: FunctionId::new(),
        project_id: project(project_id),
        name: Some(format!("fn-{created}")),
        description: None,
        runtime_id,
        code: Code::Package {
            md5sum: EMPTY_MD5.into(),
        },
        entry: Entry::default_entry(),
        limits: limits(),
        count: 0,
        latest_version: 0,
        network: NetworkAccess::Loopback,
        created_at: at(created),
        updated_at: None,
    }
}

/// A sync execution of `function`'s version 0, still waiting for a worker.
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
        node: Some("local".into()),
    }
}

/// Version `number` of `function`, a snapshot of its code, entry and limits.
pub fn version(function: &Function, number: i64, created: i64) -> FunctionVersion {
    FunctionVersion {
        id: VersionId::new(),
        project_id: function.project_id.clone(),
        function_id: function.id,
        version_number: number,
        description: None,
        code: function.code.clone(),
        entry: function.entry.clone(),
        limits: function.limits,
        count: 0,
        created_at: at(created),
        updated_at: None,
    }
}

/// Alias `name` of `function`'s version `version`.
pub fn alias(function: &Function, name: &str, version: i64, created: i64) -> Alias {
    Alias {
        id: AliasId::new(),
        project_id: function.project_id.clone(),
        name: name.parse().expect("a valid alias name"),
        function_id: function.id,
        function_version: version,
        description: None,
        created_at: at(created),
        updated_at: None,
    }
}

/// A webhook without a secret, invoking `function`'s version 0.
pub fn webhook(function: &Function, created: i64) -> Webhook {
    Webhook {
        id: WebhookId::new(),
        project_id: function.project_id.clone(),
        target: Target::Function {
            id: function.id,
            version: 0,
        },
        description: None,
        secret: None,
        split_alerts: false,
        created_at: at(created),
        updated_at: None,
    }
}

/// A running one-shot job of `function`'s version 0, due an hour after it was created.
pub fn job(function: &Function, created: i64) -> Job {
    let due = at(created) + Duration::hours(1);
    Job {
        id: JobId::new(),
        project_id: function.project_id.clone(),
        name: None,
        target: Target::Function {
            id: function.id,
            version: 0,
        },
        function_input: None,
        pattern: None,
        status: JobStatus::Running,
        first_execution_time: due,
        next_execution_time: due,
        count: Some(1),
        created_at: at(created),
        updated_at: None,
    }
}

pub fn project_row(name: &str, created: i64) -> Project {
    Project {
        id: project(name),
        description: None,
        created_at: at(created),
    }
}

/// A member (or admin) `name` of `project_id`.
pub fn user(project_id: &str, name: &str, role: Role, created: i64) -> User {
    User {
        id: UserId::new(),
        name: name.to_owned(),
        project_id: project(project_id),
        role,
        created_at: at(created),
    }
}

/// A token of `user` that never expires, stored as the hash `hash`.
pub fn token(user: &User, hash: &str, created: i64) -> ApiToken {
    ApiToken {
        id: TokenId::new(),
        user_id: user.id,
        hash: hash.to_owned(),
        description: None,
        expires_at: None,
        revoked_at: None,
        created_at: at(created),
    }
}
