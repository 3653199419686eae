//! `/v1/webhooks`: create, list, show, update, delete, and the public
//! `POST /v1/webhooks/{id}/invoke`, which runs the webhook's target asynchronously with the
//! request's form fields, JSON object body and query parameters as input and answers 202
//! `{"execution_id": ...}`.
//!
//! Beyond Qinling: an optional secret with replay-protected signatures (see
//! [`crate::webhook_guard`]), per-webhook rate limits that count refused calls apart (429),
//! and a body size limit (413).

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use ridge_core::api::{Fault, InvokeView, WebhookList, WebhookRequest, WebhookView};
use ridge_core::version::parse_version_number;
use ridge_core::webhook::{MAX_SPLIT_ALERTS, generate_secret, validate_secret};
use ridge_core::{AliasName, ExecutionInput, FunctionId, Target, Webhook, WebhookId};
use ridge_engine::{ExecutionRequest, Origin, RunTarget};
use serde_json::Value;

use super::{JsonBody, check_text, path_id};
use crate::access;
use crate::context::{BaseUrl, Caller};
use crate::kwargs::Kwargs;
use crate::openapi::{Authed, Denied, Invalid, Missing};
use crate::query;
use crate::webhook_guard::{self, Refusal, Verdict};
use crate::{ApiError, AppState};

async fn visible(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Webhook, ApiError> {
    access::webhook(state, caller, path_id(raw_id)?).await
}

fn view(base: &BaseUrl, webhook: &Webhook) -> WebhookView {
    WebhookView::new(webhook, &base.0)
}

/// The `secret` field: `Some(Some(s))` sets, `Some(None)` removes, `None` leaves it.
fn secret(raw: Option<&Value>) -> Result<Option<Option<String>>, ApiError> {
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(Some(generate_secret()))),
        Some(Value::Bool(false)) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => {
            validate_secret(s)?;
            Ok(Some(Some(s.clone())))
        }
        Some(_) => Err(ApiError::BadRequest(
            "invalid webhook `secret`: expected `true` (generate one), a string of 16 to 255 characters, or `false` to remove it".to_owned(),
        )),
    }
}

/// Checks a target as Qinling does: an alias must exist in the caller's project; a function
/// must be the caller's own and a version above 0 must exist. Event triggers check theirs alike.
pub(super) async fn check(
    state: &AppState,
    caller: &Caller,
    target: &Target,
) -> Result<(), ApiError> {
    match target {
        Target::Alias(name) => {
            access::alias(state, caller, name).await?;
            Ok(())
        }
        Target::Function { id, version } => {
            super::aliases::check_target(state, caller, *id, *version).await
        }
    }
}

#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks", request_body = WebhookRequest,
    responses((status = 201, description = "the new webhook (with its secret, when one was generated or set)", body = WebhookView), Authed, Invalid, Denied, Missing),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    base: BaseUrl,
    JsonBody(body): JsonBody<WebhookRequest>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    check_text("description", body.description.as_deref())?;
    let target = Target::from_request(
        body.function_alias.as_deref(),
        body.function_id.as_deref(),
        body.function_version.as_ref(),
    )?;
    let secret = secret(body.secret.as_ref())?.flatten();
    check(&state, &caller, &target).await?;
    let id = WebhookId::new();
    let webhook = Webhook {
        id,
        project_id: caller.project.clone(),
        target,
        description: body.description,
        secret: secret.as_deref().map(|s| state.secret_box.seal(id, s)),
        split_alerts: body.split_alerts.unwrap_or(false),
        created_at: ridge_core::time::now(),
        updated_at: None,
    };
    state.store.create_webhook(&webhook).await?;
    let mut shown = view(&base, &webhook);
    shown.secret = secret;
    Ok((StatusCode::CREATED, Json(shown)))
}

