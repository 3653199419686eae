//! `ridge retention ...`: how long a project's finished executions are kept
//! (docs/retention.md); admins override it per project.

use clap::Subcommand;
use ridge_core::api::SetRetention;

use super::GlobalOpts;
use super::quota::wire;

#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: RetentionCommand,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Show the retention of your project, or of another (admin)
    Show { project: Option<String> },
    /// Override a project's retention (admin): a number, `unlimited` (keep forever), or
    /// `default`
    Set {
        project: String,
        /// Seconds a finished execution is kept
        #[arg(long)]
        max_age: Option<String>,
        /// Finished executions kept per function, newest first
        #[arg(long)]
        max_per_function: Option<String>,
    },
}

pub async fn retention(args: RetentionArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        RetentionCommand::Show { project } => {
            printer.show(&client.retention(project.as_deref()).await?)
        }
        RetentionCommand::Set {
            project,
            max_age,
            max_per_function,
        } => {
            let body = SetRetention {
                max_age: wire("max_age", max_age)?,
                max_per_function: wire("max_per_function", max_per_function)?,
            };
            printer.show(&client.set_retention(&project, &body).await?)
        }
    }
}
