//! From what a caller names (a function version or an alias) to the [`Function`] value the
//! engine runs, and from there to a stored, submitted execution. Shared by the executions API,
//! webhooks and the job scheduler, so that all three resolve aliases and versions the same way,
//! when they run.

use std::sync::Arc;

use ridge_core::{
    AliasName, Execution, ExecutionId, ExecutionInput, ExecutionStatus, Function, ProjectId,
    RuntimeId, RuntimeStatus, Target,
};
use ridge_store::{Store, StoreError};
use tokio::task::JoinHandle;

use crate::Engine;

/// A target resolved to what runs.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The function with the version's code, entry and limits applied (version 0: as stored).
    pub function: Function,
    pub version: i64,
    /// The alias the target named, recorded on the execution.
    pub alias: Option<AliasName>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Qinling's message (409).
    #[error("Runtime {id} is not available.")]
    RuntimeUnavailable { id: RuntimeId },
}

/// Resolves `target` in `project` (aliases are looked up there) now: an alias to its current
/// function and version, a version to its snapshot. The runtime must be available.
pub async fn resolve(
    store: &dyn Store,
    project: &ProjectId,
    target: &Target,
) -> Result<Resolved, ResolveError> {
    let (function_id, version, alias) = match target {
        Target::Alias(name) => {
            let alias = store.get_alias(project, name).await?;
            (
                alias.function_id,
                alias.function_version,
                Some(name.clone()),
            )
        }
        Target::Function { id, version } => (*id, *version, None),
    };
    let function = store.get_function(function_id).await?;
    let function = if version > 0 {
        store
            .get_version(function_id, version)
            .await?
            .apply(&function)
    } else {
        function
    };
    let runtime = store.get_runtime(function.runtime_id).await?;
    if runtime.status != RuntimeStatus::Available {
        return Err(ResolveError::RuntimeUnavailable { id: runtime.id });
    }
    Ok(Resolved {
        function,
        version,
        alias,
    })
}

/// The function as an execution runs it: its version's snapshot for a version above 0.
pub async fn function_for(
    store: &dyn Store,
    execution: &Execution,
) -> Result<Function, StoreError> {
    let function = store.get_function(execution.function_id).await?;
    if execution.function_version > 0 {
        let version = store
            .get_version(execution.function_id, execution.function_version)
            .await?;
        return Ok(version.apply(&function));
    }
    Ok(function)
}

/// What a new execution carries besides its target.
#[derive(Debug, Clone, Default)]
pub struct NewExecution {
    pub input: Option<ExecutionInput>,
    pub description: Option<String>,
    pub sync: bool,
}

impl Engine {
    /// Stores a `running` execution of `resolved` (counting it on the function or version) and
    /// submits it. A sync caller awaits the handle; an async one drops it.
    pub async fn start_execution(
        self: &Arc<Self>,
        resolved: Resolved,
        new: NewExecution,
    ) -> Result<(Execution, JoinHandle<Execution>), StoreError> {
        let execution = Execution {
            id: ExecutionId::new(),
            project_id: resolved.function.project_id.clone(),
            function_id: resolved.function.id,
            function_version: resolved.version,
            function_alias: resolved.alias.map(String::from),
            description: new.description,
            status: ExecutionStatus::Running,
            sync: new.sync,
            input: new.input,
            result: None,
            started_at: None,
            created_at: ridge_core::time::now(),
            updated_at: None,
        };
        self.store.create_execution(&execution).await?;
        let handle = self.submit(execution.clone(), resolved.function);
        Ok((execution, handle))
    }
}
