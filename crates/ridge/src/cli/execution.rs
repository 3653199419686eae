//! `ridge execution ...` (`openstack function execution ...`): run functions and read their
//! results and logs.

use anyhow::bail;
use clap::Subcommand;
use ridge_core::api::CreateExecution;
use serde_json::Value;

use super::{GlobalOpts, delete_each, resolve};

#[derive(Debug, clap::Args)]
pub struct ExecutionArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: ExecutionCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExecutionCommand {
    /// Run a function and print the execution
    #[command(long_about = "Run a function and print the execution.\n\n\
            By default the call waits for the function to finish and prints its status and \
            result; with --async it returns at once with status `running` (see `ridge execution \
            show ID`). The command exits 0 whenever the server ran the call, even if the \
            function itself failed: read the status (`success`, `failed` or `error`) and the \
            result, or `ridge execution log ID`, to know how the function did.")]
    Create {
        /// Function name or id
        function: String,
        /// Function version to run (0, the default, is the latest code)
        #[arg(long)]
        function_version: Option<u64>,
        /// Input: a JSON object of keyword arguments, or any text as one positional argument
        #[arg(long)]
        input: Option<String>,
        /// Return at once instead of waiting for the result
        #[arg(long = "async")]
        run_async: bool,
        /// Wait for the result (the default)
        #[arg(long, conflicts_with = "run_async")]
        sync: bool,
        /// Execution description
        #[arg(long)]
        description: Option<String>,
    },
    /// List executions
    List {
        /// Only this function's executions (name or id)
        #[arg(long)]
        function: Option<String>,
        /// Only executions in this status (running, success, failed, error)
        #[arg(long)]
        status: Option<String>,
        /// A query filter key=value, repeatable; a value may carry an operator:
        /// eq, neq, in, nin, gt, gte, lt, lte, has (e.g. description=has:nightly)
        #[arg(long = "filter", value_name = "KEY=VALUE", value_parser = parse_filter)]
        filters: Vec<(String, String)>,
    },
    /// Show an execution
    Show {
        /// Execution id
        id: String,
    },
    /// Delete executions
    Delete {
        /// Execution ids
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Print an execution's log (empty while it runs)
    Log {
        /// Execution id
        id: String,
    },
}

pub async fn execution(args: ExecutionArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        ExecutionCommand::Create {
            function,
            function_version,
            input,
            run_async,
            sync: _,
            description,
        } => {
            let function_id = resolve::function(&client, &function).await?;
            let body = CreateExecution {
                function_id: Some(function_id),
                function_version: function_version.map(Value::from),
                function_alias: None,
                description,
                sync: Some(!run_async),
                input: input.map(Value::String),
            };
            let execution = client.create_execution(&body).await?;
            printer.show(&execution)?;
            if matches!(execution.status.as_str(), "failed" | "error") {
                printer.note(format_args!(
                    "execution `{}` ended `{}`; its log: ridge execution log {}",
                    execution.id, execution.status, execution.id
                ));
            }
            Ok(())
        }
        ExecutionCommand::List {
            function,
            status,
            filters,
        } => {
            let mut query = Vec::new();
            if let Some(function) = function {
                query.push((
                    "function_id".to_owned(),
                    resolve::function(&client, &function).await?,
                ));
            }
            if let Some(status) = status {
                query.push(("status".to_owned(), status));
            }
            query.extend(filters);
            printer.list(&client.list_executions(&query).await?)
        }
        ExecutionCommand::Show { id } => printer.show(&client.get_execution(&id).await?),
        ExecutionCommand::Delete { ids } => {
            delete_each(&printer, "execution", &ids, |id| {
                let client = &client;
                async move {
                    client.delete_execution(&id).await?;
                    Ok(format!("deleted execution `{id}`"))
                }
            })
            .await
        }
        ExecutionCommand::Log { id } => {
            let log = client.execution_log(&id).await?;
            printer.text(&id, "log", &log)
        }
    }
}

/// `key=value`, split at the first `=` (a value may contain more).
fn parse_filter(s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => bail!("expected key=value, as in status=failed or description=has:nightly"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExecutionArgs,
    }

    fn parse(argv: &[&str]) -> Result<ExecutionArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("execution").chain(argv.iter().copied()))
            .map(|c| c.args)
    }

    #[test]
    fn create_is_sync_unless_async_is_given() {
        let args = parse(&["create", "hello", "--input", r#"{"name": "x"}"#]).expect("parses");
        match args.command {
            ExecutionCommand::Create {
                function,
                input,
                run_async,
                function_version,
                ..
            } => {
                assert_eq!(function, "hello");
                assert_eq!(input.as_deref(), Some(r#"{"name": "x"}"#));
                assert!(!run_async);
                assert_eq!(function_version, None);
            }
            other => panic!("parsed as {other:?}"),
        }
        let args =
            parse(&["create", "hello", "--async", "--function-version", "2"]).expect("parses");
        assert!(matches!(
            args.command,
            ExecutionCommand::Create {
                run_async: true,
                function_version: Some(2),
                ..
            }
        ));
        assert!(parse(&["create", "hello", "--async", "--sync"]).is_err());
        assert!(parse(&["create"]).is_err(), "the function is required");
    }

    #[test]
    fn list_filters_repeat_and_keep_operators() {
        let args = parse(&[
            "list",
            "--status",
            "failed",
            "--filter",
            "description=has:a=b",
            "--filter",
            "function_version=gt:0",
        ])
        .expect("parses");
        match args.command {
            ExecutionCommand::List {
                status, filters, ..
            } => {
                assert_eq!(status.as_deref(), Some("failed"));
                assert_eq!(
                    filters,
                    [
                        ("description".to_owned(), "has:a=b".to_owned()),
                        ("function_version".to_owned(), "gt:0".to_owned())
                    ]
                );
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(parse(&["list", "--filter", "nokey"]).is_err());
        assert!(parse(&["list", "--filter", "=x"]).is_err());
    }

    #[test]
    fn delete_and_log_take_ids() {
        assert!(matches!(
            parse(&["delete", "a", "b"]).expect("parses").command,
            ExecutionCommand::Delete { ids } if ids == ["a", "b"]
        ));
        assert!(matches!(
            parse(&["log", "a"]).expect("parses").command,
            ExecutionCommand::Log { id } if id == "a"
        ));
    }

    #[test]
    fn help_says_a_failed_function_still_exits_0() {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let create = cmd
            .find_subcommand_mut("create")
            .expect("a create subcommand");
        let help = create.render_long_help().to_string();
        assert!(help.contains("exits 0"), "{help}");
    }
}
