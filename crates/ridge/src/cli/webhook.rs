//! `ridge webhook ...` (`openstack webhook ...`): public URLs that run a function.

use anyhow::bail;
use clap::Subcommand;
use ridge_core::api::WebhookRequest;
use serde_json::{Map, Value};

use super::{GlobalOpts, delete_each, resolve};

#[derive(Debug, clap::Args)]
pub struct WebhookArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: WebhookCommand,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Create a webhook for a function version or an alias
    Create {
        /// Function name or id
        #[arg(long, required_unless_present = "function_alias")]
        function: Option<String>,
        /// Version (0, the default, is the function's latest code)
        #[arg(long)]
        function_version: Option<u64>,
        /// Alias name (resolved at every invoke)
        #[arg(long, conflicts_with = "function")]
        function_alias: Option<String>,
        /// Webhook description
        #[arg(long)]
        description: Option<String>,
        /// Require a secret on invoke; one is generated and printed once
        #[arg(long)]
        secret: bool,
        /// Run one execution per alert of a grouped notification (Alertmanager, Grafana)
        #[arg(long)]
        split_alerts: bool,
    },
    /// List webhooks
    List,
    /// Show a webhook
    Show {
        /// Webhook id
        id: String,
    },
    /// Change a webhook's target, description or secret
    Update {
        /// Webhook id
        id: String,
        /// Function name or id
        #[arg(long)]
        function: Option<String>,
        /// Version
        #[arg(long)]
        function_version: Option<u64>,
        /// Alias name
        #[arg(long, conflicts_with = "function")]
        function_alias: Option<String>,
        /// Webhook description
        #[arg(long)]
        description: Option<String>,
        /// Generate a new secret (printed once)
        #[arg(long)]
        new_secret: bool,
        /// Remove the secret: anyone with the URL can invoke
        #[arg(long, conflicts_with = "new_secret")]
        remove_secret: bool,
        /// One execution per alert of a grouped notification (true), or one per call (false)
        #[arg(long)]
        split_alerts: Option<bool>,
    },
    /// Delete webhooks
    Delete {
        /// Webhook ids
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Invoke a webhook with a JSON object as input
    Invoke {
        /// Webhook id
        id: String,
        /// A JSON object: the function's keyword arguments
        #[arg(long)]
        input: Option<String>,
        /// The webhook's secret, sent as `Authorization: Bearer <secret>`
        #[arg(long, env = "RIDGE_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
}

pub async fn webhook(args: WebhookArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        WebhookCommand::Create {
            function,
            function_version,
            function_alias,
            description,
            secret,
            split_alerts,
        } => {
            let function_id = match function {
                Some(f) => Some(resolve::function(&client, &f).await?),
                None => None,
            };
            let body = WebhookRequest {
                function_id,
                function_version: function_version.map(Value::from),
                function_alias,
                description,
                secret: secret.then_some(Value::Bool(true)),
                split_alerts: split_alerts.then_some(true),
            };
            let created = client.create_webhook(&body).await?;
            printer.show(&created)?;
            if created.secret.is_some() {
                printer.note("the secret is shown only now: store it where the caller can read it");
            }
            Ok(())
        }
        WebhookCommand::List => printer.list(&client.list_webhooks().await?),
        WebhookCommand::Show { id } => printer.show(&client.get_webhook(&id).await?),
        WebhookCommand::Update {
            id,
            function,
            function_version,
            function_alias,
            description,
            new_secret,
            remove_secret,
            split_alerts,
        } => {
            let function_id = match function {
                Some(f) => Some(resolve::function(&client, &f).await?),
                None => None,
            };
            let secret = match (new_secret, remove_secret) {
                (true, _) => Some(Value::Bool(true)),
                (_, true) => Some(Value::Bool(false)),
                _ => None,
            };
            let body = WebhookRequest {
                function_id,
                function_version: function_version.map(Value::from),
                function_alias,
                description,
                secret,
                split_alerts,
            };
            printer.show(&client.update_webhook(&id, &body).await?)
        }
        WebhookCommand::Delete { ids } => {
            delete_each(&printer, "webhook", &ids, |id| {
                let client = &client;
                async move {
                    client.delete_webhook(&id).await?;
                    Ok(format!("deleted webhook `{id}`"))
                }
            })
            .await
        }
        WebhookCommand::Invoke { id, input, secret } => {
            let input: Map<String, Value> = match input.as_deref() {
                None => Map::new(),
                Some(text) => match serde_json::from_str(text) {
                    Ok(Value::Object(map)) => map,
                    _ => bail!(
                        "invalid --input `{text}`: a webhook takes a JSON object, such as '{{\"name\": \"x\"}}'"
                    ),
                },
            };
            let headers: Vec<(&str, String)> = secret
                .map(|s| ("Authorization", format!("Bearer {s}")))
                .into_iter()
                .collect();
            printer.show(&client.invoke_webhook(&id, &input, &headers).await?)
        }
    }
}
