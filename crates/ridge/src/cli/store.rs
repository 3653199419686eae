//! `ridge store copy`: moves a node's state to another store (a single SQLite node onto
//! PostgreSQL, or back) and, with `--packages-from`/`--packages-to`, its packages to another
//! package store (a directory onto S3). Unlike the other commands it talks to no server: it
//! opens the stores themselves, and the nodes using the source must be stopped first.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use ridge::packages::{AwsEnv, PackagesSettings};
use ridge_package::{PackageError, PackageStore, UnpackLimits};
use ridge_store::{CopyProgress, PackageRef, StoreCopy, StoreUrl};

/// Progress is told once per this many rows of a table (and at its end).
const PROGRESS_EVERY: u64 = 10_000;

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Copy every row of a store into an empty one (stop the nodes using the source first)
    Copy(CopyArgs),
}

#[derive(Debug, clap::Args)]
struct CopyArgs {
    /// The store to read: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DBNAME (only read)
    #[arg(long, value_name = "URL")]
    from: String,
    /// The store to fill: migrated first, and it must hold no data
    #[arg(long, value_name = "URL")]
    to: String,
    /// Also copy the packages that the functions and versions use, from this package store
    /// (file:///PATH or s3://BUCKET[/PREFIX]; S3 settings from the AWS_* variables)
    #[arg(long, value_name = "URL", requires = "packages_to")]
    packages_from: Option<String>,
    /// The package store to copy the packages into
    #[arg(long, value_name = "URL", requires = "packages_from")]
    packages_to: Option<String>,
}

pub async fn store(args: StoreArgs) -> anyhow::Result<()> {
    match args.command {
        StoreCommand::Copy(args) => copy(args).await,
    }
}

async fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let from: StoreUrl = args.from.parse()?;
    let to: StoreUrl = args.to.parse()?;
    if from == to {
        bail!("`--from` and `--to` are the same store `{from}`");
    }
    let started = Instant::now();
    let mut copy = StoreCopy::prepare(&from, &to).await?;
    if let (Some(packages_from), Some(packages_to)) = (args.packages_from, args.packages_to) {
        let refs = copy.package_refs().await?;
        copy_packages(&packages_from, &packages_to, &refs).await?;
    }
    eprintln!("copying the store {from} to {to}");
    let summary = copy
        .run(&mut |p: CopyProgress| {
            if p.done {
                eprintln!("  {}: {} rows", p.table, p.rows);
            } else if p.rows.is_multiple_of(PROGRESS_EVERY) {
                eprintln!("  {}: {} rows so far", p.table, p.rows);
            }
        })
        .await
        .with_context(|| {
            format!(
                "the copy failed and nothing was committed: `{to}` has the schema but no rows, and another copy may be tried into it"
            )
        })?;
    let rows: u64 = summary.iter().map(|(_, rows)| rows).sum();
    eprintln!(
        "copied {rows} rows of {} tables from {from} to {to} in {:.1} s",
        summary.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Copies every package in `refs`, checked again on the way in (so that S3 gets its size
/// markers); one missing from the source is reported and skipped.
async fn copy_packages(from: &str, to: &str, refs: &[PackageRef]) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let source = open_packages(from, &scratch.path().join("from")).await?;
    let target = open_packages(to, &scratch.path().join("to")).await?;
    eprintln!(
        "copying {} packages from {} to {}",
        refs.len(),
        source.describe(),
        target.describe()
    );
    let mut missing = 0;
    for (done, r) in refs.iter().enumerate() {
        let bytes = match source.get(&r.project, r.function, &r.md5).await {
            Ok(bytes) => bytes,
            Err(PackageError::NotFound { .. }) => {
                eprintln!(
                    "  warning: package {} of function {} (project {}) is missing from the source: skipped",
                    r.md5, r.function, r.project
                );
                missing += 1;
                continue;
            }
            Err(e) => return Err(e).context(format!("cannot read package {}", r.md5)),
        };
        target
            .put(&r.project, r.function, bytes, Some(&r.md5))
            .await
            .with_context(|| {
                format!("cannot store package {} of function {}", r.md5, r.function)
            })?;
        if (done + 1).is_multiple_of(100) {
            eprintln!("  packages: {} of {}", done + 1, refs.len());
        }
    }
    eprintln!(
        "  packages: {} copied, {missing} missing",
        refs.len() - missing
    );
    Ok(())
}

/// A package store as `ridge serve --packages URL` opens it, with no unpack limits (every
/// package was checked against the server's when it was uploaded).
async fn open_packages(
    url: &str,
    scratch: &Path,
) -> anyhow::Result<std::sync::Arc<dyn PackageStore>> {
    let settings =
        PackagesSettings::resolve(Some(url.to_owned()), None, AwsEnv::from_process(), scratch)?;
    let unlimited = UnpackLimits {
        max_unpacked_bytes: u64::MAX,
        max_entries: usize::MAX,
    };
    settings.open(scratch, unlimited, None).await
}
