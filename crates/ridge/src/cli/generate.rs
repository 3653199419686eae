//! `ridge generate completions|man DIR` (hidden): shell completions for bash, zsh and fish, and
//! man pages, rendered from the very clap definition this binary parses, so that what the Debian
//! package ships (`scripts/package-deb.sh` runs it on the binary it packages) cannot drift from
//! the CLI. A build script could not do this: the definition lives in the binary, not a library.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Write `ridge.bash`, `_ridge` (zsh) and `ridge.fish` into DIR (created if missing).
    Completions { dir: PathBuf },
    /// Write `ridge.1` and one page per subcommand (`ridge-serve.1`, `ridge-function-create.1`,
    /// ...) into DIR (created if missing).
    Man { dir: PathBuf },
}

/// Writes what `args` asks for, for `command` (the binary's whole CLI).
pub fn generate(args: GenerateArgs, mut command: clap::Command) -> anyhow::Result<()> {
    let dir = match &args.what {
        What::Completions { dir } | What::Man { dir } => dir,
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory `{}`", dir.display()))?;
    match args.what {
        What::Completions { dir } => {
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                let path = clap_complete::generate_to(shell, &mut command, "ridge", &dir)
                    .with_context(|| written(shell.to_string(), &dir))?;
                eprintln!("wrote {}", path.display());
            }
        }
        What::Man { dir } => {
            clap_mangen::generate_to(command, &dir).with_context(|| written("man pages", &dir))?;
            eprintln!("wrote the man pages into {}", dir.display());
        }
    }
    Ok(())
}

fn written(what: impl std::fmt::Display, dir: &Path) -> String {
    format!("cannot write the {what} into `{}`", dir.display())
}
