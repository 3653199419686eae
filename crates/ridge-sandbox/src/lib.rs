//! Linux isolation of worker processes.
//!
//! Owns everything that confines a worker and ends it: the [`Sandbox`] (bubblewrap namespaces
//! and filesystem view, a user namespace and an unprivileged uid, seccomp, rlimits, cgroup v1
//! and v2 limits with whole-cgroup kill), an honest probe of what this host offers
//! ([`HostCapabilities`]) and the list of protections ([`Protection`]) with whether each is
//! really applied ([`Sandbox::protections`]), and the server's private mount namespace
//! ([`enter_private_mount_namespace`]). It does not speak the worker protocol or decide
//! when a worker dies (`ridge-runtime-process` and `ridge-engine` do). An operator may turn
//! the sandbox off for trusted code ([`Enforcement::Off`]): workers are then plain child
//! processes, and every protection but the rlimits and the cleared environment is reported as
//! turned off.
//!
//! This is the one crate allowed `unsafe`: the spawn of a worker's process and the hooks that
//! run in it before `exec` (`jail/spawn.rs`, `jail/preexec.rs`), waiting for and killing that
//! process (`child.rs`), `open_tree` and `move_mount` (`mountns.rs`), the helper task that
//! creates the user namespace (`userns.rs`), and the pidfd and namespace hooks of a worker's
//! outbound network (`jail/outbound.rs`). Each block says why it is sound.

mod cgroup;
#[expect(
    unsafe_code,
    reason = "pidfd_open, waitpid and kill of a worker's process"
)]
mod child;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
mod host;
mod jail;
#[expect(
    unsafe_code,
    reason = "open_tree and move_mount, to copy a package's mount"
)]
mod mountns;
mod path;
mod process;
mod rlimits;
mod seccomp;
mod slots;
mod uids;
#[expect(
    unsafe_code,
    reason = "the helper task that creates the user namespace"
)]
mod userns;

pub use cgroup::{CFS_PERIOD_US, CgroupLimits, Cgroups, Controller, Version, WorkerCgroup};
pub use child::WorkerProcess;
pub use host::{CgroupLayout, HostCapabilities, UserNamespaces};
pub use jail::{
    Enforcement, Jail, JailSpec, Network, PACKAGE_MOUNT, Protection, ProtectionStatus, Sandbox,
    SandboxConfig, WorkerCommand, ZygoteEntry,
};
pub use mountns::{enter_private_mount_namespace, private_mount_namespace};
pub use path::{SYSTEM_PATH, find_on_path, is_executable, shown_path};
pub use process::{kill_process_group, signal_name, wait_for_exit_without_reaping};
pub use rlimits::Rlimits;
pub use seccomp::denied_names;
pub use slots::{PackageSlot, PackageSlots};
pub use uids::UidRange;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot signal process group {pgid}")]
    Signal {
        pgid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("cannot wait for process {pid}")]
    Wait {
        pid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("process id {0} is out of range")]
    InvalidPid(u32),
    #[error("{0}")]
    Refused(String),
    #[error("cannot set up the cgroup of worker `{worker}`")]
    Cgroup {
        worker: String,
        #[source]
        source: std::io::Error,
    },
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("{0}")]
    Spawn(String),
    #[error("user namespace: {0}")]
    UserNamespace(String),
}
