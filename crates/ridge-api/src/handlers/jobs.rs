//! `/v1/jobs`: cron and one-shot triggers, with Qinling's validation rules and messages
//! (`ridge_core::job`), and Ridge's bounds: a pattern may fire at most once every
//! `job_min_interval`, and a project may hold at most its `jobs` quota of jobs that can run. The scheduler that fires them is `ridge_engine::jobs`; both read the
//! time on the same clock ([`AppState::clock`](crate::AppState)).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use ridge_core::api::{CreateJob, JobList, JobView, UpdateJob};
use ridge_core::job::{JobUpdate, check_interval, plan};
use ridge_core::{Job, JobId, JobStatus, Target};
use serde_json::Value;

use super::{JsonBody, check_text, path_id};
use crate::access;
use crate::context::Caller;
use crate::openapi::{Authed, Denied, Invalid, Missing};
use crate::query;
use crate::{ApiError, AppState};

async fn visible(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Job, ApiError> {
    access::job(state, caller, path_id(raw_id)?).await
}

/// `function_input` as Qinling stores it: a string (JSON clients may send an object, kept as
/// its JSON text). At most 255 characters, Qinling's column size.
fn function_input(raw: Option<Value>) -> Result<Option<String>, ApiError> {
    let text = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        Some(other) => ridge_core::json::python_dumps(&other),
    };
    check_text("function_input", Some(&text))?;
    Ok(Some(text))
}

/// `count` as an int or a numeric string; null is unlimited.
fn count(raw: Option<&Value>) -> Result<Option<i64>, ApiError> {
    let invalid = |v: &dyn std::fmt::Display| {
        ApiError::BadRequest(format!(
            "invalid `count` {v}: expected a positive number of runs, or none for no limit"
        ))
    };
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| invalid(n)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid(&format!("`{s}`"))),
        Some(other) => Err(invalid(other)),
    }
}

#[utoipa::path(
    post, path = "/v1/jobs", tag = "jobs", request_body = CreateJob,
    responses((status = 201, description = "the new job", body = JobView), Authed, Invalid, Denied, Missing),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateJob>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    check_text("name", body.name.as_deref())?;
    let target = Target::from_request(
        body.function_alias.as_deref(),
        body.function_id.as_deref(),
        body.function_version.as_ref(),
    )?;
    let input = function_input(body.function_input)?;
    let first = body
        .first_execution_time
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(ridge_core::time::parse_user)
        .transpose()?;
    let now = state.clock.now();
    let schedule = plan(
        body.pattern.as_deref(),
        first,
        count(body.count.as_ref())?,
        now,
        state.config.job_min_lead,
    )?;
    if let Some(pattern) = &schedule.pattern {
        check_interval(pattern, &now, state.config.job_min_interval)?;
    }
    match &target {
        Target::Alias(name) => {
            access::alias(&state, &caller, name).await?;
        }
        Target::Function { id, version } => {
            super::aliases::check_target(&state, &caller, *id, *version).await?;
        }
    }
    state.engine.admit_job(&caller.project).await?;
    let job = Job {
        id: JobId::new(),
        project_id: caller.project.clone(),
        name: body.name,
        target,
        function_input: input,
        pattern: schedule.pattern,
        status: JobStatus::Running,
        first_execution_time: schedule.first_execution_time,
        next_execution_time: schedule.next_execution_time,
        count: schedule.count,
        created_at: now,
        updated_at: None,
    };
    state.store.create_job(&job).await?;
    Ok((StatusCode::CREATED, Json(JobView::from(&job))))
}

#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs", params(("all_projects" = Option<bool>, Query, description = "admins: every project's"), ("project_id" = Option<String>, Query, description = "admins: this project's")),
    responses((status = 200, description = "the jobs", body = JobList), Authed, Invalid, Denied),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<JobList>, ApiError> {
    let params = query::parse(raw.as_deref(), &["all_projects", "project_id"])?;
    let scope = access::list_scope(&caller, &params)?;
    let jobs = state.store.list_jobs(&scope).await?;
    Ok(Json(JobList {
        jobs: jobs.iter().map(JobView::from).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path, format = Uuid, description = "the job's id")),
    responses((status = 200, description = "the job", body = JobView), Authed, Invalid, Missing),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(JobView::from(&visible(&state, &caller, &id).await?)))
}

