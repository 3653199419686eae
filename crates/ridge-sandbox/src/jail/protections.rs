//! The honest report of what the sandbox enforces on this host, and whether functions may run.
//!
//! Every [`Protection`] is listed, enforced or not, with how: `GET /v1/info` and the start-up
//! log show the list as it is, and [`Sandbox::refusal`] refuses to run functions while one is
//! missing (unless the operator chose `degraded`).

use std::fmt;

use crate::cgroup::Controller;
use crate::seccomp;

use super::{Enforcement, Network, PACKAGE_MOUNT, Sandbox};

/// One protection the sandbox gives every worker, where this host allows it.
///
/// Its [`name`](Protection::name) is stable: `GET /v1/info` reports it, operators and clients
/// match on it. [`Protection::ALL`] is the order of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protection {
    /// New user, PID, mount, network, IPC, UTS and cgroup namespaces (bubblewrap).
    Namespaces,
    /// An unprivileged uid, no capabilities, `no_new_privs`.
    UnprivilegedUser,
    /// A read-only root with only what the worker needs, and a private `/tmp`.
    FilesystemView,
    /// Loopback only, unless the operator grants the host's network.
    NetworkIsolation,
    /// The seccomp programs.
    Seccomp,
    /// `RLIMIT_NOFILE`, `RLIMIT_CORE`, `RLIMIT_FSIZE`.
    Rlimits,
    /// The cgroup memory controller.
    MemoryLimit,
    /// The cgroup cpu controller.
    CpuLimit,
    /// The cgroup pids controller.
    PidsLimit,
    /// Every process of a worker dies with it.
    ProcessTreeKill,
    /// Workers get only the variables their runtime sets.
    ClearedEnvironment,
    /// No mount a worker sees names the data directory: the package is a file system of its
    /// own. Reported, never a reason to refuse (it hides a name; it grants no access).
    HiddenHostPaths,
}

impl Protection {
    /// Every protection, in the order of the report.
    pub const ALL: [Protection; 12] = [
        Protection::Namespaces,
        Protection::UnprivilegedUser,
        Protection::FilesystemView,
        Protection::NetworkIsolation,
        Protection::Seccomp,
        Protection::Rlimits,
        Protection::MemoryLimit,
        Protection::CpuLimit,
        Protection::PidsLimit,
        Protection::ProcessTreeKill,
        Protection::ClearedEnvironment,
        Protection::HiddenHostPaths,
    ];

    /// The stable name, as `GET /v1/info` and the start-up log show it.
    pub fn name(self) -> &'static str {
        match self {
            Protection::Namespaces => "namespaces",
            Protection::UnprivilegedUser => "unprivileged user",
            Protection::FilesystemView => "filesystem view",
            Protection::NetworkIsolation => "network isolation",
            Protection::Seccomp => "seccomp",
            Protection::Rlimits => "rlimits",
            Protection::MemoryLimit => "memory limit",
            Protection::CpuLimit => "cpu limit",
            Protection::PidsLimit => "pids limit",
            Protection::ProcessTreeKill => "process tree kill",
            Protection::ClearedEnvironment => "cleared environment",
            Protection::HiddenHostPaths => "hidden host paths",
        }
    }

    /// The protection called `name` (as `GET /v1/info` reports it); `None` for a name this
    /// build does not know, such as one a newer server added.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One protection, and whether this sandbox applies it to every worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectionStatus {
    pub protection: Protection,
    pub enforced: bool,
    /// Not applied because the operator turned the sandbox off (`sandbox.mode = "off"`), as
    /// opposed to this host not offering it.
    pub turned_off: bool,
    /// How it is applied, or why not.
    pub detail: String,
}

impl Sandbox {
    /// Every protection, whether it is enforced on this host, and how.
    pub fn protections(&self) -> Vec<ProtectionStatus> {
        Protection::ALL
            .into_iter()
            .map(|protection| {
                if self.is_off()
                    && let Some(detail) = off_status(protection)
                {
                    return ProtectionStatus {
                        protection,
                        enforced: false,
                        turned_off: true,
                        detail,
                    };
                }
                let (enforced, detail) = self.status(protection);
                ProtectionStatus {
                    protection,
                    enforced,
                    turned_off: false,
                    detail,
                }
            })
            .collect()
    }

