//! The directory of one server's worker cgroups, and the sweep of those of servers that no
//! longer run.
//!
//! A pid names a process only within its PID namespace: two servers in PID namespaces of their
//! own (containers that share a cgroup tree, `ridge serve` under `unshare --pid`) may have the
//! same pid, and neither can tell whether the other's is alive. So a server outside the initial
//! PID namespace names its directory `server-<namespace inode>-<pid>`, and a server sweeps only
//! the directories of its own namespace: `server-<pid>` in the initial one, `server-<its
//! inode>-<pid>` elsewhere. (Those of a namespace that is gone are left: only its own servers
//! could judge them, and a container's cgroup usually goes with it.)

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Version, WorkerCgroup, is_cgroupfs};

/// The initial PID namespace's inode (`PROC_PID_INIT_INO`, fixed by the kernel).
const INITIAL_PID_NAMESPACE: u64 = 0xEFFF_FFFC;

/// This server's directory name: `server-<pid>`, or `server-<inode>-<pid>` outside the initial
/// PID namespace.
pub(super) fn dir_name() -> String {
    format!("{}{}", prefix(), std::process::id())
}

/// What the directory names of this PID namespace's servers start with.
fn prefix() -> String {
    match fs::metadata("/proc/self/ns/pid").map(|m| m.ino()) {
        Ok(inode) if inode != INITIAL_PID_NAMESPACE => format!("server-{inode}-"),
        _ => "server-".to_owned(),
    }
}

/// The pid in `name`, the directory of a server of the namespace whose names start with
/// `prefix`; `None` for anything else (another namespace's server included).
fn server_pid<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let pid = name.strip_prefix(prefix)?;
    (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(pid)
}

/// Kills and removes worker cgroups left by Ridge servers of this PID namespace that no longer
/// run (a crash), found beside `parent` (`.../server-<pid>`).
pub(super) fn sweep_stale(parent: &Path) {
    let Some(ridge) = parent.parent() else { return };
    let Ok(entries) = fs::read_dir(ridge) else {
        return;
    };
    let prefix = prefix();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = server_pid(&name, &prefix) else {
            continue;
        };
        if Path::new("/proc").join(pid).exists() || !is_cgroupfs(&entry.path()) {
            continue;
        }
        let server_dir = entry.path();
        for worker in fs::read_dir(&server_dir).into_iter().flatten().flatten() {
            if worker.path().is_dir() {
                let cg = WorkerCgroup {
                    dirs: vec![(Version::V1, worker.path())],
                    memory: None,
                    cpu: None,
                    freezer: None,
                    // Nothing is known of what a crashed server left there.
                    pid_namespace: false,
                };
                cg.kill();
                let _ = cg.remove();
            }
        }
        if fs::remove_dir(&server_dir).is_ok() {
            tracing::info!(cgroup = %server_dir.display(), "removed the cgroups of a Ridge server that no longer runs");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In the initial PID namespace (where the tests run), the name is `server-<pid>`.
    #[test]
    fn a_server_of_the_initial_namespace_keeps_its_plain_name() {
        let ours = fs::metadata("/proc/self/ns/pid").expect("ns").ino();
        if ours != INITIAL_PID_NAMESPACE {
            eprintln!("skipped: not in the initial PID namespace");
            return;
        }
        assert_eq!(dir_name(), format!("server-{}", std::process::id()));
    }

    /// Each namespace's sweep takes its own servers' directories only.
    #[test]
    fn a_sweep_takes_only_its_own_namespaces_servers() {
        let initial = "server-";
        let other = "server-4026532000-";
        assert_eq!(server_pid("server-12", initial), Some("12"));
        assert_eq!(server_pid("server-4026532000-2", initial), None);
        assert_eq!(server_pid("server-4026532000-2", other), Some("2"));
        assert_eq!(server_pid("server-12", other), None);
        for odd in ["server-", "server-x", "ridge-server", "server-12-"] {
            assert_eq!(server_pid(odd, initial), None, "{odd}");
        }
    }
}
