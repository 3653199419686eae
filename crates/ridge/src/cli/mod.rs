//! The command-line client: `ridge runtime|function|execution ...`, mirroring the `openstack`
//! function-engine commands. Every command talks to a running server through `ridge-client`
//! only, prints data through the one printer (`output`), and leaves errors to `main`, which
//! prints `error: <message>` and exits 1. The exception is `ridge store` (operators' tools that
//! open the stores themselves, with the servers stopped).

mod alias;
mod execution;
mod function;
mod generate;
mod job;
mod output;
mod package;
mod profile;
mod project;
mod quota;
mod resolve;
mod retention;
mod runtime;
mod store;
mod token;
mod trigger;
mod user;
mod version;
mod webhook;

use ridge_client::RidgeClient;

pub use alias::{AliasArgs, alias};
pub use execution::{ExecutionArgs, execution};
pub use function::{FunctionArgs, function};
pub use generate::{GenerateArgs, generate};
pub use job::{JobArgs, job};
pub use output::{Format, Printer};
pub use project::{ProjectArgs, project};
pub use quota::{QuotaArgs, quota};
pub use retention::{RetentionArgs, retention};
pub use runtime::{RuntimeArgs, runtime};
pub use store::{StoreArgs, store};
pub use token::{TokenArgs, token};
pub use trigger::{TriggerArgs, trigger};
pub use user::{UserArgs, user};
pub use webhook::{WebhookArgs, webhook};

/// Where `ridge serve` listens by default.
pub const DEFAULT_URL: &str = "http://127.0.0.1:7070";

/// Options every client command takes, before or after the subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOpts {
    /// The Ridge server to talk to [env: RIDGE_URL] [default: the profile's, else http://127.0.0.1:7070]
    #[arg(
        long,
        env = "RIDGE_URL",
        hide_env = true,
        global = true,
        help_heading = "Global options"
    )]
    pub url: Option<String>,
    /// The API token to send [env: RIDGE_TOKEN] [default: the profile's]
    #[arg(
        long,
        env = "RIDGE_TOKEN",
        hide_env = true,
        hide_env_values = true,
        global = true,
        help_heading = "Global options"
    )]
    pub token: Option<String>,
    /// A profile of ~/.config/ridge/config.toml (or RIDGE_CLIENT_CONFIG) [env: RIDGE_PROFILE]
    #[arg(
        long,
        env = "RIDGE_PROFILE",
        hide_env = true,
        global = true,
        help_heading = "Global options"
    )]
    pub profile: Option<String>,
    /// Trust the server's certificate when this PEM CA bundle vouches for it, besides the
    /// system's roots [env: RIDGE_CACERT]
    #[arg(
        long,
        env = "RIDGE_CACERT",
        hide_env = true,
        global = true,
        help_heading = "Global options"
    )]
    pub cacert: Option<std::path::PathBuf>,
    /// Present this PEM client certificate (with --key) to a server that wants one for admin
    /// calls (mutual TLS) [env: RIDGE_CERT]
    #[arg(
        long,
        env = "RIDGE_CERT",
        hide_env = true,
        global = true,
        requires = "key",
        help_heading = "Global options"
    )]
    pub cert: Option<std::path::PathBuf>,
    /// The PEM private key of --cert [env: RIDGE_KEY]
    #[arg(
        long,
        env = "RIDGE_KEY",
        hide_env = true,
        global = true,
        requires = "cert",
        help_heading = "Global options"
    )]
    pub key: Option<std::path::PathBuf>,
    /// Output format
    #[arg(
        short = 'f',
        long,
        value_enum,
        default_value_t = Format::Table,
        global = true,
        help_heading = "Global options"
    )]
    pub format: Format,
}

impl GlobalOpts {
    /// The server and token after flags, environment and the client config file.
    pub fn target(&self) -> anyhow::Result<profile::Target> {
        let config = match profile::config_path() {
            Some(path) => profile::load(&path)?,
            None => profile::ClientConfig::default(),
        };
        profile::resolve(
            &config,
            self.url.clone(),
            self.token.clone(),
            self.profile.as_deref(),
        )
    }

    fn client(&self) -> anyhow::Result<RidgeClient> {
        let target = self.target()?;
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read the {what} `{}`: {e}", path.display()))
        };
        let ca = match &self.cacert {
            Some(path) => Some(read(path, "CA bundle (--cacert)")?),
            None => None,
        };
        let identity = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert, "client certificate (--cert)")?;
                pem.push(b'\n');
                pem.extend(read(key, "client key (--key)")?);
                Some(pem)
            }
            _ => None,
        };
        let client = RidgeClient::with_tls(&target.url, ca.as_deref(), identity.as_deref())?;
        Ok(match target.token {
            Some(token) => client.with_token(token),
            None => client,
        })
    }

    fn printer(&self) -> Printer {
        Printer::new(self.format)
    }
}

/// Deletes each of `targets` with `delete`, going on after a failure as the openstack client does;
/// each failure is reported on stderr, and the command fails if any did.
async fn delete_each<F, Fut>(
    printer: &Printer,
    kind: &str,
    targets: &[String],
    mut delete: F,
) -> anyhow::Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let mut failed = 0;
    for target in targets {
        match delete(target.clone()).await {
            Ok(done) => printer.note(done),
            Err(e) => {
                failed += 1;
                printer.note(format_args!("error: {kind} `{target}`: {e:#}"));
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} {kind}s could not be deleted", targets.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Top {
        #[command(flatten)]
        global: GlobalOpts,
    }

    #[test]
    fn global_options_default_to_the_local_server_and_tables() {
        // Only meaningful when RIDGE_URL is not set in the test environment.
        if std::env::var_os("RIDGE_URL").is_some() {
            return;
        }
        let top = Top::try_parse_from(["t"]).expect("parses");
        assert_eq!(top.global.url, None);
        assert_eq!(top.global.format, Format::Table);
    }

    #[test]
    fn format_takes_the_three_names() {
        for (arg, format) in [
            ("table", Format::Table),
            ("json", Format::Json),
            ("value", Format::Value),
        ] {
            let top = Top::try_parse_from(["t", "-f", arg]).expect("parses");
            assert_eq!(top.global.format, format);
        }
        assert!(Top::try_parse_from(["t", "-f", "yaml"]).is_err());
    }
}
