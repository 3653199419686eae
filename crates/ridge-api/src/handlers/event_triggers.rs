//! `/v1/event_triggers` (Ridge's own, docs/events.md): create, list, show, update, delete,
//! pause and resume message-queue triggers. Access is a webhook's: the caller's project, an
//! admin may reach any. The broker URL is sealed before it is stored and shown back with its
//! password as `***`. Consuming is `ridge-events`' job: it follows these rows.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use ridge_core::api::{EventTriggerList, EventTriggerRequest, EventTriggerView};
use ridge_core::event_trigger::{
    DeliveryOptions, redact_amqp_url, validate_event_types, validate_source,
};
use ridge_core::{EventSource, EventTrigger, EventTriggerId, Target, TriggerState};

use super::{JsonBody, check_text, path_id};
use crate::access;
use crate::context::Caller;
use crate::openapi::{Authed, Denied, Invalid, Missing};
use crate::query;
use crate::{ApiError, AppState};

async fn visible(state: &AppState, caller: &Caller, raw: &str) -> Result<EventTrigger, ApiError> {
    access::event_trigger(state, caller, path_id(raw)?).await
}

fn view(t: &EventTrigger) -> Json<EventTriggerView> {
    Json(EventTriggerView::new(t))
}

/// `""` for an optional name: none.
fn optional(value: Option<String>) -> Option<Option<String>> {
    value.map(|v| Some(v).filter(|v| !v.is_empty()))
}

/// The source the request names, if it names one: `queue`, or `exchange` with
/// `binding_keys` (default `#`, everything a topic exchange routes).
fn source(body: &EventTriggerRequest) -> Result<Option<EventSource>, ApiError> {
    match (&body.queue, &body.exchange) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "give either `queue` (consume that queue) or `exchange` with `binding_keys` (Ridge declares a queue), not both".to_owned(),
        )),
        (Some(queue), None) => {
            if body.binding_keys.is_some() {
                return Err(ApiError::BadRequest(
                    "`binding_keys` go with `exchange`, not with `queue`".to_owned(),
                ));
            }
            Ok(Some(EventSource::Queue(queue.clone())))
        }
        (None, Some(exchange)) => Ok(Some(EventSource::Exchange {
            exchange: exchange.clone(),
            binding_keys: body
                .binding_keys
                .clone()
                .unwrap_or_else(|| vec!["#".to_owned()]),
        })),
        (None, None) => Ok(None),
    }
}

/// Applies the request's delivery options over `options`.
fn options(body: &EventTriggerRequest, mut options: DeliveryOptions) -> DeliveryOptions {
    if let Some(p) = body.prefetch {
        options.prefetch = p;
    }
    if let Some(r) = body.max_retries {
        options.max_retries = r;
    }
    if let Some(b) = body.retry_backoff_ms {
        options.retry_backoff_ms = b;
    }
    // A dead-letter exchange may be `""`: the default exchange, routing straight to a queue.
    if let Some(dlx) = &body.dead_letter_exchange {
        options.dead_letter_exchange = Some(dlx.clone());
    }
    if let Some(key) = optional(body.dead_letter_routing_key.clone()) {
        options.dead_letter_routing_key = key;
    }
    if let Some(reply) = optional(body.reply_exchange.clone()) {
        options.reply_exchange = reply;
    }
    options
}

/// Checks everything but the target and the URL.
fn validate(state: &AppState, t: &EventTrigger) -> Result<(), ApiError> {
    check_text("description", t.description.as_deref())?;
    validate_source(&t.source)?;
    validate_event_types(&t.event_types)?;
    t.options.validate(state.config.event_max_prefetch)?;
    Ok(())
}

#[utoipa::path(
    post, path = "/v1/event_triggers", tag = "event_triggers", request_body = EventTriggerRequest,
    responses((status = 201, description = "the new trigger (its broker password shown as `***`)", body = EventTriggerView), Authed, Invalid, Denied, Missing),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<EventTriggerRequest>,
) -> Result<(StatusCode, Json<EventTriggerView>), ApiError> {
    let target = Target::from_request(
        body.function_alias.as_deref(),
        body.function_id.as_deref(),
        body.function_version.as_ref(),
    )?;
    let Some(url) = body.amqp_url.as_deref() else {
        return Err(ApiError::BadRequest(
            "`amqp_url` is required: the broker, as amqp://user:password@host:port/vhost"
                .to_owned(),
        ));
    };
    let Some(source) = source(&body)? else {
        return Err(ApiError::BadRequest(
            "a source is required: `queue` (an existing queue), or `exchange` with `binding_keys`"
                .to_owned(),
        ));
    };
    let id = EventTriggerId::new();
    let trigger = EventTrigger {
        id,
        project_id: caller.project.clone(),
        target,
        description: optional(body.description.clone()).flatten(),
        amqp_url: redact_amqp_url(url)?,
        amqp_url_sealed: state.secret_box.seal_trigger_url(id, url),
        source,
        options: options(&body, DeliveryOptions::default()),
        event_types: body.event_types.clone().unwrap_or_default(),
        paused: false,
        state: TriggerState::Starting,
        last_error: None,
        created_at: ridge_core::time::now(),
        updated_at: None,
    };
    validate(&state, &trigger)?;
    super::webhooks::check(&state, &caller, &trigger.target).await?;
    let max = state.config.event_max_triggers;
    let used = state.store.count_event_triggers(&caller.project).await?;
    if used >= max {
        return Err(ApiError::Forbidden(format!(
            "project `{}` may have at most {max} event triggers and has {used}: delete one, or ask the operator to raise `[events] max_triggers_per_project`",
            caller.project
        )));
    }
    state.store.create_event_trigger(&trigger).await?;
    Ok((StatusCode::CREATED, view(&trigger)))
}

