//! `ridge quota ...`: a project's quotas and usage; admins override them per project.

use clap::Subcommand;
use ridge_core::api::SetQuotas;
use serde_json::Value;

use super::GlobalOpts;

#[derive(Debug, clap::Args)]
pub struct QuotaArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: QuotaCommand,
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Show quotas and usage of your project, or of another (admin)
    Show { project: Option<String> },
    /// Override a project's quotas (admin): a number, `unlimited`, or `default`
    Set {
        project: String,
        #[arg(long)]
        functions: Option<String>,
        #[arg(long)]
        package_bytes: Option<String>,
        #[arg(long)]
        concurrent_executions: Option<String>,
        #[arg(long)]
        executions_per_second: Option<String>,
        #[arg(long)]
        jobs: Option<String>,
    },
}

/// `unlimited` is -1 and `default` is null on the wire; numbers pass as they are.
pub(super) fn wire(name: &str, raw: Option<String>) -> anyhow::Result<Option<Value>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    Ok(Some(match raw.as_str() {
        "unlimited" => Value::from(-1),
        "default" => Value::Null,
        n => Value::from(n.parse::<u64>().map_err(|_| {
            anyhow::anyhow!(
                "invalid --{} `{n}`: expected a number, `unlimited` or `default`",
                name.replace('_', "-")
            )
        })?),
    }))
}

pub async fn quota(args: QuotaArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        QuotaCommand::Show { project } => printer.show(&client.quotas(project.as_deref()).await?),
        QuotaCommand::Set {
            project,
            functions,
            package_bytes,
            concurrent_executions,
            executions_per_second,
            jobs,
        } => {
            let body = SetQuotas {
                functions: wire("functions", functions)?,
                package_bytes: wire("package_bytes", package_bytes)?,
                concurrent_executions: wire("concurrent_executions", concurrent_executions)?,
                executions_per_second: wire("executions_per_second", executions_per_second)?,
                jobs: wire("jobs", jobs)?,
            };
            printer.show(&client.set_quotas(&project, &body).await?)
        }
    }
}
