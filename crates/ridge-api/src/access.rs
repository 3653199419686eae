//! The access model: every "may this caller do that?" decision of the API, in one place, the
//! same in every auth mode (QINLING-API.md §1.1). Handlers call these functions and never
//! compare projects or roles themselves.
//!
//! - Admin-only calls ([`AdminOnly`]) answer a member 403 `Operation not allowed`.
//! - A lookup by id of another project's object answers a member 404, as if it did not exist.
//!   An admin may read and change another project's objects ([`Intent::Use`]), except where
//!   Qinling insists on the caller's own project ([`Intent::Own`]: versions, and a function
//!   that a webhook, alias, job or execution is to target), where even an admin gets 404.
//! - Deleting another project's function is 403 even for an admin.
//! - Runtimes are visible when public or the caller's project's.
//! - Lists cover the caller's project; `all_projects` and `project_id` are admin-only. Unlike
//!   Qinling, this holds for aliases too (Qinling checked an undefined rule there, which let
//!   any member list every project's aliases).
//! - Aliases are found by name within the caller's project only.

use std::collections::BTreeMap;

use ridge_core::{
    Alias, AliasName, EventTrigger, EventTriggerId, Execution, ExecutionId, Function, FunctionId,
    Job, JobId, ProjectId, Runtime, RuntimeId, Webhook, WebhookId,
};
use ridge_store::{FunctionToRun, ProjectScope};

use crate::context::Caller;
use crate::query;
use crate::{ApiError, AppState};

/// Calls only an admin may make (Qinling's admin-only policy rules, and Ridge's own admin
/// extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOnly {
    /// `runtime:create|update|delete`.
    ChangeRuntime,
    /// `runtime_pool:get_all`.
    RuntimePool,
    /// `function_worker:get_all`.
    ListWorkers,
    /// `function[_version]:scale_up|scale_down|detach`.
    ScaleWorkers,
    /// `<resource>:get_all:all_projects`.
    AllProjects,
    /// Ridge: projects, users and tokens.
    ManageIdentity,
    /// Ridge: another project's quotas or retention, and changing any project's.
    ManageQuotas,
    /// Ridge: `GET /metrics`, which names every project's functions.
    Metrics,
}

/// Fails with 403 `Operation not allowed` unless the caller is an admin.
pub fn require(caller: &Caller, _call: AdminOnly) -> Result<(), ApiError> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Operation not allowed".to_owned()))
    }
}

/// What a lookup by id is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Read or change the object: an admin may reach any project's.
    Use,
    /// Only the caller's own project's object, even for an admin.
    Own,
}

fn reaches(caller: &Caller, owner: &ProjectId, intent: Intent) -> bool {
    &caller.project == owner || (intent == Intent::Use && caller.is_admin)
}

pub async fn function(
    state: &AppState,
    caller: &Caller,
    id: FunctionId,
    intent: Intent,
) -> Result<Function, ApiError> {
    let function = state.store.get_function(id).await?;
    let owner = function.project_id.clone();
    reached(caller, &owner, intent, function, "Function", &id)
}

/// [`function`] for running it: read with its runtime and its project's quota overrides in one
/// query, which the engine then does not read again.
pub async fn function_to_run(
    state: &AppState,
    caller: &Caller,
    id: FunctionId,
) -> Result<FunctionToRun, ApiError> {
    let to_run = state.store.get_function_to_run(id).await?;
    let owner = to_run.function.project_id.clone();
    reached(caller, &owner, Intent::Use, to_run, "Function", &id)
}

/// Deleting a function: only its own project may, even an admin gets 403 (Qinling §3.3).
pub fn delete_function(caller: &Caller, function: &Function) -> Result<(), ApiError> {
    if function.project_id == caller.project {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Function can only be deleted by its owner.".to_owned(),
        ))
    }
}

/// The object if the caller reaches its owner with `intent`, else a 404 naming `kind` and `id`
/// (as if it did not exist).
fn reached<T>(
    caller: &Caller,
    owner: &ProjectId,
    intent: Intent,
    object: T,
    kind: &str,
    id: &dyn std::fmt::Display,
) -> Result<T, ApiError> {
    if reaches(caller, owner, intent) {
        Ok(object)
    } else {
        Err(ApiError::NotFound(format!("{kind} not found [id={id}]")))
    }
}

pub async fn execution(
    state: &AppState,
    caller: &Caller,
    id: ExecutionId,
) -> Result<Execution, ApiError> {
    let execution = state.store.get_execution(id).await?;
    let owner = execution.project_id.clone();
    reached(caller, &owner, Intent::Use, execution, "Execution", &id)
}