#[utoipa::path(
    put, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path, format = Uuid, description = "the job's id")), request_body = UpdateJob,
    responses((status = 200, description = "the job, as updated", body = JobView), Authed, Invalid, Denied, Missing),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateJob>,
) -> Result<Json<JobView>, ApiError> {
    let mut job = visible(&state, &caller, &id).await?;
    check_text("name", body.name.as_deref())?;
    let new_pattern = body.pattern.is_some();
    let update = JobUpdate {
        name: body.name,
        function_input: function_input(body.function_input)?,
        status: body.status.filter(|s| !s.is_empty()),
        pattern: body.pattern,
        next_execution_time: body
            .next_execution_time
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(ridge_core::time::parse_user)
            .transpose()?,
    };
    let now = state.clock.now();
    let expected = (job.status, job.next_execution_time);
    job.apply(update, now, state.config.job_min_lead)?;
    if new_pattern && let Some(pattern) = &job.pattern {
        check_interval(pattern, &now, state.config.job_min_interval)?;
    }
    job.updated_at = Some(now);
    if !state.store.update_job(&job, expected).await? {
        return Err(ApiError::Conflict(format!(
            "job `{}` ran or changed while it was being updated: read it again and retry",
            job.id
        )));
    }
    Ok(Json(JobView::from(&job)))
}

#[utoipa::path(
    delete, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path, format = Uuid, description = "the job's id")),
    responses((status = 204, description = "deleted"), Authed, Invalid, Denied, Missing),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let job = visible(&state, &caller, &id).await?;
    state.store.delete_job(job.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many upcoming runs `GET /v1/jobs/schedule` lists.
pub const PREVIEW_RUNS: usize = 5;

/// `GET /v1/jobs/schedule?pattern=&first_execution_time=&count=` (Ridge): when a job created
/// with these settings would run (its next [`PREVIEW_RUNS`] times), validated exactly as
/// `POST /v1/jobs` validates them, so a form can show the times, or the error, before saving.
#[utoipa::path(
    get, path = "/v1/jobs/schedule", tag = "jobs",
    params(
        ("pattern" = Option<String>, Query, description = "a cron pattern, as a job's"),
        ("first_execution_time" = Option<String>, Query, description = "as a job's"),
        ("count" = Option<String>, Query, description = "how many times the job would run, as a job's"),
    ),
    responses(
        (status = 200, description = "`next_execution_times`: when the job would run, at most five", body = Object),
        Authed, Invalid,
    ),
)]
pub async fn schedule(
    State(state): State<AppState>,
    _caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = query::parse(
        raw.as_deref(),
        &["pattern", "first_execution_time", "count"],
    )?;
    let first = params
        .get("first_execution_time")
        .filter(|t| !t.is_empty())
        .map(|t| ridge_core::time::parse_user(t))
        .transpose()?;
    let runs = count(params.get("count").cloned().map(Value::String).as_ref())?;
    let now = state.clock.now();
    let schedule = plan(
        params
            .get("pattern")
            .map(String::as_str)
            .filter(|p| !p.is_empty()),
        first,
        runs,
        now,
        state.config.job_min_lead,
    )?;
    let mut times = vec![schedule.next_execution_time];
    if let Some(pattern) = &schedule.pattern {
        check_interval(pattern, &now, state.config.job_min_interval)?;
        let limit = schedule
            .count
            .map_or(PREVIEW_RUNS, |c| (c.max(1) as usize).min(PREVIEW_RUNS));
        while times.len() < limit {
            let Some(next) = times.last().and_then(|t| pattern.next_after(t)) else {
                break;
            };
            times.push(next);
        }
    }
    let times: Vec<String> = times.iter().map(ridge_core::time::format).collect();
    Ok(Json(serde_json::json!({ "next_execution_times": times })))
}
