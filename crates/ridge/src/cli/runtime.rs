//! `ridge runtime ...` (`openstack runtime ...`): register and manage runtimes (admin).

use clap::{ArgGroup, Subcommand};
use ridge_core::api::{CreateRuntime, UpdatePool, UpdateRuntime};

use super::{GlobalOpts, delete_each, resolve};

#[derive(Debug, clap::Args)]
pub struct RuntimeArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: RuntimeCommand,
}

#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Register a runtime; it is `creating` until the server has it ready
    Create {
        /// The runtime image: a built-in kind such as `python3` (see the server's /v1/info)
        image: String,
        /// Runtime name
        #[arg(long)]
        name: Option<String>,
        /// Runtime description
        #[arg(long)]
        description: Option<String>,
        /// Only this project can use it (runtimes are public by default)
        #[arg(long)]
        private: bool,
        /// Run its functions as untrusted code
        #[arg(long)]
        untrusted: bool,
    },
    /// List the runtimes
    List,
    /// Show a runtime
    Show {
        /// Runtime name or id
        runtime: String,
    },
    /// Change a runtime's name, description or image
    #[command(group(
        ArgGroup::new("change")
            .required(true)
            .multiple(true)
            .args(["name", "description", "image"])
    ))]
    Update {
        /// Runtime name or id
        runtime: String,
        /// New name
        #[arg(long)]
        name: Option<String>,
        /// New description
        #[arg(long)]
        description: Option<String>,
        /// New image
        #[arg(long)]
        image: Option<String>,
    },
    /// Delete runtimes (refused while a function uses them)
    Delete {
        /// Runtime names or ids
        #[arg(required = true)]
        runtimes: Vec<String>,
    },
    /// A runtime's workers on this node: the warm ones and the pre-started pool
    Pool {
        #[command(subcommand)]
        command: PoolCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Show a runtime's worker pool: warm workers, and the pre-started pool's size and readiness
    Show {
        /// Runtime name or id
        runtime: String,
    },
    /// Set how many pre-started workers each node keeps for a runtime (admin)
    #[command(group(ArgGroup::new("to").required(true).args(["size", "default"])))]
    Set {
        /// Runtime name or id
        runtime: String,
        /// Pre-started workers to keep (0 keeps none)
        #[arg(long, allow_negative_numbers = true)]
        size: Option<i64>,
        /// Return to the server's default size
        #[arg(long)]
        default: bool,
    },
}

pub async fn runtime(args: RuntimeArgs) -> anyhow::Result<()> {
    let client = args.global.client()?;
    let printer = args.global.printer();
    match args.command {
        RuntimeCommand::Create {
            image,
            name,
            description,
            private,
            untrusted,
        } => {
            let body = CreateRuntime {
                image: Some(image),
                name,
                description,
                is_public: private.then_some(false),
                trusted: untrusted.then_some(false),
            };
            printer.show(&client.create_runtime(&body).await?)
        }
        RuntimeCommand::List => printer.list(&client.list_runtimes().await?),
        RuntimeCommand::Show { runtime } => {
            let id = resolve::runtime(&client, &runtime).await?;
            printer.show(&client.get_runtime(&id).await?)
        }
        RuntimeCommand::Update {
            runtime,
            name,
            description,
            image,
        } => {
            let id = resolve::runtime(&client, &runtime).await?;
            let body = UpdateRuntime {
                name,
                description,
                image,
            };
            printer.show(&client.update_runtime(&id, &body).await?)
        }
        RuntimeCommand::Delete { runtimes } => {
            delete_each(&printer, "runtime", &runtimes, |runtime| {
                let client = &client;
                async move {
                    let id = resolve::runtime(client, &runtime).await?;
                    client.delete_runtime(&id).await?;
                    Ok(format!("request to delete runtime `{id}` accepted"))
                }
            })
            .await
        }
        RuntimeCommand::Pool {
            command: PoolCommand::Show { runtime },
        } => {
            let id = resolve::runtime(&client, &runtime).await?;
            printer.show(&client.runtime_pool(&id).await?)
        }
        RuntimeCommand::Pool {
            command: PoolCommand::Set { runtime, size, .. },
        } => {
            let id = resolve::runtime(&client, &runtime).await?;
            let body = UpdatePool { size };
            printer.show(&client.set_runtime_pool(&id, &body).await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: RuntimeArgs,
    }

    fn parse(argv: &[&str]) -> Result<RuntimeArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("runtime").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn create_takes_an_image_and_flags() {
        let args = parse(&["create", "python3", "--name", "py", "--private"]).expect("parses");
        match args.command {
            RuntimeCommand::Create {
                image,
                name,
                private,
                untrusted,
                ..
            } => {
                assert_eq!(image, "python3");
                assert_eq!(name.as_deref(), Some("py"));
                assert!(private);
                assert!(!untrusted);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(parse(&["create"]).is_err(), "the image is required");
    }

    #[test]
    fn global_options_may_follow_the_subcommand() {
        let args = parse(&["list", "-f", "json", "--url", "http://h:1"]).expect("parses");
        assert_eq!(args.global.format, crate::cli::Format::Json);
        assert_eq!(args.global.url.as_deref(), Some("http://h:1"));
    }

    #[test]
    fn update_needs_a_change() {
        assert!(parse(&["update", "py"]).is_err());
        assert!(parse(&["update", "py", "--image", "python3"]).is_ok());
    }

    #[test]
    fn pool_set_takes_a_size_or_the_default() {
        let args = parse(&["pool", "set", "py", "--size", "4"]).expect("parses");
        assert!(matches!(
            args.command,
            RuntimeCommand::Pool {
                command: PoolCommand::Set {
                    size: Some(4),
                    default: false,
                    ..
                }
            }
        ));
        let args = parse(&["pool", "set", "py", "--default"]).expect("parses");
        assert!(matches!(
            args.command,
            RuntimeCommand::Pool {
                command: PoolCommand::Set {
                    size: None,
                    default: true,
                    ..
                }
            }
        ));
        assert!(parse(&["pool", "set", "py"]).is_err(), "a size is needed");
        assert!(parse(&["pool", "set", "py", "--size", "1", "--default"]).is_err());
        assert!(parse(&["pool", "show", "py"]).is_ok());
    }

    #[test]
    fn delete_takes_several() {
        let args = parse(&["delete", "a", "b"]).expect("parses");
        assert!(
            matches!(args.command, RuntimeCommand::Delete { runtimes } if runtimes == ["a", "b"])
        );
        assert!(parse(&["delete"]).is_err());
    }
}