#[utoipa::path(
    get, path = "/v1/event_triggers", tag = "event_triggers", params(("all_projects" = Option<bool>, Query, description = "admins: every project's"), ("project_id" = Option<String>, Query, description = "admins: this project's")),
    responses((status = 200, description = "the event triggers", body = EventTriggerList), Authed, Invalid, Denied),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<EventTriggerList>, ApiError> {
    let params = query::parse(raw.as_deref(), &["all_projects", "project_id"])?;
    let scope = access::list_scope(&caller, &params)?;
    let triggers = state.store.list_event_triggers(&scope).await?;
    Ok(Json(EventTriggerList {
        event_triggers: triggers.iter().map(EventTriggerView::new).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/event_triggers/{id}", tag = "event_triggers", params(("id" = String, Path, format = Uuid, description = "the event trigger's id")),
    responses((status = 200, description = "the trigger, with its status", body = EventTriggerView), Authed, Invalid, Missing),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EventTriggerView>, ApiError> {
    Ok(view(&visible(&state, &caller, &id).await?))
}

/// Changes what the request names; the consumers restart with the new settings.
#[utoipa::path(
    put, path = "/v1/event_triggers/{id}", tag = "event_triggers", params(("id" = String, Path, format = Uuid, description = "the event trigger's id")), request_body = EventTriggerRequest,
    responses((status = 200, description = "the trigger, as updated", body = EventTriggerView), Authed, Invalid, Denied, Missing),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EventTriggerRequest>,
) -> Result<Json<EventTriggerView>, ApiError> {
    let mut trigger = visible(&state, &caller, &id).await?;
    let named = body
        .function_alias
        .as_deref()
        .is_some_and(|a| !a.is_empty())
        || body.function_id.as_deref().is_some_and(|f| !f.is_empty());
    if named {
        let target = Target::from_request(
            body.function_alias.as_deref(),
            body.function_id.as_deref(),
            body.function_version.as_ref(),
        )?;
        if target != trigger.target {
            super::webhooks::check(&state, &caller, &target).await?;
        }
        trigger.target = target;
    } else if body.function_version.is_some() {
        return Err(ApiError::BadRequest(
            "give `function_id` with `function_version` (or `function_alias`)".to_owned(),
        ));
    }
    if let Some(url) = body.amqp_url.as_deref() {
        trigger.amqp_url = redact_amqp_url(url)?;
        trigger.amqp_url_sealed = state.secret_box.seal_trigger_url(trigger.id, url);
    }
    match (source(&body)?, &body.binding_keys) {
        (Some(s), _) => trigger.source = s,
        (None, Some(keys)) => match &mut trigger.source {
            EventSource::Exchange { binding_keys, .. } => binding_keys.clone_from(keys),
            EventSource::Queue(_) => {
                return Err(ApiError::BadRequest(
                    "`binding_keys` go with `exchange`: this trigger consumes a queue".to_owned(),
                ));
            }
        },
        (None, None) => {}
    }
    if let Some(d) = optional(body.description.clone()) {
        trigger.description = d;
    }
    if let Some(types) = &body.event_types {
        trigger.event_types.clone_from(types);
    }
    trigger.options = options(&body, trigger.options.clone());
    validate(&state, &trigger)?;
    trigger.state = TriggerState::Starting;
    trigger.last_error = None;
    trigger.updated_at = Some(ridge_core::time::now());
    state.store.update_event_trigger(&trigger).await?;
    Ok(view(&trigger))
}

#[utoipa::path(
    delete, path = "/v1/event_triggers/{id}", tag = "event_triggers", params(("id" = String, Path, format = Uuid, description = "the event trigger's id")),
    responses((status = 204, description = "deleted"), Authed, Invalid, Denied, Missing),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let trigger = visible(&state, &caller, &id).await?;
    state.store.delete_event_trigger(trigger.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/event_triggers/{id}/pause`: every node stops consuming it (messages stay in the
/// queue). Pausing a paused trigger changes nothing.
#[utoipa::path(
    post, path = "/v1/event_triggers/{id}/pause", tag = "event_triggers", params(("id" = String, Path, format = Uuid, description = "the event trigger's id")),
    responses((status = 200, description = "the trigger, paused: its consumers stop", body = EventTriggerView), Authed, Invalid, Denied, Missing),
)]
pub async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EventTriggerView>, ApiError> {
    set_paused(&state, &caller, &id, true).await
}

/// `POST /v1/event_triggers/{id}/resume`.
#[utoipa::path(
    post, path = "/v1/event_triggers/{id}/resume", tag = "event_triggers", params(("id" = String, Path, format = Uuid, description = "the event trigger's id")),
    responses((status = 200, description = "the trigger, consuming again", body = EventTriggerView), Authed, Invalid, Denied, Missing),
)]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EventTriggerView>, ApiError> {
    set_paused(&state, &caller, &id, false).await
}

async fn set_paused(
    state: &AppState,
    caller: &Caller,
    id: &str,
    paused: bool,
) -> Result<Json<EventTriggerView>, ApiError> {
    let mut trigger = visible(state, caller, id).await?;
    if trigger.paused != paused {
        trigger.paused = paused;
        trigger.state = TriggerState::Starting;
        trigger.last_error = None;
        trigger.updated_at = Some(ridge_core::time::now());
        state.store.update_event_trigger(&trigger).await?;
    }
    Ok(view(&trigger))
}
