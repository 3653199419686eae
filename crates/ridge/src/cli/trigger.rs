//! `ridge trigger ...`: event triggers, message-queue sources that run a function for each
//! message (Ridge's own; docs/events.md).

use clap::Subcommand;
use ridge_core::api::EventTriggerRequest;
use serde_json::Value;

use super::{GlobalOpts, delete_each, resolve};

#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: TriggerCommand,
}

/// What a trigger runs and how it consumes; every field optional on update.
#[derive(Debug, clap::Args)]
pub struct TriggerFields {
    /// Function name or id
    #[arg(long)]
    function: Option<String>,
    /// Version (0, the default, is the function's latest code)
    #[arg(long)]
    function_version: Option<u64>,
    /// Alias name (resolved at every message)
    #[arg(long, conflicts_with = "function")]
    function_alias: Option<String>,
    /// Trigger description
    #[arg(long)]
    description: Option<String>,
    /// The broker: amqp://user:password@host:port/vhost (stored sealed, shown without the
    /// password)
    #[arg(long, env = "RIDGE_TRIGGER_AMQP_URL", hide_env_values = true)]
    amqp_url: Option<String>,
    /// Consume this existing queue
    #[arg(long, conflicts_with = "exchange")]
    queue: Option<String>,
    /// Bind a queue Ridge declares (durable, one per trigger) to this exchange
    #[arg(long)]
    exchange: Option<String>,
    /// A binding key of --exchange (repeat for several; default `#`)
    #[arg(long = "binding-key")]
    binding_keys: Vec<String>,
    /// Only OpenStack notifications whose event_type matches (repeat; `*` is a wildcard, as in
    /// compute.instance.*.end)
    #[arg(long = "event-type")]
    event_types: Vec<String>,
    /// Messages held, and run, at once per node (default 1)
    #[arg(long)]
    prefetch: Option<u16>,
    /// Runs after the first before a failing message is dead-lettered (default 3)
    #[arg(long)]
    max_retries: Option<u32>,
    /// The first retry's delay in milliseconds, doubling after each (default 1000)
    #[arg(long)]
    retry_backoff_ms: Option<u64>,
    /// Publish messages that keep failing to this exchange ("" for the default exchange)
    #[arg(long)]
    dead_letter_exchange: Option<String>,
    /// Their routing key (default: the message's own)
    #[arg(long)]
    dead_letter_routing_key: Option<String>,
    /// Publish each successful output to this exchange
    #[arg(long)]
    reply_exchange: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TriggerCommand {
    /// Create an event trigger for a function version or an alias
    Create {
        #[command(flatten)]
        fields: TriggerFields,
    },
    /// List event triggers
    List,
    /// Show an event trigger, with its status (active, reconnecting, paused)
    Show {
        /// Trigger id
        id: String,
    },
    /// Change an event trigger (its consumers restart with the new settings)
    Update {
        /// Trigger id
        id: String,
        #[command(flatten)]
        fields: TriggerFields,
    },
    /// Delete event triggers
    Delete {
        /// Trigger ids
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Stop consuming (messages stay in the queue)
    Pause {
        /// Trigger id
        id: String,
    },
    /// Consume again
    Resume {
        /// Trigger id
        id: String,
    },
}

async fn request(
    client: &ridge_client::RidgeClient,
    f: TriggerFields,
) -> anyhow::Result<EventTriggerRequest> {
    let function_id = match f.function {
        Some(name) => Some(resolve::function(client, &name).await?),
        None => None,
    };
    let list = |v: Vec<String>| (!v.is_empty()).then_some(v);
    Ok(EventTriggerRequest {
        function_id,
        function_version: f.function_version.map(Value::from),
        function_alias: f.function_alias,
        description: f.description,
        amqp_url: f.amqp_url,
        queue: f.queue,
        exchange: f.exchange,
        binding_keys: list(f.binding_keys),
        event_types: list(f.event_types),
        prefetch: f.prefetch,
        max_retries: f.max_retries,
        retry_backoff_ms: f.retry_backoff_ms,
        dead_letter_exchange: f.dead_letter_exchange,
        dead_letter_routing_key: f.dead_letter_routing_key,
        reply_exchange: f.reply_exchange,
    })
}

pub async fn trigger(args: TriggerArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        TriggerCommand::Create { fields } => {
            let body = request(&client, fields).await?;
            printer.show(&client.create_event_trigger(&body).await?)
        }
        TriggerCommand::List => printer.list(&client.list_event_triggers().await?),
        TriggerCommand::Show { id } => printer.show(&client.get_event_trigger(&id).await?),
        TriggerCommand::Update { id, fields } => {
            let body = request(&client, fields).await?;
            printer.show(&client.update_event_trigger(&id, &body).await?)
        }
        TriggerCommand::Delete { ids } => {
            delete_each(&printer, "event trigger", &ids, |id| {
                let client = &client;
                async move {
                    client.delete_event_trigger(&id).await?;
                    Ok(format!("deleted event trigger `{id}`"))
                }
            })
            .await
        }
        TriggerCommand::Pause { id } => printer.show(&client.pause_event_trigger(&id, true).await?),
        TriggerCommand::Resume { id } => {
            printer.show(&client.pause_event_trigger(&id, false).await?)
        }
    }
}
