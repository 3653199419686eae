//! `ridge alias ...` (`openstack function alias ...`): names for function versions.

use clap::Subcommand;
use ridge_core::api::{CreateAlias, UpdateAlias};
use serde_json::Value;

use super::{GlobalOpts, delete_each, resolve};

#[derive(Debug, clap::Args)]
pub struct AliasArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: AliasCommand,
}

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Name a function version
    Create {
        /// Alias name
        name: String,
        /// Function name or id
        #[arg(long)]
        function: String,
        /// Version (0, the default, is the function's latest code)
        #[arg(long)]
        function_version: Option<u64>,
        /// Alias description
        #[arg(long)]
        description: Option<String>,
    },
    /// List aliases
    List,
    /// Show an alias
    Show {
        /// Alias name
        name: String,
    },
    /// Point an alias elsewhere (executions, webhooks and jobs follow it)
    Update {
        /// Alias name
        name: String,
        /// Function name or id
        #[arg(long)]
        function: Option<String>,
        /// Version
        #[arg(long)]
        function_version: Option<u64>,
        /// Alias description
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete aliases (refused while a job or webhook uses one)
    Delete {
        /// Alias names
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub async fn alias(args: AliasArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        AliasCommand::Create {
            name,
            function,
            function_version,
            description,
        } => {
            let body = CreateAlias {
                name: Some(name),
                function_id: Some(resolve::function(&client, &function).await?),
                function_version: function_version.map(Value::from),
                description,
            };
            printer.show(&client.create_alias(&body).await?)
        }
        AliasCommand::List => printer.list(&client.list_aliases().await?),
        AliasCommand::Show { name } => printer.show(&client.get_alias(&name).await?),
        AliasCommand::Update {
            name,
            function,
            function_version,
            description,
        } => {
            let function_id = match function {
                Some(f) => Some(resolve::function(&client, &f).await?),
                None => None,
            };
            let body = UpdateAlias {
                name: None,
                function_id,
                function_version: function_version.map(Value::from),
                description,
            };
            printer.show(&client.update_alias(&name, &body).await?)
        }
        AliasCommand::Delete { names } => {
            delete_each(&printer, "alias", &names, |name| {
                let client = &client;
                async move {
                    client.delete_alias(&name).await?;
                    Ok(format!("deleted alias `{name}`"))
                }
            })
            .await
        }
    }
}