    /// `None` if functions may run; otherwise why not (enforcement is `refuse` and a protection
    /// cannot be applied).
    pub fn refusal(&self) -> Option<String> {
        if matches!(
            self.config.enforcement,
            Enforcement::Degraded | Enforcement::Off
        ) {
            return None;
        }
        let granted_network = self.config.network == Network::Host;
        let missing: Vec<String> = self
            .protections()
            .into_iter()
            // An operator's network grant is not a missing protection, and a host path shown
            // in a worker's mount table is a name, not access: reported, never refused for.
            .filter(|p| {
                let granted = p.protection == Protection::NetworkIsolation && granted_network;
                !p.enforced && !granted && p.protection != Protection::HiddenHostPaths
            })
            .map(|p| format!("{} ({})", p.protection, p.detail))
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "the sandbox cannot apply every protection on this host and sandbox.mode is \
                 `refuse`; set sandbox.mode = \"degraded\" to run functions anyway. Missing: {}",
                missing.join("; ")
            )
        })
    }

    /// Whether `protection` is enforced, and how (or why not).
    fn status(&self, protection: Protection) -> (bool, String) {
        let isolated = self.isolation.is_ok();
        let c = &self.config;
        match protection {
            Protection::Namespaces => match &self.isolation {
                Ok(i) => (
                    true,
                    format!(
                        "every worker gets new user, PID, mount, network, IPC, UTS and cgroup \
                         namespaces ({} at {})",
                        i.version,
                        i.bwrap.display()
                    ),
                ),
                Err(why_not) => (false, format!("not applied: {why_not}")),
            },
            Protection::UnprivilegedUser => (
                isolated,
                match (isolated, self.host.running_as_root) {
                    (true, true) => format!(
                        "each worker runs as a uid of its own ({} to {}) in a user namespace of \
                         its own, and gid {} on the host, with no capabilities and no_new_privs \
                         (dropped to by {}); per-user kernel limits (inotify, ...) are charged \
                         to that uid",
                        c.uids.first,
                        (u64::from(c.uids.first) + u64::from(c.uids.count)).saturating_sub(1),
                        c.gid,
                        self.isolation
                            .as_ref()
                            .ok()
                            .and_then(|i| i.dropper.as_ref())
                            .map_or_else(|| "nothing".to_owned(), |d| d.describe()),
                    ),
                    (true, false) => format!(
                        "workers run as Ridge's own uid {} inside their user namespace, with no \
                         capabilities and no_new_privs",
                        nix::unistd::geteuid()
                    ),
                    (false, true) => "not applied: workers run as root, like Ridge".to_owned(),
                    (false, false) => "not applied: workers run as Ridge's own user".to_owned(),
                },
            ),
            Protection::FilesystemView => (
                isolated,
                if isolated {
                    format!(
                        "read-only: /usr, a few files of /etc, the interpreter's prefix and the \
                         package at {PACKAGE_MOUNT}; a private {} MiB /tmp; a fresh /proc; a \
                         minimal /dev. The data directory, /root, /home and /etc/shadow are not \
                         visible",
                        c.tmp_size / (1024 * 1024)
                    )
                } else {
                    "not applied: workers see the host's whole filesystem with their user's \
                     permissions"
                        .to_owned()
                },
            ),
            Protection::NetworkIsolation => (
                isolated && c.network != Network::Host,
                match (isolated, c.network) {
                    (true, Network::Loopback | Network::Outbound) => match &self.outbound {
                        Ok(_) => "loopback only; a function granted outbound network gets its \
                                  own namespace behind pasta, without the host's loopback or \
                                  link-local addresses"
                            .to_owned(),
                        Err(reason) => format!(
                            "loopback only; functions granted outbound network are refused: \
                             {reason}"
                        ),
                    },
                    (_, Network::Host) => "granted: sandbox.network = \"host\" gives every \
                                           function the host's network"
                        .to_owned(),
                    (false, _) => "not applied: workers share the host's network".to_owned(),
                },
            ),
            Protection::Seccomp => (
                isolated,
                match (&self.seccomp, isolated) {
                    (Ok(_), true) => format!(
                        "denied with EPERM: {}; clone with namespace flags too; every x32 system call",
                        seccomp::denied_names().join(", ")
                    ),
                    (Err(e), _) => format!("not applied: {e}"),
                    (Ok(_), false) => "not applied: bubblewrap installs the filter".to_owned(),
                },
            ),
            Protection::Rlimits => (
                true,
                format!(
                    "RLIMIT_NOFILE {}, RLIMIT_CORE {}, RLIMIT_FSIZE {} (soft = hard), set \
                     before the worker starts",
                    c.rlimits.nofile, c.rlimits.core, c.rlimits.fsize
                ),
            ),
            Protection::MemoryLimit => {
                self.controller_status(Controller::Memory, "memory_size, swap off")
            }
            Protection::CpuLimit => self.controller_status(Controller::Cpu, "cpu as a CFS quota"),
            Protection::PidsLimit => {
                self.controller_status(Controller::Pids, &format!("a pids limit of {}", c.pids))
            }
            Protection::ProcessTreeKill => {
                let kill = self.cgroups.can_kill();
                (
                    kill || isolated,
                    match (kill, isolated) {
                        (true, _) => "on timeout or discard, every process in the worker's \
                                      cgroup is killed (v2 cgroup.kill, or freeze + kill)"
                            .to_owned(),
                        (false, true) => "on timeout or discard, the worker's PID namespace is \
                                          ended with it (no cgroup freezer or cgroup.kill on \
                                          this host)"
                            .to_owned(),
                        (false, false) => "not applied: only the worker's process group is \
                                           killed; a process that calls setsid() escapes"
                            .to_owned(),
                    },
                )
            }
            Protection::ClearedEnvironment => (
                true,
                "workers get only the variables their runtime sets".to_owned(),
            ),
            Protection::HiddenHostPaths => match (&c.package_tmpfs, isolated) {
                (Ok(cache), true) => (
                    true,
                    format!(
                        "each unpacked package is a tmpfs of its own in Ridge's private mount \
                         namespace (an unpack cache of {} MiB), so no mount a worker sees names \
                         the data directory",
                        cache / (1024 * 1024)
                    ),
                ),
                (Err(why_not), true) => (
                    false,
                    format!(
                        "not applied: {why_not}; a worker's /proc/self/mountinfo shows the \
                         path of its package in the data directory"
                    ),
                ),
                (_, false) => (
                    false,
                    "not applied: workers see the host's whole filesystem".to_owned(),
                ),
            },
        }
    }

    /// What the operator's `sandbox.mode = "off"` leaves: the names of the protections turned
    /// off, for the start-up warning.
    pub fn turned_off(&self) -> Vec<&'static str> {
        self.protections()
            .into_iter()
            .filter(|p| p.turned_off)
            .map(|p| p.protection.name())
            .collect()
    }

    /// A cgroup limit: which hierarchy applies `what`, or why none does.
    fn controller_status(&self, controller: Controller, what: &str) -> (bool, String) {
        match self.cgroups.version_of(controller) {
            Some(v) => (
                true,
                format!(
                    "cgroup {} {} controller: {what}",
                    v.name(),
                    controller.name()
                ),
            ),
            None => {
                let why = self.cgroups.why_missing(controller).unwrap_or("not set up");
                let fallback = if controller == Controller::Memory {
                    "; fallback: RLIMIT_AS of memory_size + 64 MiB (address space, coarse; not \
                     for Node.js, whose V8 reserves far more than it uses)"
                } else {
                    ""
                };
                (false, format!("not applied: {why}{fallback}"))
            }
        }
    }
}

