//! `ridge user ...`: users of Ridge's own projects (admin, `token` auth mode).

use clap::Subcommand;
use ridge_core::api::CreateUser;

use super::{GlobalOpts, delete_each};

#[derive(Debug, clap::Args)]
pub struct UserArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in a project
    Create {
        /// User name, unique within the project
        name: String,
        /// The user's project
        #[arg(long)]
        project: String,
        /// `admin` (cloud-wide) or `member` (its project only)
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// List users, of one project or of all
    List {
        #[arg(long)]
        project: Option<String>,
    },
    /// Delete users and their tokens
    Delete {
        /// User ids
        #[arg(required = true)]
        users: Vec<String>,
    },
}

pub async fn user(args: UserArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        UserCommand::Create {
            name,
            project,
            role,
        } => printer.show(
            &client
                .create_user(&CreateUser {
                    name: Some(name),
                    project_id: Some(project),
                    role: Some(role),
                })
                .await?,
        ),
        UserCommand::List { project } => {
            printer.list(&client.list_users(project.as_deref()).await?)
        }
        UserCommand::Delete { users } => {
            delete_each(&printer, "user", &users, |id| {
                let client = client.clone();
                async move {
                    client.delete_user(&id).await?;
                    Ok(format!("Request to delete user {id} has been accepted."))
                }
            })
            .await
        }
    }
}