#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks", params(("all_projects" = Option<bool>, Query, description = "admins: every project's"), ("project_id" = Option<String>, Query, description = "admins: this project's")),
    responses((status = 200, description = "the webhooks", body = WebhookList), Authed, Invalid, Denied),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    base: BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Json<WebhookList>, ApiError> {
    let params = query::parse(raw.as_deref(), &["all_projects", "project_id"])?;
    let scope = access::list_scope(&caller, &params)?;
    let webhooks = state.store.list_webhooks(&scope).await?;
    Ok(Json(WebhookList {
        webhooks: webhooks.iter().map(|w| view(&base, w)).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, format = Uuid, description = "the webhook's id")),
    responses((status = 200, description = "the webhook", body = WebhookView), Authed, Invalid, Missing),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    base: BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let webhook = visible(&state, &caller, &id).await?;
    Ok(Json(view(&base, &webhook)))
}

#[utoipa::path(
    put, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, format = Uuid, description = "the webhook's id")), request_body = WebhookRequest,
    responses((status = 200, description = "the webhook, as updated", body = WebhookView), Authed, Invalid, Denied, Missing),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    base: BaseUrl,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<WebhookRequest>,
) -> Result<Json<WebhookView>, ApiError> {
    let mut webhook = visible(&state, &caller, &id).await?;
    check_text("description", body.description.as_deref())?;
    let alias = match body.function_alias.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => Some(a.parse::<AliasName>()?),
        None => None,
    };
    let function_id = match body.function_id.as_deref().filter(|f| !f.is_empty()) {
        Some(f) => Some(f.parse::<FunctionId>()?),
        None => None,
    };
    let version = match body.function_version.as_ref().filter(|v| !v.is_null()) {
        Some(v) => Some(parse_version_number(Some(v))?),
        None => None,
    };
    let new_secret = secret(body.secret.as_ref())?;
    // Qinling: a new alias replaces the function target; a new function or version replaces
    // the alias.
    let target = match (alias, function_id, version, &webhook.target) {
        (Some(alias), _, _, _) => Target::Alias(alias),
        (None, None, None, current) => current.clone(),
        (
            None,
            Some(id),
            v,
            Target::Function {
                id: old,
                version: old_v,
            },
        ) => Target::Function {
            id,
            version: v.unwrap_or(if id == *old { *old_v } else { 0 }),
        },
        (None, Some(id), v, Target::Alias(_)) => Target::Function {
            id,
            version: v.unwrap_or(0),
        },
        (None, None, Some(v), Target::Function { id, .. }) => Target::Function {
            id: *id,
            version: v,
        },
        (None, None, Some(_), Target::Alias(_)) => {
            return Err(ApiError::BadRequest(
                "cannot set `function_version` alone on a webhook that targets an alias: give `function_id` too".to_owned(),
            ));
        }
    };
    if target != webhook.target {
        check(&state, &caller, &target).await?;
    }
    webhook.target = target;
    if let Some(d) = body.description {
        webhook.description = Some(d);
    }
    if let Some(split) = body.split_alerts {
        webhook.split_alerts = split;
    }
    if let Some(s) = &new_secret {
        webhook.secret = s.as_deref().map(|s| state.secret_box.seal(webhook.id, s));
    }
    webhook.updated_at = Some(ridge_core::time::now());
    state.store.update_webhook(&webhook).await?;
    let mut shown = view(&base, &webhook);
    shown.secret = new_secret.flatten();
    Ok(Json(shown))
}