/// With `sandbox.mode = "off"`: how `protection` stands, or `None` for the ones that still
/// apply to a plain process (rlimits, the cleared environment), reported as usual.
fn off_status(protection: Protection) -> Option<String> {
    let what = match protection {
        Protection::Rlimits | Protection::ClearedEnvironment => return None,
        Protection::Namespaces => "workers are plain child processes of the server",
        Protection::UnprivilegedUser => "workers run as Ridge's own user",
        Protection::FilesystemView => {
            "workers see the host's whole filesystem with Ridge's permissions, their package \
             where it is unpacked"
        }
        Protection::NetworkIsolation => "workers share the host's network",
        Protection::Seccomp => "no system call is filtered",
        Protection::MemoryLimit => "memory_size is not enforced",
        Protection::CpuLimit => "cpu is not enforced",
        Protection::PidsLimit => "a worker may start any number of processes",
        Protection::ProcessTreeKill => {
            "on timeout or discard only the worker's process group is killed; a process that \
             calls setsid() escapes"
        }
        Protection::HiddenHostPaths => "workers see the data directory's path",
    };
    Some(format!("{}: {what}", super::OFF_REASON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rlimits, SandboxConfig};

    /// The names are an interface: `GET /v1/info` shows them in this order, and clients match
    /// on them.
    #[test]
    fn names_and_order_are_stable() {
        let names = Protection::ALL.map(Protection::name);
        assert_eq!(
            names,
            [
                "namespaces",
                "unprivileged user",
                "filesystem view",
                "network isolation",
                "seccomp",
                "rlimits",
                "memory limit",
                "cpu limit",
                "pids limit",
                "process tree kill",
                "cleared environment",
                "hidden host paths",
            ]
        );
        for p in Protection::ALL {
            assert_eq!(Protection::from_name(p.name()), Some(p));
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!(Protection::from_name("a protection from the future"), None);
    }

    #[test]
    fn an_unconfined_sandbox_says_so_and_degraded_runs() {
        let sandbox = Sandbox::unconfined(Rlimits::default());
        assert!(sandbox.refusal().is_none());
        let list = sandbox.protections();
        let listed: Vec<Protection> = list.iter().map(|p| p.protection).collect();
        assert_eq!(listed, Protection::ALL);
        let enforced: Vec<Protection> = list
            .iter()
            .filter(|p| p.enforced)
            .map(|p| p.protection)
            .collect();
        assert_eq!(
            enforced,
            [Protection::Rlimits, Protection::ClearedEnvironment]
        );
        let refusing = Sandbox {
            config: SandboxConfig::default(),
            ..Sandbox::unconfined(Rlimits::default())
        };
        let reason = refusing.refusal().expect("refuses");
        assert!(reason.contains("namespaces (not applied"), "{reason}");
        assert!(reason.contains("memory limit"), "{reason}");
        // Reported as missing, but a name shown is no reason to run nothing.
        let hidden = refusing
            .protections()
            .into_iter()
            .find(|p| p.protection == Protection::HiddenHostPaths)
            .expect("listed");
        assert!(!hidden.enforced, "{hidden:?}");
        assert!(!reason.contains("hidden host paths"), "{reason}");
    }

    #[test]
    fn an_off_sandbox_runs_plain_processes_and_says_each_protection_is_turned_off() {
        let config = SandboxConfig {
            enforcement: Enforcement::Off,
            // Not looked for: nothing is probed when the sandbox is off.
            bwrap: Some("/nonexistent/bwrap".into()),
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::new(config, crate::HostCapabilities::probe());
        assert!(sandbox.is_off());
        assert_eq!(sandbox.refusal(), None);
        assert_eq!(sandbox.outbound_network(), Ok(()));
        assert!(!sandbox.pid_namespace() && !sandbox.memory_cgroup());
        for p in sandbox.protections() {
            let kept = matches!(
                p.protection,
                Protection::Rlimits | Protection::ClearedEnvironment
            );
            assert_eq!(p.enforced, kept, "{p:?}");
            assert_eq!(p.turned_off, !kept, "{p:?}");
            if !kept {
                assert!(
                    p.detail.starts_with("off by the operator's choice"),
                    "{p:?}"
                );
            }
        }
        assert_eq!(sandbox.turned_off().len(), Protection::ALL.len() - 2);

        let package = tempfile::tempdir().expect("tempdir");
        let spec = crate::JailSpec {
            name: "plain-1",
            program: std::path::Path::new("/bin/true"),
            args: vec!["x".into()],
            env: &[("PATH", "/usr/bin")],
            package_dir: package.path(),
            read_only: &[],
            memory_bytes: 64 << 20,
            address_space_limit: true,
            cpu_millicores: 100,
            startup_allowance: true,
            network: Network::Outbound,
            keep_fds: &[],
            await_socket: None,
        };
        let (command, mut jail) = sandbox.command(&spec).expect("a plain command");
        assert_eq!(command.get_program(), "/bin/true");
        assert_eq!(command.get_current_dir(), package.path());
        let envs: Vec<_> = command.get_envs().collect();
        assert_eq!(envs, [("PATH".as_ref(), "/usr/bin".as_ref())]);
        assert!(jail.is_plain() && jail.kill_handle().is_none());
        assert_eq!(jail.package_path(), package.path());
        // A pre-started plain worker is told where its function's package is.
        jail.assign("plain-2", 1 << 30, 500, false)
            .expect("no limits to set");
        jail.show_package_at(std::path::Path::new("/elsewhere"))
            .expect("plain");
        assert_eq!(jail.package_path(), std::path::Path::new("/elsewhere"));
    }

    #[test]
    fn a_network_grant_is_not_a_missing_protection() {
        let granted = Sandbox {
            config: SandboxConfig {
                network: Network::Host,
                ..SandboxConfig::default()
            },
            ..Sandbox::unconfined(Rlimits::default())
        };
        let reason = granted.refusal().expect("refuses: nothing is isolated");
        assert!(!reason.contains("network isolation"), "{reason}");
        assert!(reason.contains("namespaces (not applied"), "{reason}");
    }
}
