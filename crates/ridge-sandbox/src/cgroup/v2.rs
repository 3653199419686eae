//! Setting up Ridge's cgroups on a v2 (unified) hierarchy: controllers enabled down
//! `<own>/<name>/server-<pid>`, Ridge moved into a `ridge-server` leaf first when its own cgroup
//! holds processes (a systemd service with `Delegate=yes`), and failures explained with their fix.

use std::fs;
use std::io;
use std::path::Path;

use super::{Controller, Hierarchy, OwnCgroups, Version, join_cgroup, sweep_stale, write};

pub(super) fn prepare_v2(
    mount: &Path,
    own: &OwnCgroups,
    name: &str,
    server: &str,
    controller: Controller,
) -> Result<Hierarchy, String> {
    let mut own_path = own.v2.clone().unwrap_or_else(|| "/".to_owned());
    // Moved there by an earlier server in this process.
    if let Some(parent) = own_path.strip_suffix("/ridge-server") {
        own_path = if parent.is_empty() {
            "/".to_owned()
        } else {
            parent.to_owned()
        };
    }
    let own_dir = join_cgroup(mount, &own_path);
    if let Some(available) = read_controllers(&own_dir)
        && !available.iter().any(|c| c == controller.name())
    {
        return Err(format!(
            "the {} controller is not available in Ridge's cgroup `{}` (its cgroup.controllers: \
             `{}`): {DELEGATE_HINT}",
            controller.name(),
            own_dir.display(),
            available.join(" ")
        ));
    }
    let enable = format!("+{}", controller.name());
    let enable_in = |dir: &Path| {
        write(dir, "cgroup.subtree_control", &enable)
            .map_err(|e| enable_failure(controller, dir, &e))
    };
    // v2 lets a cgroup other than the root hand controllers down only while it holds no
    // process: a delegated service's cgroup holds Ridge itself, so Ridge moves into a leaf of
    // its own first (systemd's advice for `Delegate=yes`). If the kernel still finds processes
    // (another one shares the cgroup), enabling fails with EBUSY and says so.
    let first_try = if own_path != "/" && holds_processes(&own_dir) {
        None
    } else {
        Some(write(&own_dir, "cgroup.subtree_control", &enable))
    };
    match first_try {
        Some(Ok(())) => {}
        Some(Err(e)) if own_path == "/" || e.raw_os_error() != Some(nix::libc::EBUSY) => {
            return Err(enable_failure(controller, &own_dir, &e));
        }
        _ => {
            let leaf = own_dir.join("ridge-server");
            fs::create_dir_all(&leaf)
                .map_err(|e| format!("cannot create `{}`: {e}; {DELEGATE_HINT}", leaf.display()))?;
            write(&leaf, "cgroup.procs", &std::process::id().to_string()).map_err(|e| {
                format!(
                    "cannot move Ridge into `{}`: {e}; {DELEGATE_HINT}",
                    leaf.display()
                )
            })?;
            enable_in(&own_dir)?;
        }
    }
    let ridge = own_dir.join(name);
    let parent = ridge.join(server);
    sweep_stale(&parent);
    for dir in [&ridge, &parent] {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        enable_in(dir)?;
    }
    Ok(Hierarchy {
        version: Version::V2,
        parent,
        controllers: vec![controller],
    })
}

/// What to do when Ridge's cgroup is not Ridge's to manage.
const DELEGATE_HINT: &str = "run Ridge as a systemd service with `Delegate=yes` (the Debian \
     package's ridge.service does), so that its cgroup is delegated to it";

/// The controllers `dir` can hand down (`cgroup.controllers`); `None` without the file.
fn read_controllers(dir: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(dir.join("cgroup.controllers")).ok()?;
    Some(text.split_whitespace().map(str::to_owned).collect())
}

/// Whether `dir`'s `cgroup.procs` lists a process.
fn holds_processes(dir: &Path) -> bool {
    fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|t| !t.trim().is_empty())
}

/// Why enabling `controller` in `dir` failed, with what fixes it.
pub(super) fn enable_failure(controller: Controller, dir: &Path, e: &io::Error) -> String {
    let c = controller.name();
    match e.raw_os_error() {
        Some(nix::libc::EACCES | nix::libc::EPERM | nix::libc::EROFS) => {
            format!(
                "cannot enable {c} in `{}`: {e}; {DELEGATE_HINT}",
                dir.display()
            )
        }
        Some(nix::libc::EBUSY) => format!(
            "cannot enable {c} in `{}`: other processes share Ridge's cgroup, and cgroup v2 hands \
             controllers down only from a cgroup without processes; start `ridge serve` as a \
             service of its own (ExecStart=, Delegate=yes) rather than beside other programs",
            dir.display()
        ),
        _ => format!("cannot enable {c} in `{}`: {e}", dir.display()),
    }
}
