//! The `ridge` binary: `ridge serve` runs the platform; every other subcommand is a client of
//! its HTTP API (through `ridge-client`), mirroring the `openstack` function-engine commands.
//! This is the only crate that picks implementations (SQLite, local packages, local workers).

mod cli;
mod init;

use ridge::serve;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ridge",
    version,
    about = "Ridge: a self-hosted Function-as-a-Service platform"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Ridge server (API, engine, workers) in this process.
    Serve(serve::ServeArgs),
    /// Check this host for what the sandbox and the runtimes need, before starting a server
    /// (takes `ridge serve`'s flags); exits 1 when something is missing.
    Doctor(serve::ServeArgs),
    /// Operate on the stores directly: `ridge store copy` moves a node's state (servers stopped).
    Store(cli::StoreArgs),
    /// Manage runtimes (admin).
    Runtime(cli::RuntimeArgs),
    /// Manage functions.
    Function(cli::FunctionArgs),
    /// Run functions and read their results and logs.
    Execution(cli::ExecutionArgs),
    /// Name function versions; executions, webhooks and jobs follow an alias when it moves.
    Alias(cli::AliasArgs),
    /// Public URLs that run a function (optionally with a secret).
    Webhook(cli::WebhookArgs),
    /// Run a function on a cron pattern or once at a given time.
    Job(cli::JobArgs),
    /// Run a function for each message of a RabbitMQ queue or OpenStack notification.
    Trigger(cli::TriggerArgs),
    /// Manage projects (admin, `token` auth mode).
    Project(cli::ProjectArgs),
    /// Manage users (admin, `token` auth mode).
    User(cli::UserArgs),
    /// Issue, list and revoke API tokens (admin, `token` auth mode).
    Token(cli::TokenArgs),
    /// Show quotas and usage; override them per project (admin).
    Quota(cli::QuotaArgs),
    /// Show how long finished executions are kept; override it per project (admin).
    Retention(cli::RetentionArgs),
    /// Write shell completions or man pages generated from this CLI (for packagers).
    #[command(hide = true)]
    Generate(cli::GenerateArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    if matches!(args.command, Command::Serve(_)) {
        // Process 1 of a container reaps its orphans: the server runs in a child (init.rs).
        init::stand_in_for_init();
        // A mount namespace belongs to a thread: before the async runtime starts any, so that
        // every thread of the server shares it. Its packages are then mounted where neither
        // the host nor its workers see the data directory; without it the server says so.
        let _ = ridge_sandbox::enter_private_mount_namespace();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            Command::Serve(a) => serve::run(a).await,
            Command::Doctor(a) => serve::doctor(a).await,
            Command::Store(a) => cli::store(a).await,
            Command::Runtime(a) => cli::runtime(a).await,
            Command::Function(a) => cli::function(a).await,
            Command::Execution(a) => cli::execution(a).await,
            Command::Alias(a) => cli::alias(a).await,
            Command::Webhook(a) => cli::webhook(a).await,
            Command::Trigger(a) => cli::trigger(a).await,
            Command::Job(a) => cli::job(a).await,
            Command::Project(a) => cli::project(a).await,
            Command::User(a) => cli::user(a).await,
            Command::Token(a) => cli::token(a).await,
            Command::Quota(a) => cli::quota(a).await,
            Command::Retention(a) => cli::retention(a).await,
            Command::Generate(a) => cli::generate(a, Args::command()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
