//! From what a caller names (a function version or an alias) to what runs: the function with
//! its version applied, and its runtime, each read from the store once. Every execution is
//! resolved here when it starts, so executions, webhooks and jobs follow aliases alike.

use ridge_core::tenancy::QuotaOverrides;
use ridge_core::{AliasName, Execution, Function, ProjectId, Runtime, RuntimeStatus, Target};
use ridge_store::{Store, StoreError};

use crate::error::EngineError;
use crate::request::RunTarget;

/// A target resolved to what runs.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The function with the version's code, entry and limits applied (version 0: as stored).
    pub function: Function,
    pub version: i64,
    /// The alias the target named, recorded on the execution.
    pub alias: Option<AliasName>,
    /// The function's runtime, handed on to dispatch.
    pub runtime: Runtime,
    /// The project's quota overrides when they were read with the function
    /// ([`RunTarget::Prepared`]); admission reads them otherwise.
    pub quotas: Option<QuotaOverrides>,
}

/// Resolves `target` in `project` (aliases are looked up there) now: an alias to its current
/// function and version, a version to its snapshot. The runtime must be available.
pub(crate) async fn resolve(
    store: &dyn Store,
    project: &ProjectId,
    target: RunTarget,
) -> Result<Resolved, EngineError> {
    let (function, version, alias) = match target {
        RunTarget::Prepared { to_run, version } => {
            let ridge_store::FunctionToRun {
                function,
                runtime,
                quotas,
            } = *to_run;
            let function = at_version(store, function, version).await?;
            return available(Resolved {
                function,
                version,
                alias: None,
                runtime,
                quotas: Some(quotas),
            });
        }
        RunTarget::Loaded { function, version } => (function, version, None),
        RunTarget::Named(Target::Function { id, version }) => {
            (store.get_function(id).await?, version, None)
        }
        RunTarget::Named(Target::Alias(name)) => {
            let alias = store.get_alias(project, &name).await?;
            let function = store.get_function(alias.function_id).await?;
            (function, alias.function_version, Some(name))
        }
    };
    let function = at_version(store, function, version).await?;
    let runtime = store.get_runtime(function.runtime_id).await?;
    available(Resolved {
        function,
        version,
        alias,
        runtime,
        quotas: None,
    })
}

/// `resolved`, if its runtime is available.
fn available(resolved: Resolved) -> Result<Resolved, EngineError> {
    if resolved.runtime.status != RuntimeStatus::Available {
        return Err(EngineError::RuntimeUnavailable {
            id: resolved.runtime.id,
        });
    }
    Ok(resolved)
}

/// What a stored execution runs (for recovery): its function at its version, and its runtime.
pub(crate) async fn resolve_stored(
    store: &dyn Store,
    execution: &Execution,
) -> Result<(Function, Runtime), StoreError> {
    resolve_version(store, execution.function_id, execution.function_version).await
}

/// What a function version runs (for a pre-warm): the function at `version`, and its runtime.
pub(crate) async fn resolve_version(
    store: &dyn Store,
    id: ridge_core::FunctionId,
    version: i64,
) -> Result<(Function, Runtime), StoreError> {
    let function = store.get_function(id).await?;
    let function = at_version(store, function, version).await?;
    let runtime = store.get_runtime(function.runtime_id).await?;
    Ok((function, runtime))
}

/// The function as `version` runs it: the version's snapshot for a version above 0.
async fn at_version(
    store: &dyn Store,
    function: Function,
    version: i64,
) -> Result<Function, StoreError> {
    if version == 0 {
        return Ok(function);
    }
    Ok(store
        .get_version(function.id, version)
        .await?
        .apply(&function))
}
