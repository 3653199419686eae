//! One message, from delivery to acknowledgement: plan it, run it through [`Engine::start`]
//! (retrying failures with backoff), then acknowledge, dead-letter or reject it. A message is
//! acknowledged only once its execution ended `success`, or once it is safely dead-lettered
//! (the publish confirmed by the broker): until then the broker holds it, and a lost
//! connection gives it back to a consumer.

use std::sync::Arc;

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicPublishOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel};
use ridge_core::{EventTrigger, ExecutionInput, ExecutionStatus};
use ridge_engine::{Engine, EngineError, ExecutionRequest, Origin, RunTarget};
use serde_json::Value;

use crate::error::EventsError;
use crate::plan::{Attempt, Next, Plan, next, plan};

/// What a delivery needs: the trigger as its consumer read it, the engine and the channel.
pub(crate) struct Context {
    pub trigger: EventTrigger,
    pub engine: Arc<Engine>,
    pub channel: Channel,
    pub max_message_size: usize,
}

/// Handles one delivery to the end; errors are the broker's (the channel went away: the
/// broker redelivers the message to a consumer).
pub(crate) async fn handle(ctx: Arc<Context>, delivery: Delivery) -> Result<(), EventsError> {
    let trigger = &ctx.trigger;
    let input = match plan(trigger, &delivery.data, ctx.max_message_size) {
        Plan::Run(input) => input,
        Plan::Skip(why) => {
            tracing::debug!(trigger = %trigger.id, why, "message skipped");
            delivery.acker.ack(BasicAckOptions::default()).await?;
            return Ok(());
        }
        Plan::Refuse(why) => return dead_letter(&ctx, &delivery, &why, 0).await,
    };
    let mut failures = 0;
    loop {
        let attempt = run(&ctx, input.clone()).await;
        match next(trigger, failures, attempt) {
            Next::Ack(output) => {
                reply(&ctx, &delivery, &output).await?;
                delivery.acker.ack(BasicAckOptions::default()).await?;
                return Ok(());
            }
            Next::Retry(delay) => {
                failures += 1;
                tokio::time::sleep(delay).await;
            }
            Next::Wait(delay) => tokio::time::sleep(delay).await,
            Next::DeadLetter(why) => return dead_letter(&ctx, &delivery, &why, failures).await,
        }
    }
}

/// One execution of the message, waited for.
async fn run(ctx: &Context, input: Option<ExecutionInput>) -> Attempt {
    let trigger = &ctx.trigger;
    let request = ExecutionRequest {
        project: trigger.project_id.clone(),
        target: RunTarget::Named(trigger.target.clone()),
        input,
        description: Some(format!("Created by Event trigger {}", trigger.id)),
        sync: false,
        origin: Origin::EventTrigger { id: trigger.id },
    };
    let started = match ctx.engine.start(request).await {
        Ok(started) => started,
        Err(
            e @ (EngineError::RateQuota { .. }
            | EngineError::ConcurrencyQuota { .. }
            | EngineError::QueueFull { .. }),
        ) => return Attempt::Busy(e.to_string()),
        Err(e) => return Attempt::Failed(format!("the execution could not start: {e}")),
    };
    let id = started.execution.id;
    match started.finished().await {
        Ok(done) if done.status == ExecutionStatus::Success => {
            Attempt::Succeeded(done.result.map_or(Value::Null, |r| r.output))
        }
        Ok(done) => Attempt::Failed(format!("execution `{id}` ended `{}`", done.status.as_str())),
        Err(e) => Attempt::Failed(format!("execution `{id}`: {e}")),
    }
}

/// Publishes the output to the reply exchange, if the trigger has one, and waits for the
/// broker's confirmation.
async fn reply(ctx: &Context, delivery: &Delivery, output: &Value) -> Result<(), EventsError> {
    let Some(exchange) = &ctx.trigger.options.reply_exchange else {
        return Ok(());
    };
    let key = delivery
        .properties
        .reply_to()
        .clone()
        .unwrap_or_else(|| delivery.routing_key.clone());
    let mut properties = BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_delivery_mode(2);
    if let Some(id) = delivery.properties.correlation_id() {
        properties = properties.with_correlation_id(id.clone());
    }
    let body = serde_json::to_vec(output).unwrap_or_default();
    publish(ctx, exchange, key, &body, properties).await
}

/// Sends a message that will not run where the trigger says, with headers saying why, then
/// acknowledges it; without a dead-letter exchange, rejects it without requeue (the queue's own
/// `x-dead-letter-exchange` takes it, if it has one).
async fn dead_letter(
    ctx: &Context,
    delivery: &Delivery,
    why: &str,
    failures: u32,
) -> Result<(), EventsError> {
    let trigger = &ctx.trigger;
    tracing::warn!(trigger = %trigger.id, reason = why, "message dead-lettered");
    let Some(exchange) = &trigger.options.dead_letter_exchange else {
        delivery
            .acker
            .reject(BasicRejectOptions { requeue: false })
            .await?;
        return Ok(());
    };
    let key = trigger
        .options
        .dead_letter_routing_key
        .as_deref()
        .map_or_else(|| delivery.routing_key.clone(), ShortString::from);
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    let text = |s: String| AMQPValue::LongString(LongString::from(s));
    headers.insert("x-ridge-trigger".into(), text(trigger.id.to_string()));
    headers.insert("x-ridge-error".into(), text(why.to_owned()));
    headers.insert("x-ridge-failures".into(), AMQPValue::LongUInt(failures));
    let properties = delivery
        .properties
        .clone()
        .with_headers(FieldTable::from(headers.inner().clone()));
    publish(ctx, exchange, key, &delivery.data, properties).await?;
    delivery.acker.ack(BasicAckOptions::default()).await?;
    Ok(())
}

async fn publish(
    ctx: &Context,
    exchange: &str,
    key: ShortString,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), EventsError> {
    let confirm = ctx
        .channel
        .basic_publish(
            ShortString::from(exchange),
            key,
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await?
        .await?;
    if confirm.is_nack() {
        return Err(EventsError::PublishRefused {
            exchange: exchange.to_owned(),
        });
    }
    Ok(())
}
