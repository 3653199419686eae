//! `ridge function ...` (`openstack function ...`): upload, inspect, update, delete and download
//! package functions.

use std::path::PathBuf;

use anyhow::Context;
use clap::{ArgGroup, Subcommand};
use ridge_client::{FunctionUpdate, FunctionUpload};
use ridge_core::api::FunctionView;
use serde_json::Value;

use super::package::Source;
use super::{GlobalOpts, delete_each, resolve};

#[derive(Debug, clap::Args)]
pub struct FunctionArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: FunctionCommand,
}

/// The code of a new function: exactly one of the two.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct NewCode {
    /// A single source file; it is zipped (stored) under its base name
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// A zip package or a `.wasm` module, sent as is (at most 50 MiB)
    #[arg(long, value_name = "ZIP")]
    pub package: Option<PathBuf>,
}

/// New code for an existing function: at most one of the two.
#[derive(Debug, clap::Args)]
#[group(required = false, multiple = false)]
pub struct ReplacementCode {
    /// A single source file; it is zipped (stored) under its base name
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// A zip package or a `.wasm` module, sent as is (at most 50 MiB)
    #[arg(long, value_name = "ZIP")]
    pub package: Option<PathBuf>,
}

/// Resource limits; the server's defaults and allowed ranges apply.
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// CPU limit in millicpu
    #[arg(long)]
    pub cpu: Option<u64>,
    /// Memory limit in bytes
    #[arg(long)]
    pub memory_size: Option<u64>,
    /// Timeout of one execution, in seconds
    #[arg(long)]
    pub timeout: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum FunctionCommand {
    /// Create a function from a source file or a zip package
    Create {
        /// Function name
        #[arg(long)]
        name: Option<String>,
        /// Runtime name or id
        #[arg(long)]
        runtime: String,
        /// Entry point as <module>.<function> (the server's default is `main.main`)
        #[arg(long)]
        entry: Option<String>,
        #[command(flatten)]
        code: NewCode,
        #[command(flatten)]
        limits: LimitArgs,
        /// Function description
        #[arg(long)]
        description: Option<String>,
    },
    /// List functions
    List {
        /// Every project's functions (admin)
        #[arg(long)]
        all_projects: bool,
    },
    /// Show a function
    Show {
        /// Function name or id
        function: String,
    },
    /// Change a function's settings or code (new code releases its running workers)
    #[command(group(
        ArgGroup::new("change")
            .required(true)
            .multiple(true)
            .args(["name", "description", "entry", "file", "package", "cpu", "memory_size", "timeout"])
    ))]
    Update {
        /// Function name or id
        function: String,
        /// New name
        #[arg(long)]
        name: Option<String>,
        /// New description
        #[arg(long)]
        description: Option<String>,
        /// New entry point as <module>.<function>
        #[arg(long)]
        entry: Option<String>,
        #[command(flatten)]
        code: ReplacementCode,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Delete functions
    Delete {
        /// Function names or ids
        #[arg(required = true)]
        functions: Vec<String>,
    },
    /// Download a function's code package
    Download {
        /// Function name or id
        function: String,
        /// Where to write the zip (`-` for stdout) [default: ./<function id>.zip]
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
    /// Pre-warm workers of a function (admin)
    Scaleup {
        /// Function name or id
        function: String,
        /// How many workers to add
        #[arg(long, default_value_t = 1)]
        count: u64,
    },
    /// Stop idle workers of a function, keeping at least one (admin)
    Scaledown {
        /// Function name or id
        function: String,
        /// How many workers to stop
        #[arg(long, default_value_t = 1)]
        count: u64,
    },
    /// Stop every worker of a function (admin)
    Detach {
        /// Function name or id
        function: String,
    },
    /// A function's workers on the server (admin)
    Worker {
        #[command(subcommand)]
        command: WorkerCommand,
    },
    /// A function's versions: immutable snapshots of its code
    Version {
        #[command(subcommand)]
        command: super::version::VersionCommand,
    },
}

pub async fn function(args: FunctionArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        FunctionCommand::Create {
            name,
            runtime,
            entry,
            code,
            limits,
            description,
        } => {
            let source = Source::new(code.file, code.package)
                .context("give the code with --file or --package")?;
            let package = source.load().await?;
            let runtime_id = resolve::runtime(&client, &runtime).await?;
            let upload = FunctionUpload {
                name,
                description,
                runtime_id: Some(runtime_id),
                entry,
                cpu: limits.cpu,
                memory_size: limits.memory_size,
                timeout: limits.timeout,
                package: Some(package),
            };
            printer.show(&code_as_object(client.create_function(&upload).await?))
        }
        FunctionCommand::List { all_projects } => {
            let functions: Vec<_> = client
                .list_functions(all_projects)
                .await?
                .into_iter()
                .map(code_as_object)
                .collect();
            printer.list(&functions)
        }
        FunctionCommand::Show { function } => {
            let id = resolve::function(&client, &function).await?;
            printer.show(&code_as_object(client.get_function(&id).await?))
        }
        FunctionCommand::Update {
            function,
            name,
            description,
            entry,
            code,
            limits,
        } => {
            let package = match Source::new(code.file, code.package) {
                Some(source) => Some(source.load().await?),
                None => None,
            };
            let id = resolve::function(&client, &function).await?;
            let update = FunctionUpdate {
                name,
                description,
                entry,
                cpu: limits.cpu,
                memory_size: limits.memory_size,
                timeout: limits.timeout,
                package,
            };
            printer.show(&code_as_object(client.update_function(&id, &update).await?))
        }
        FunctionCommand::Delete { functions } => {
            delete_each(&printer, "function", &functions, |function| {
                let client = &client;
                async move {
                    let id = resolve::function(client, &function).await?;
                    client.delete_function(&id).await?;
                    Ok(format!("deleted function `{id}`"))
                }
            })
            .await
        }
        FunctionCommand::Download { function, output } => {
            let id = resolve::function(&client, &function).await?;
            let zip = client.download_function(&id).await?;
            let path = output.unwrap_or_else(|| PathBuf::from(format!("{id}.zip")));
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
        FunctionCommand::Scaleup { function, count } => {
            let id = resolve::function(&client, &function).await?;
            client.scale_up(&id, count).await?;
            printer.note(format_args!(
                "Request to scale up function `{id}` has been accepted."
            ));
            Ok(())
        }
        FunctionCommand::Scaledown { function, count } => {
            let id = resolve::function(&client, &function).await?;
            client.scale_down(&id, count).await?;
            printer.note(format_args!(
                "Request to scale down function `{id}` has been accepted."
            ));
            Ok(())
        }
        FunctionCommand::Detach { function } => {
            let id = resolve::function(&client, &function).await?;
            client.detach(&id).await?;
            printer.note(format_args!(
                "Request to detach function `{id}` has been accepted."
            ));
            Ok(())
        }
        FunctionCommand::Worker {
            command:
                WorkerCommand::List {
                    function,
                    function_version,
                },
        } => {
            let id = resolve::function(&client, &function).await?;
            printer.list(&client.list_workers(&id, function_version).await?)
        }
        FunctionCommand::Version { command } => {
            super::version::version(&client, &printer, command).await
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// List a function's live workers
    List {
        /// Function name or id
        function: String,
        /// Only the workers of this version
        #[arg(long)]
        function_version: Option<i64>,
    },
}

/// The view with `code` as an object, whichever shape the server sent (list items carry it as a
/// JSON-encoded string), so that `-f json` output has one shape for scripts.
fn code_as_object(mut f: FunctionView) -> FunctionView {
    if let Value::String(s) = &f.code
        && let Ok(code @ Value::Object(_)) = serde_json::from_str(s)
    {
        f.code = code;
    }
    f
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: FunctionArgs,
    }

    fn parse(argv: &[&str]) -> Result<FunctionArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("function").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn create_needs_a_runtime_and_exactly_one_code_source() {
        let args = parse(&[
            "create",
            "--name",
            "hello",
            "--runtime",
            "python3",
            "--file",
            "hello.py",
            "--timeout",
            "30",
        ])
        .expect("parses");
        match args.command {
            FunctionCommand::Create {
                runtime,
                code,
                limits,
                ..
            } => {
                assert_eq!(runtime, "python3");
                assert_eq!(code.file, Some(PathBuf::from("hello.py")));
                assert_eq!(code.package, None);
                assert_eq!(limits.timeout, Some(30));
                assert_eq!(limits.cpu, None);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(parse(&["create", "--runtime", "r"]).is_err(), "no code");
        assert!(
            parse(&["create", "--runtime", "r", "--file", "a", "--package", "b"]).is_err(),
            "two code sources"
        );
        assert!(parse(&["create", "--file", "a"]).is_err(), "no runtime");
        assert!(
            parse(&["create", "--runtime", "r", "--file", "a", "--cpu", "x"]).is_err(),
            "cpu is a number"
        );
    }

    #[test]
    fn update_needs_a_change_and_at_most_one_code_source() {
        assert!(parse(&["update", "f"]).is_err());
        assert!(parse(&["update", "f", "--memory-size", "67108864"]).is_ok());
        assert!(parse(&["update", "f", "--package", "p.zip"]).is_ok());
        assert!(parse(&["update", "f", "--file", "a", "--package", "b"]).is_err());
    }

    #[test]
    fn download_takes_an_output_path() {
        let args = parse(&["download", "hello", "-o", "/tmp/x.zip"]).expect("parses");
        assert!(matches!(
            args.command,
            FunctionCommand::Download { function, output: Some(o) }
                if function == "hello" && o.as_os_str() == "/tmp/x.zip"
        ));
    }

    fn view(code: Value) -> FunctionView {
        serde_json::from_value(json!({
            "id": "f", "name": null, "description": null, "runtime_id": "r", "code": code,
            "entry": "main.main", "cpu": 100, "memory_size": 33554432, "timeout": 5,
            "count": 0, "latest_version": 0, "project_id": "default",
            "created_at": "2019-06-11T00:16:54Z", "updated_at": null
        }))
        .expect("a function view")
    }

    #[test]
    fn code_is_shown_as_an_object_in_lists_too() {
        let object = json!({"source": "package", "md5sum": "abc"});
        let listed = view(Value::String(object.to_string()));
        assert_eq!(code_as_object(listed).code, object);
        assert_eq!(code_as_object(view(object.clone())).code, object);
        let odd = Value::String("not json".into());
        assert_eq!(code_as_object(view(odd.clone())).code, odd);
    }
}
