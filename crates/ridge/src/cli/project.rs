//! `ridge project ...`: Ridge's own projects (admin, `token` auth mode).

use clap::Subcommand;
use ridge_core::api::CreateProject;

use super::GlobalOpts;

#[derive(Debug, clap::Args)]
pub struct ProjectArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: ProjectCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project
    Create {
        /// Project id: letters, digits, `-` or `_` (generated when left out)
        id: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List the projects
    List,
}

pub async fn project(args: ProjectArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        ProjectCommand::Create { id, description } => printer.show(
            &client
                .create_project(&CreateProject { id, description })
                .await?,
        ),
        ProjectCommand::List => printer.list(&client.list_projects().await?),
    }
}