pub async fn webhook(
    state: &AppState,
    caller: &Caller,
    id: WebhookId,
) -> Result<Webhook, ApiError> {
    let webhook = state.store.get_webhook(id).await?;
    let owner = webhook.project_id.clone();
    reached(caller, &owner, Intent::Use, webhook, "Webhook", &id)
}

pub async fn event_trigger(
    state: &AppState,
    caller: &Caller,
    id: EventTriggerId,
) -> Result<EventTrigger, ApiError> {
    let trigger = state.store.get_event_trigger(id).await?;
    let owner = trigger.project_id.clone();
    reached(caller, &owner, Intent::Use, trigger, "event trigger", &id)
}

pub async fn job(state: &AppState, caller: &Caller, id: JobId) -> Result<Job, ApiError> {
    let job = state.store.get_job(id).await?;
    let owner = job.project_id.clone();
    reached(caller, &owner, Intent::Use, job, "Job", &id)
}

/// A runtime the caller may see: public, or its own project's (admins alike, as in Qinling).
pub async fn runtime(
    state: &AppState,
    caller: &Caller,
    id: RuntimeId,
) -> Result<Runtime, ApiError> {
    let runtime = state.store.get_runtime(id).await?;
    if runtime.is_public || runtime.project_id == caller.project {
        Ok(runtime)
    } else {
        Err(ApiError::NotFound(format!("Runtime not found [id={id}]")))
    }
}

/// An alias, by name within the caller's project.
pub async fn alias(state: &AppState, caller: &Caller, name: &AliasName) -> Result<Alias, ApiError> {
    Ok(state.store.get_alias(&caller.project, name).await?)
}

/// Which projects a list covers (Qinling's `get_project_params`): a member's own project; an
/// admin's own project, or `project_id=X`, or every project with `all_projects=true`.
pub fn list_scope(
    caller: &Caller,
    params: &BTreeMap<String, String>,
) -> Result<ProjectScope, ApiError> {
    let all = match params.get("all_projects") {
        Some(v) => query::boolean("all_projects", v)?,
        None => false,
    };
    if all {
        require(caller, AdminOnly::AllProjects)?;
    }
    // A member's `project_id` is replaced by its own project, as in Qinling.
    if let Some(project) = params.get("project_id").filter(|_| caller.is_admin) {
        return Ok(ProjectScope::Project(project.parse()?));
    }
    Ok(if all {
        ProjectScope::All
    } else {
        ProjectScope::Project(caller.project.clone())
    })
}

/// Whose quotas a caller may read: its own project's; an admin any project's.
pub fn quota_project(caller: &Caller, asked: Option<ProjectId>) -> Result<ProjectId, ApiError> {
    match asked {
        Some(p) if p != caller.project => {
            require(caller, AdminOnly::ManageQuotas)?;
            Ok(p)
        }
        _ => Ok(caller.project.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(project: &str, is_admin: bool) -> Caller {
        Caller {
            project: project.parse().expect("project"),
            is_admin,
            user: None,
            roles: Vec::new(),
        }
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn members_list_their_own_project_only() {
        let member = caller("a", false);
        assert_eq!(
            list_scope(&member, &params(&[])).expect("own"),
            ProjectScope::Project("a".parse().expect("p"))
        );
        let err = list_scope(&member, &params(&[("all_projects", "true")])).expect_err("admin");
        assert!(matches!(err, ApiError::Forbidden(ref m) if m == "Operation not allowed"));
        assert_eq!(
            list_scope(&member, &params(&[("project_id", "b")])).expect("replaced"),
            ProjectScope::Project("a".parse().expect("p"))
        );
        // `all_projects=false` is harmless.
        assert!(list_scope(&member, &params(&[("all_projects", "false")])).is_ok());
    }

    #[test]
    fn admins_see_their_own_project_unless_they_ask_for_more() {
        let admin = caller("a", true);
        assert_eq!(
            list_scope(&admin, &params(&[])).expect("own"),
            ProjectScope::Project("a".parse().expect("p"))
        );
        assert_eq!(
            list_scope(&admin, &params(&[("all_projects", "1")])).expect("all"),
            ProjectScope::All
        );
        assert_eq!(
            list_scope(&admin, &params(&[("project_id", "b")])).expect("b"),
            ProjectScope::Project("b".parse().expect("p"))
        );
    }

    #[test]
    fn reach_follows_intent() {
        let b: ProjectId = "b".parse().expect("p");
        assert!(!reaches(&caller("a", false), &b, Intent::Use));
        assert!(reaches(&caller("a", true), &b, Intent::Use));
        assert!(!reaches(&caller("a", true), &b, Intent::Own));
        assert!(reaches(&caller("b", false), &b, Intent::Own));
        assert!(quota_project(&caller("a", false), Some(b.clone())).is_err());
        assert_eq!(
            quota_project(&caller("a", true), Some(b.clone())).expect("admin"),
            b
        );
    }
}
