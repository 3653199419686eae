//! Fixtures for this crate's unit tests: an engine on a temporary SQLite store, with a python3
//! runtime and one function seeded.

use std::sync::Arc;

use ridge_core::{
    Code, Entry, Execution, ExecutionId, ExecutionStatus, Function, FunctionId, Limits,
    NetworkAccess, ProjectId, Runtime, RuntimeId, RuntimeStatus,
};
use ridge_package::{LocalPackageStore, PackageStore, UnpackLimits};
use ridge_store::{SqliteStore, Store};

use crate::{Engine, EngineConfig};

pub(crate) struct Fixture {
    pub store: Arc<dyn Store>,
    pub engine: Arc<Engine>,
    pub function: Function,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// An engine without runtime adapters: its executions end `error`, which is enough for
    /// tests of what happens before a worker.
    pub async fn new(config: EngineConfig) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("ridge.db"))
                .await
                .expect("open the store"),
        );
        let packages: Arc<dyn PackageStore> = Arc::new(LocalPackageStore::new(
            dir.path().join("packages"),
            dir.path().join("unpacked"),
            UnpackLimits::default(),
        ));
        let function = seed(store.as_ref()).await;
        let engine = Engine::new(store.clone(), packages, Vec::new(), config);
        Self {
            store,
            engine,
            function,
            _dir: dir,
        }
    }

    /// A `running` execution of the function, recorded but not submitted.
    pub async fn unfinished_execution(&self) -> Execution {
        let execution = Execution {
            id: ExecutionId::new(),
            project_id: self.function.project_id.clone(),
            function_id: self.function.id,
            function_version: 0,
            function_alias: None,
            description: None,
            status: ExecutionStatus::Running,
            sync: false,
            input: None,
            result: None,
            started_at: None,
            created_at: ridge_core::time::now(),
            updated_at: None,
        };
        self.store
            .create_execution(&execution)
            .await
            .expect("create an execution");
        execution
    }
}

/// A public python3 runtime and a function of the default project on it.
pub(crate) async fn seed(store: &dyn Store) -> Function {
    let now = ridge_core::time::now();
    let project = ProjectId::default_project();
    let runtime = Runtime {
        id: RuntimeId::new(),
        project_id: project.clone(),
        name: None,
        description: None,
        image: "python3".into(),
        status: RuntimeStatus::Available,
        is_public: true,
        trusted: true,
        created_at: now,
        updated_at: None,
    };
    store.create_runtime(&runtime).await.expect("runtime");
    let function = Function {
        id: FunctionId::new(),
        project_id: project,
        name: None,
        description: None,
        runtime_id: runtime.id,
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
        network: NetworkAccess::Loopback,
        created_at: now,
        updated_at: None,
    };
    store.create_function(&function).await.expect("function");
    function
}
