//! `ridge token ...`: issue, list and revoke API tokens (admin, `token` auth mode). A new
//! token's secret is printed once and cannot be read again.

use clap::Subcommand;
use ridge_core::api::CreateToken;

use super::{GlobalOpts, delete_each};

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a user; its secret is shown only now
    Create {
        /// User id
        user: String,
        /// Seconds until it expires (default: never)
        #[arg(long)]
        expires_in: Option<u64>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List tokens (never their secrets)
    List {
        /// Only this user's
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke tokens
    Revoke {
        /// Token ids
        #[arg(required = true)]
        tokens: Vec<String>,
    },
}

pub async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        TokenCommand::Create {
            user,
            expires_in,
            description,
        } => printer.show(
            &client
                .create_token(&CreateToken {
                    user_id: Some(user),
                    description,
                    expires_in,
                })
                .await?,
        ),
        TokenCommand::List { user } => printer.list(&client.list_tokens(user.as_deref()).await?),
        TokenCommand::Revoke { tokens } => {
            delete_each(&printer, "token", &tokens, |id| {
                let client = client.clone();
                async move {
                    client.revoke_token(&id).await?;
                    Ok(format!("Token {id} has been revoked."))
                }
            })
            .await
        }
    }
}
