//! Where the servers under test keep their state and packages (`--store`, `--packages`), and
//! the throwaway PostgreSQL cluster and SeaweedFS server the benchmark starts for them. Both are
//! started by the repository's own test scripts (`scripts/postgres-test.sh`,
//! `scripts/s3-test.sh`), so there is one way to run each, and stopped when the run ends (a
//! watchdog stops them too if this program is killed).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use tokio::process::Command;
use tokio::sync::OnceCell;

/// The bucket created in the throwaway SeaweedFS; each server (or group of nodes) gets a prefix.
const BUCKET: &str = "ridge-bench";

/// `--store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// Each server's own SQLite file in its data dir (Ridge's default).
    Sqlite,
    /// A throwaway PostgreSQL cluster; each server (or group of nodes) gets a fresh database.
    Postgres,
    /// This PostgreSQL database, used as is by every server.
    PostgresUrl(String),
}

impl FromStr for StoreChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                Ok(Self::PostgresUrl(s.to_owned()))
            }
            _ => Err(format!(
                "invalid store `{s}`: expected sqlite, postgres (a throwaway cluster started for \
                 the run) or a postgres://user:password@host:port/db URL"
            )),
        }
    }
}

/// `--packages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackagesChoice {
    /// Each server's own directory in its data dir (Ridge's default); nodes of one group share a
    /// temp directory.
    Local,
    /// A throwaway SeaweedFS; each server (or group of nodes) gets a prefix of one bucket.
    S3,
    /// This `s3://` or `file:///` URL, used as is by every server (S3 settings from the AWS
    /// variables of this program's environment).
    Url(String),
}

impl FromStr for PackagesChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "file" | "local" => Ok(Self::Local),
            "s3" => Ok(Self::S3),
            _ if s.starts_with("s3://") || s.starts_with("file:///") => Ok(Self::Url(s.to_owned())),
            _ => Err(format!(
                "invalid packages `{s}`: expected file, s3 (a throwaway SeaweedFS started for the \
                 run), an s3://BUCKET[/PREFIX] or a file:///PATH URL"
            )),
        }
    }
}

/// What one server (or every node of one group) is started with.
#[derive(Debug, Clone, Default)]
pub struct Backing {
    /// `--store`; none: SQLite in the data dir.
    pub store: Option<String>,
    /// `--packages`; none: the data dir's own directory.
    pub packages: Option<String>,
    /// Extra environment (the AWS variables for S3).
    pub env: Vec<(String, String)>,
    /// A package directory the group's nodes share, removed with the last of them.
    _shared: Option<Arc<tempfile::TempDir>>,
}

/// The run's `--store` and `--packages`, and what was started for them.
pub struct Backends {
    pub store: StoreChoice,
    pub packages: PackagesChoice,
    postgres: OnceCell<Service>,
    s3: OnceCell<S3>,
    /// Numbers the databases and prefixes handed out.
    next: AtomicUsize,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("store", &self.store)
            .field("packages", &self.packages)
            .finish_non_exhaustive()
    }
}

impl Backends {
    pub fn new(store: StoreChoice, packages: PackagesChoice) -> Self {
        Self {
            store,
            packages,
            postgres: OnceCell::new(),
            s3: OnceCell::new(),
            next: AtomicUsize::new(1),
        }
    }

    /// The PostgreSQL side of a comparison: `--store` if it names PostgreSQL, else a throwaway
    /// cluster.
    pub fn postgres(&self) -> StoreChoice {
        match &self.store {
            StoreChoice::Sqlite => StoreChoice::Postgres,
            other => other.clone(),
        }
    }

    /// What a server called `name` is started with on `store`. `shared`: several nodes will
    /// share it, so local packages go to a directory of their own instead of each data dir.
    pub async fn backing(
        &self,
        name: &str,
        store: &StoreChoice,
        shared: bool,
    ) -> anyhow::Result<Backing> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let store = match store {
            StoreChoice::Sqlite => None,
            StoreChoice::PostgresUrl(url) => Some(url.clone()),
            StoreChoice::Postgres => {
                let cluster = self.postgres.get_or_try_init(start_postgres).await?;
                Some(create_database(&cluster.url, &format!("ridge_bench_{n}")).await?)
            }
        };
        let mut backing = Backing {
            store,
            ..Backing::default()
        };
        match &self.packages {
            PackagesChoice::Local if shared => {
                let dir = tempfile::Builder::new()
                    .prefix("ridge-bench-packages-")
                    .tempdir()
                    .context("cannot create a shared package directory")?;
                backing.packages = Some(format!("file://{}", dir.path().display()));
                backing._shared = Some(Arc::new(dir));
            }
            PackagesChoice::Local => {}
            PackagesChoice::Url(url) => backing.packages = Some(url.clone()),
            PackagesChoice::S3 => {
                let s3 = self.s3.get_or_try_init(start_s3).await?;
                backing.packages = Some(format!("s3://{BUCKET}/{n}-{name}"));
                backing.env = s3.env();
            }
        }
        Ok(backing)
    }

    /// For the record.
    pub fn describe(&self) -> String {
        let store = match &self.store {
            StoreChoice::Sqlite => "SQLite in each data dir".to_owned(),
            StoreChoice::Postgres => "a throwaway PostgreSQL cluster on loopback (PostgreSQL's \
                durable defaults), a fresh database per server or group of nodes"
                .to_owned(),
            StoreChoice::PostgresUrl(url) => format!("PostgreSQL at {}", redact(url)),
        };
        let packages = match &self.packages {
            PackagesChoice::Local => "packages in each data dir".to_owned(),
            PackagesChoice::S3 => {
                "packages in a throwaway SeaweedFS S3 on loopback, a prefix per server".to_owned()
            }
            PackagesChoice::Url(url) => format!("packages at {url}"),
        };
        format!("store: {store}; {packages}")
    }
}

