//! `ridge job ...` (`openstack job ...`): run a function on a cron pattern or once at a time.

use clap::Subcommand;
use ridge_core::api::{CreateJob, UpdateJob};
use serde_json::Value;

use super::{GlobalOpts, delete_each, resolve};

#[derive(Debug, clap::Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: JobCommand,
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Create a job (a cron pattern, a first time in UTC, or both)
    Create {
        /// Function name or id
        #[arg(long, required_unless_present = "function_alias")]
        function: Option<String>,
        /// Version (0, the default, is the function's latest code)
        #[arg(long)]
        function_version: Option<u64>,
        /// Alias name (resolved at every run)
        #[arg(long, conflicts_with = "function")]
        function_alias: Option<String>,
        /// Job name
        #[arg(long)]
        name: Option<String>,
        /// First run, ISO 8601 (UTC unless an offset is given), at least a minute ahead
        #[arg(long)]
        first_execution_time: Option<String>,
        /// Cron pattern: five fields, or six with leading seconds
        #[arg(long)]
        pattern: Option<String>,
        /// Input of each execution
        #[arg(long)]
        function_input: Option<String>,
        /// How many runs (default: unlimited with a pattern, once without)
        #[arg(long)]
        count: Option<u64>,
    },
    /// List jobs
    List,
    /// Show a job
    Show {
        /// Job id
        id: String,
    },
    /// Rename, pause, resume, cancel or reschedule a job
    Update {
        /// Job id
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// running, paused or cancelled
        #[arg(long)]
        status: Option<String>,
        /// Next run, ISO 8601 (UTC unless an offset is given)
        #[arg(long)]
        next_execution_time: Option<String>,
        #[arg(long)]
        pattern: Option<String>,
        #[arg(long)]
        function_input: Option<String>,
    },
    /// Delete jobs
    Delete {
        /// Job ids
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

pub async fn job(args: JobArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        JobCommand::Create {
            function,
            function_version,
            function_alias,
            name,
            first_execution_time,
            pattern,
            function_input,
            count,
        } => {
            let function_id = match function {
                Some(f) => Some(resolve::function(&client, &f).await?),
                None => None,
            };
            let body = CreateJob {
                name,
                function_id,
                function_version: function_version.map(Value::from),
                function_alias,
                function_input: function_input.map(Value::String),
                pattern,
                first_execution_time,
                count: count.map(Value::from),
            };
            printer.show(&client.create_job(&body).await?)
        }
        JobCommand::List => printer.list(&client.list_jobs().await?),
        JobCommand::Show { id } => printer.show(&client.get_job(&id).await?),
        JobCommand::Update {
            id,
            name,
            status,
            next_execution_time,
            pattern,
            function_input,
        } => {
            let body = UpdateJob {
                name,
                function_input: function_input.map(Value::String),
                status,
                pattern,
                next_execution_time,
            };
            printer.show(&client.update_job(&id, &body).await?)
        }
        JobCommand::Delete { ids } => {
            delete_each(&printer, "job", &ids, |id| {
                let client = &client;
                async move {
                    client.delete_job(&id).await?;
                    Ok(format!("deleted job `{id}`"))
                }
            })
            .await
        }
    }
}
