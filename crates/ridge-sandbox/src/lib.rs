//! Linux isolation of worker processes.
//!
//! Owns the mechanisms that confine a worker and end it: killing a worker's whole process group,
//! the resource limits (rlimits) a worker runs under, and an honest probe of what this host
//! offers ([`HostCapabilities`]) together with the list of protections this build really applies
//! ([`Protection`]). It does not start processes or speak the worker protocol (`ridge-runtime`
//! does). Namespaces, cgroup limits (v1 and v2) and seccomp come later; until then
//! [`HostCapabilities::protections`] reports them as not enforced.
//!
//! This is the one crate allowed `unsafe`; it needs none yet.

mod host;
mod process;
mod rlimits;

pub use host::{CgroupLayout, HostCapabilities, Protection, UserNamespaces};
pub use process::{kill_process_group, signal_name, wait_for_exit_without_reaping};
pub use rlimits::Rlimits;

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
}