#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, format = Uuid, description = "the webhook's id")),
    responses((status = 204, description = "deleted"), Authed, Invalid, Denied, Missing),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let webhook = visible(&state, &caller, &id).await?;
    state.store.delete_webhook(webhook.id).await?;
    state.webhook_limiter.forget(webhook.id);
    state.webhook_secrets.forget(webhook.id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/webhooks/{id}/invoke`: public, like Qinling's (no `Caller`).
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/invoke", tag = "webhooks", security(()), params(("id" = String, Path, format = Uuid, description = "the webhook's id"),
        ("X-Ridge-Timestamp" = Option<String>, Header, description = "with `X-Ridge-Signature`: Unix seconds"),
        ("X-Ridge-Signature" = Option<String>, Header, description = "`v1=<hex HMAC-SHA256 of \"<timestamp>.<body>\" keyed with the secret>`"),
        ("X-Hub-Signature-256" = Option<String>, Header, description = "`sha256=<hex HMAC-SHA256 of the body>` (GitHub's convention)"),
    ),
    request_body(description = "the function's input: a JSON object, or form fields", content(
        (Object = "application/json"),
        (Object = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 202, description = "an execution was started", body = InvokeView),
        Invalid, Missing,
        (status = 401, description = "the webhook has a secret and the call did not prove it (or `Authorization: Bearer <secret>`)", body = Fault),
        (status = 409, description = "the function's runtime is not available", body = Fault),
        (status = 413, description = "a body larger than `webhook_max_body`", body = Fault),
        (status = 415, description = "a body that is not a form or JSON", body = Fault),
        (status = 429, description = "over the webhook's rate limit, or a quota", body = Fault),
        (status = 500, description = "the platform failed", body = Fault),
    ),
)]
pub async fn invoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let id: WebhookId = path_id(&id)?;
    let webhook = state.store.get_webhook(id).await?;
    let now = state.clock.instant();
    let per_minute = state.config.webhook_rate_limit;
    let over_limit = |wait: Duration, what: &str| {
        let secs = wait.as_secs().max(1);
        let message = format!(
            "webhook `{id}` is over its rate limit of {per_minute} {what} a minute: retry in {secs} s"
        );
        Ok((
            [(RETRY_AFTER, secs.to_string())],
            ApiError::TooManyRequests(message),
        )
            .into_response())
    };
    // The nodes share each webhook's limits.
    let nodes = state.engine.node_count();
    if webhook.secret.is_none() {
        if let Err(wait) = state.webhook_limiter.check(id, nodes, now) {
            return over_limit(wait, "requests");
        }
    } else if !webhook_guard::is_signed(req.headers())
        && let Err(wait) = state.webhook_limiter.refusals_left(id, nodes, now)
    {
        // Unsigned guesses are not even checked once the refused budget is spent.
        return over_limit(wait, "refused requests");
    }
    let limit = state.config.webhook_max_body;
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "request body too large: a webhook accepts at most {limit} bytes (`webhook_max_body`)"
        ))
    };
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    if let Some(stored) = &webhook.secret {
        let secret = state
            .secret_box
            .open(id, stored)
            .map_err(ApiError::internal)?;
        let checks = &state.webhook_secrets;
        let unix_now = state.clock.now().timestamp();
        let mut verdict = checks.verify(id, &secret, &parts.headers, &bytes, unix_now);
        if let Verdict::Signed(signed) = verdict {
            // New to this node; another node may have taken the same call already.
            let first = state
                .store
                .record_webhook_signature(id, &signed.key(), signed.until, unix_now)
                .await?;
            verdict = match first {
                true => Verdict::Accepted,
                false => Verdict::Refused(Refusal::Replayed),
            };
        }
        match verdict {
            Verdict::Accepted | Verdict::Signed(_) => {
                if let Err(wait) = state.webhook_limiter.check(id, nodes, now) {
                    return over_limit(wait, "requests");
                }
            }
            Verdict::Refused(refusal) => {
                if let Err(wait) = state.webhook_limiter.refused(id, nodes, now) {
                    return over_limit(wait, "refused requests");
                }
                return Err(ApiError::Unauthorized(refusal.message(id, checks.window())));
            }
            Verdict::Busy => {
                return Ok((
                    [(RETRY_AFTER, "1".to_owned())],
                    ApiError::TooManyRequests(
                        "too many signed webhook calls to remember within the signature window: retry in 1 s".to_owned(),
                    ),
                )
                    .into_response());
            }
        }
    }
    let kwargs = Kwargs::from_request(Request::from_parts(parts, Body::from(bytes)), &()).await?;
    if kwargs.package.is_some() {
        return Err(ApiError::BadRequest(
            "unexpected file field `package`: a webhook takes form fields, a JSON object body and query parameters".to_owned(),
        ));
    }
    let inputs = if webhook.split_alerts {
        split_alerts(kwargs.fields)?
    } else {
        vec![kwargs.fields]
    };
    let mut ids = Vec::with_capacity(inputs.len());
    for input in inputs {
        // One refused by admission ends the call; those already started run on.
        let started = state
            .engine
            .start(ExecutionRequest {
                project: webhook.project_id.clone(),
                target: RunTarget::Named(webhook.target.clone()),
                input: Some(ExecutionInput::Object(input)),
                description: Some(format!("Created by Webhook {id}")),
                sync: false,
                origin: Origin::Webhook { id },
            })
            .await?;
        ids.push(started.execution.id.to_string());
    }
    let first = ids.first().cloned().unwrap_or_default();
    Ok((
        StatusCode::ACCEPTED,
        Json(InvokeView {
            execution_id: first,
            execution_ids: if webhook.split_alerts {
                ids
            } else {
                Vec::new()
            },
        }),
    )
        .into_response())
}

/// A grouped alert notification (a body with an `alerts` list: Alertmanager's, and Grafana's
/// unified alerting, which copies its shape) as one input per alert: the body with `alerts`
/// holding that one alert, so that one function handles either way. A body without such a list
/// is one input as it is.
fn split_alerts(
    fields: serde_json::Map<String, Value>,
) -> Result<Vec<serde_json::Map<String, Value>>, ApiError> {
    let Some(Value::Array(alerts)) = fields.get("alerts") else {
        return Ok(vec![fields]);
    };
    if alerts.len() > MAX_SPLIT_ALERTS {
        return Err(ApiError::PayloadTooLarge(format!(
            "{} alerts in one notification: a webhook with `split_alerts` runs at most {MAX_SPLIT_ALERTS} (set `max_alerts` in Alertmanager's webhook_config)",
            alerts.len()
        )));
    }
    if alerts.is_empty() {
        return Ok(vec![fields]);
    }
    Ok(alerts
        .iter()
        .map(|alert| {
            let mut one = fields.clone();
            one.insert("alerts".to_owned(), Value::Array(vec![alert.clone()]));
            one
        })
        .collect())
}
