//! Fixtures for this crate's unit tests: an engine on a temporary SQLite store, with a python3
//! runtime and one function (with a stored package) seeded, and stand-in workers that need no
//! processes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ridge_runtime::{
    CheckError, Invocation, InvocationOutcome, RuntimeAdapter, StartError, Worker, WorkerError,
    WorkerSpec,
};

use ridge_core::{Code, Execution, Function, Runtime, RuntimeKind, fixtures};
use ridge_package::{LocalPackageStore, PackageStore, UnpackLimits};
use ridge_store::{SqliteStore, Store};

use crate::adapters::Adapter;
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
        Self::with_adapters(config, Vec::new()).await
    }

    pub async fn with_adapters(config: EngineConfig, adapters: Vec<Adapter>) -> Self {
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
        let function = seed(store.as_ref(), packages.as_ref()).await;
        let engine = Engine::new(store.clone(), packages, adapters, config);
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
            sync: false,
            ..fixtures::execution(&self.function, 0)
        };
        self.store
            .create_execution(&execution)
            .await
            .expect("create an execution");
        execution
    }
}

/// A public python3 runtime and a function of the default project on it, with a package (the
/// smallest WebAssembly header, which the package store accepts and unpacks).
pub(crate) async fn seed(store: &dyn Store, packages: &dyn PackageStore) -> Function {
    let runtime = Runtime {
        image: "python3".into(),
        ..fixtures::runtime("default", true, 0)
    };
    store.create_runtime(&runtime).await.expect("runtime");
    let function = fixtures::function("default", runtime.id, 0);
    let md5sum = packages
        .put(
            &function.project_id,
            function.id,
            bytes::Bytes::from_static(b"\0asm\x01\0\0\0"),
            None,
        )
        .await
        .expect("package");
    let function = Function {
        code: Code::Package { md5sum },
        ..function
    };
    store.create_function(&function).await.expect("function");
    function
}

/// The ids of the executions stand-in workers ran, in the order they ran them.
pub(crate) type Ran = Arc<std::sync::Mutex<Vec<ridge_core::ExecutionId>>>;

/// A stand-in python3 adapter whose workers take `start` to start and `call` to answer, and
/// note each execution they run in `ran` (one list for all of them).
#[derive(Default)]
pub(crate) struct Slow {
    pub start: Duration,
    pub call: Duration,
    pub ran: Ran,
}

#[async_trait]
impl RuntimeAdapter for Slow {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::from_image("python3").expect("a built-in kind")
    }

    async fn check(&self) -> Result<String, CheckError> {
        Ok("a stand-in".to_owned())
    }

    async fn start(&self, spec: &WorkerSpec) -> Result<Box<dyn Worker>, StartError> {
        tokio::time::sleep(self.start).await;
        Ok(Box::new(SlowWorker {
            name: format!("stand-in-{}", spec.function_id),
            call: self.call,
            ran: self.ran.clone(),
        }))
    }
}

struct SlowWorker {
    name: String,
    call: Duration,
    ran: Ran,
}

#[async_trait]
impl Worker for SlowWorker {
    fn name(&self) -> &str {
        &self.name
    }

    fn pid(&self) -> Option<u32> {
        None
    }

    async fn invoke(&mut self, invocation: &Invocation) -> Result<InvocationOutcome, WorkerError> {
        tokio::time::sleep(self.call).await;
        self.ran
            .lock()
            .expect("not poisoned")
            .push(invocation.execution_id);
        Ok(InvocationOutcome {
            output: Ok(serde_json::json!("done")),
            logs: format!("slept {:?}\n", self.call),
        })
    }

    async fn kill(&mut self) {}
}

/// A stand-in python3 adapter that notes whether each start got the start-up CPU allowance;
/// its workers crash in every call.
#[derive(Default)]
pub(crate) struct Crashing {
    pub allowances: std::sync::Mutex<Vec<bool>>,
}

#[async_trait]
impl RuntimeAdapter for Crashing {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::from_image("python3").expect("a built-in kind")
    }

    async fn check(&self) -> Result<String, CheckError> {
        Ok("a stand-in".to_owned())
    }

    async fn start(&self, spec: &WorkerSpec) -> Result<Box<dyn Worker>, StartError> {
        self.allowances
            .lock()
            .expect("not poisoned")
            .push(spec.startup_allowance);
        Ok(Box::new(CrashingWorker(format!(
            "crashing-{}",
            spec.function_id
        ))))
    }
}

struct CrashingWorker(String);

#[async_trait]
impl Worker for CrashingWorker {
    fn name(&self) -> &str {
        &self.0
    }

    fn pid(&self) -> Option<u32> {
        None
    }

    async fn invoke(&mut self, _: &Invocation) -> Result<InvocationOutcome, WorkerError> {
        Err(WorkerError::Exited {
            detail: "exit code 3".into(),
            killed: false,
            logs: String::new(),
        })
    }

    async fn kill(&mut self) {}
}

/// A stand-in worker for the pools, which only name, keep and kill workers.
pub(crate) struct Named(pub String);

#[async_trait]
impl Worker for Named {
    fn name(&self) -> &str {
        &self.0
    }

    fn pid(&self) -> Option<u32> {
        None
    }

    async fn invoke(&mut self, _: &Invocation) -> Result<InvocationOutcome, WorkerError> {
        Err(WorkerError::Protocol {
            detail: "not a real worker".into(),
        })
    }

    async fn kill(&mut self) {}
}