/// `url` without its password.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

/// A service a script started, stopped by the same script when dropped.
struct Service {
    script: PathBuf,
    /// What `stop` takes: the cluster's directory, or SeaweedFS's state directory.
    state: PathBuf,
    /// PostgreSQL's superuser URL (empty for S3).
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        // A blocking call in a destructor: this runs once, at the end of the run.
        let stopped = std::process::Command::new(&self.script)
            .arg("stop")
            .arg(&self.state)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        if !matches!(stopped, Ok(s) if s.success()) {
            eprintln!(
                "warning: `{} stop {}` failed",
                self.script.display(),
                self.state.display()
            );
        }
    }
}

/// The throwaway SeaweedFS and its one access key.
struct S3 {
    /// Held for its destructor, which stops the server.
    _service: Service,
    endpoint: String,
    key: String,
    secret: String,
}

impl S3 {
    fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", &self.key),
            ("AWS_SECRET_ACCESS_KEY", &self.secret),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

/// `scripts/NAME` of the source tree this program was built from.
fn script(name: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name);
    if !path.is_file() {
        bail!(
            "`{}` is missing: run ridge-bench from its source tree",
            path.display()
        );
    }
    Ok(path)
}

/// Runs `script ARGS`; its standard output, or its standard error as the failure.
async fn run_script(script: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let out = Command::new(script)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run `{}`", script.display()))?;
    if !out.status.success() {
        bail!(
            "`{} {}` failed: {}",
            script.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts a watchdog shell that runs `script stop state` once this program has exited, so a
/// killed run leaves no cluster behind.
fn watch(script: &Path, state: &Path) -> anyhow::Result<()> {
    let me = std::process::id();
    let watchdog = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; '{}' stop '{}'",
        script.display(),
        state.display()
    );
    // Deliberately not waited for: it outlives this program; init reaps it.
    std::process::Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start the PostgreSQL watchdog")?;
    Ok(())
}

async fn start_postgres() -> anyhow::Result<Service> {
    let script = script("postgres-test.sh")?;
    // The script wants a directory that does not exist or is empty, and removes it on `stop`.
    let state = tempfile::Builder::new()
        .prefix("ridge-bench-postgres-")
        .tempdir()
        .context("cannot create a directory for PostgreSQL")?
        .keep();
    eprintln!(
        "starting a throwaway PostgreSQL cluster in {}",
        state.display()
    );
    let state_arg = state.to_string_lossy().into_owned();
    // From here on, dropping `service` stops whatever the script started.
    let mut service = Service {
        script: script.clone(),
        state: state.clone(),
        url: String::new(),
    };
    let out = run_script(
        &script,
        &["start", &state_arg],
        &[("RIDGE_PG_DURABLE", "1")],
    )
    .await?;
    watch(&script, &state)?;
    let url = out.trim().to_owned();
    if !url.starts_with("postgres://") {
        bail!("`{} start` printed no URL: {url}", script.display());
    }
    service.url = url;
    Ok(service)
}

/// Creates database `name` on the cluster of superuser URL `admin`; the database's URL.
async fn create_database(admin: &str, name: &str) -> anyhow::Result<String> {
    let out = Command::new(pg_tool("createdb"))
        .arg(format!("--maintenance-db={admin}"))
        .arg(name)
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run PostgreSQL's `createdb`")?;
    if !out.status.success() {
        bail!(
            "cannot create database `{name}`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

/// The cluster's WAL syncs so far (`pg_stat_wal`, PostgreSQL 14 and later), read with
/// `psql`; `None` when it cannot be read.
pub async fn wal_syncs(url: &str) -> Option<u64> {
    let out = Command::new(pg_tool("psql"))
        .args([url, "-Atc", "SELECT wal_sync FROM pg_stat_wal"])
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// A PostgreSQL client program: from `RIDGE_PG_BIN` or the newest `/usr/lib/postgresql/*/bin`,
/// as `scripts/postgres-test.sh` picks them, else from `PATH`.
fn pg_tool(name: &str) -> PathBuf {
    let bin = std::env::var_os("RIDGE_PG_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
            versions
                .filter_map(|e| {
                    let e = e.ok()?;
                    let v: u32 = e.file_name().to_str()?.parse().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .max_by_key(|(v, _)| *v)
                .map(|(_, p)| p)
        });
    match bin {
        Some(dir) if dir.join(name).is_file() => dir.join(name),
        _ => PathBuf::from(name),
    }
}

async fn start_s3() -> anyhow::Result<S3> {
    let script = script("s3-test.sh")?;
    eprintln!("starting a throwaway SeaweedFS S3 server");
    // With our pid, the script's own watchdog stops the server if this program is killed.
    let out = run_script(&script, &["start", &std::process::id().to_string()], &[]).await?;
    let var = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .map(str::to_owned)
            .with_context(|| format!("`{} start` printed no {name}", script.display()))
    };
    let s3 = S3 {
        _service: Service {
            script: script.clone(),
            state: PathBuf::from(var("RIDGE_TEST_S3_STATE")?),
            url: String::new(),
        },
        endpoint: var("RIDGE_TEST_S3_ENDPOINT")?,
        key: var("RIDGE_TEST_S3_ACCESS_KEY_ID")?,
        secret: var("RIDGE_TEST_S3_SECRET_ACCESS_KEY")?,
    };
    create_bucket(&s3).await?;
    Ok(s3)
}

/// Creates [`BUCKET`] with a signed `PUT` (Ridge needs the bucket to exist).
async fn create_bucket(s3: &S3) -> anyhow::Result<()> {
    let out = Command::new("curl")
        .args(["--aws-sigv4", "aws:amz:us-east-1:s3", "--user"])
        .arg(format!("{}:{}", s3.key, s3.secret))
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"])
        .arg(format!("{}/{BUCKET}", s3.endpoint))
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run curl to create the bucket")?;
    let code = String::from_utf8_lossy(&out.stdout);
    if code.trim() != "200" {
        bail!(
            "cannot create bucket `{BUCKET}` in SeaweedFS (HTTP {}): {}",
            code.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_bad_ones_say_what_is_accepted() {
        assert_eq!("sqlite".parse(), Ok(StoreChoice::Sqlite));
        assert_eq!("postgres".parse(), Ok(StoreChoice::Postgres));
        assert_eq!(
            "postgresql://u:p@h/db".parse(),
            Ok(StoreChoice::PostgresUrl("postgresql://u:p@h/db".into()))
        );
        let err = "mysql://x".parse::<StoreChoice>().expect_err("refused");
        assert!(err.contains("expected sqlite, postgres"), "{err}");
        assert_eq!("s3".parse(), Ok(PackagesChoice::S3));
        assert_eq!(
            "s3://b/p".parse(),
            Ok(PackagesChoice::Url("s3://b/p".into()))
        );
        let err = "file://relative"
            .parse::<PackagesChoice>()
            .expect_err("refused");
        assert!(err.contains("expected file, s3"), "{err}");
        assert_eq!(redact("postgres://u:secret@h:5/db"), "postgres://u@h:5/db");
    }

    /// Whether `psql` can run a query on `url`.
    fn answers(url: &str) -> bool {
        std::process::Command::new(pg_tool("psql"))
            .args([url, "-Atc", "SELECT 1"])
            .output()
            .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"1"))
    }

    #[tokio::test]
    async fn a_throwaway_cluster_gives_each_server_a_database_and_stops_with_the_run() {
        let backends = Backends::new(StoreChoice::Postgres, PackagesChoice::Local);
        let one = backends
            .backing("one", &StoreChoice::Postgres, false)
            .await
            .expect("a cluster starts");
        let nodes = backends
            .backing("nodes", &StoreChoice::Postgres, true)
            .await
            .expect("a second database");
        let (Some(a), Some(b)) = (one.store.clone(), nodes.store.clone()) else {
            panic!("PostgreSQL URLs expected: {one:?} {nodes:?}");
        };
        assert_ne!(a, b, "each server gets a database of its own");
        assert!(answers(&a) && answers(&b), "{a} and {b} answer");
        // Only a group of nodes gets a package directory, which they share.
        assert_eq!(one.packages, None);
        let shared = nodes.packages.clone().expect("a shared package directory");
        let dir = PathBuf::from(shared.trim_start_matches("file://"));
        assert!(dir.is_dir(), "{shared}");
        // SQLite needs nothing started.
        let sqlite = backends
            .backing("sqlite", &StoreChoice::Sqlite, false)
            .await
            .expect("sqlite");
        assert_eq!(sqlite.store, None);

        let state = backends
            .postgres
            .get()
            .map(|s| s.state.clone())
            .expect("the cluster's directory");
        drop((one, nodes));
        assert!(
            !dir.exists(),
            "the shared package directory goes with its nodes"
        );
        drop(backends);
        assert!(!state.exists(), "the cluster is stopped and removed");
        assert!(!answers(&a), "{a} still answers");
    }
}
