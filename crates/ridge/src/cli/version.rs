//! `ridge function version ...` (`openstack function version ...`): snapshot a function and
//! manage its versions.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::{Printer, resolve};
use ridge_client::RidgeClient;

#[derive(Debug, Subcommand)]
pub enum VersionCommand {
    /// Snapshot the function's current package, entry and limits as a new version
    Create {
        /// Function name or id
        function: String,
        /// Version description
        #[arg(long)]
        description: Option<String>,
    },
    /// List a function's versions
    List {
        /// Function name or id
        function: String,
    },
    /// Show a version
    Show {
        /// Function name or id
        function: String,
        /// Version number
        version: u64,
    },
    /// Delete a version (refused while a job, webhook or alias uses it)
    Delete {
        /// Function name or id
        function: String,
        /// Version number
        version: u64,
    },
    /// Download a version's code package
    Download {
        /// Function name or id
        function: String,
        /// Version number
        version: u64,
        /// Where to write the zip (`-` for stdout) [default: ./<function id>_<version>.zip]
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
}

pub async fn version(
    client: &RidgeClient,
    printer: &Printer,
    command: VersionCommand,
) -> anyhow::Result<()> {
    match command {
        VersionCommand::Create {
            function,
            description,
        } => {
            let id = resolve::function(client, &function).await?;
            printer.show(&client.create_version(&id, description).await?)
        }
        VersionCommand::List { function } => {
            let id = resolve::function(client, &function).await?;
            printer.list(&client.list_versions(&id).await?)
        }
        VersionCommand::Show { function, version } => {
            let id = resolve::function(client, &function).await?;
            printer.show(&client.get_version(&id, version).await?)
        }
        VersionCommand::Delete { function, version } => {
            let id = resolve::function(client, &function).await?;
            client.delete_version(&id, version).await?;
            printer.note(format_args!("deleted version {version} of function `{id}`"));
            Ok(())
        }
        VersionCommand::Download {
            function,
            version,
            output,
        } => {
            let id = resolve::function(client, &function).await?;
            let zip = client.download_version(&id, version).await?;
            let path = output.unwrap_or_else(|| PathBuf::from(format!("{id}_{version}.zip")));
            if path.as_os_str() == "-" {
                return printer.bytes(&zip);
            }
            tokio::fs::write(&path, &zip)
                .await
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            let shown = std::path::absolute(&path).unwrap_or(path);
            printer.note(format_args!(
                "Code package downloaded to {}",
                shown.display()
            ));
            Ok(())
        }
    }
}
