//! What this host offers for isolation.
//!
//! The probe only reads files (under a root path, so that tests can point it at a fake tree);
//! it changes nothing. What Ridge then really applies is [`crate::Sandbox::protections`], which
//! never reports a protection as enforced unless every worker gets it.

use std::fs;
use std::path::Path;

/// cgroup v1 controllers Ridge knows by name (a v1 hierarchy may combine several, as in
/// `cpu,cpuacct`). Named hierarchies such as `systemd` are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// How the host mounts cgroups under `/sys/fs/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupLayout {
    /// The unified hierarchy only; `controllers` lists `cgroup.controllers` of the root.
    V2 { controllers: Vec<String> },
    /// Legacy per-controller hierarchies only.
    V1 { controllers: Vec<String> },
    /// Legacy controller hierarchies plus a unified hierarchy at `/sys/fs/cgroup/unified`
    /// (systemd's hybrid mode); resource controllers live on the v1 side.
    Hybrid {
        v1_controllers: Vec<String>,
        v2_controllers: Vec<String>,
    },
    /// No cgroup filesystem found.
    None,
}

impl CgroupLayout {
    pub fn name(&self) -> &'static str {
        match self {
            CgroupLayout::V2 { .. } => "v2",
            CgroupLayout::V1 { .. } => "v1",
            CgroupLayout::Hybrid { .. } => "hybrid",
            CgroupLayout::None => "none",
        }
    }

    /// The hierarchy (`"v1"` or `"v2"`) that offers `controller`, if any.
    pub fn controller(&self, controller: &str) -> Option<&'static str> {
        let has = |list: &[String]| list.iter().any(|c| c == controller);
        match self {
            CgroupLayout::V2 { controllers } if has(controllers) => Some("v2"),
            CgroupLayout::V1 { controllers } if has(controllers) => Some("v1"),
            CgroupLayout::Hybrid { v1_controllers, .. } if has(v1_controllers) => Some("v1"),
            CgroupLayout::Hybrid { v2_controllers, .. } if has(v2_controllers) => Some("v2"),
            _ => None,
        }
    }

    fn probe(root: &Path) -> Self {
        let base = root.join("sys/fs/cgroup");
        if let Some(controllers) = read_v2_controllers(&base) {
            return CgroupLayout::V2 { controllers };
        }
        let v1_controllers = read_v1_controllers(&base);
        if v1_controllers.is_empty() {
            return CgroupLayout::None;
        }
        match read_v2_controllers(&base.join("unified")) {
            Some(v2_controllers) => CgroupLayout::Hybrid {
                v1_controllers,
                v2_controllers,
            },
            None => CgroupLayout::V1 {
                controllers: v1_controllers,
            },
        }
    }
}

/// The controllers of a v2 hierarchy mounted at `dir`, or `None` if there is none.
fn read_v2_controllers(dir: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(dir.join("cgroup.controllers")).ok()?;
    Some(text.split_whitespace().map(str::to_owned).collect())
}

/// The v1 controllers mounted below `base`: directories named after controllers that hold a
/// `cgroup.procs` file (an empty directory is not a mounted hierarchy).
fn read_v1_controllers(base: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(base) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .flatten()
        .filter(|entry| entry.path().join("cgroup.procs").is_file())
        .flat_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.split(',')
                .filter(|part| V1_CONTROLLERS.contains(part))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Whether the kernel lets Ridge create user namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserNamespaces {
    /// `/proc/sys/user/max_user_namespaces` is positive.
    Available { max: u64 },
    /// `/proc/sys/user/max_user_namespaces` is 0.
    Disabled,
    /// The file is missing or unreadable (an old kernel, or a restricted `/proc`).
    Unknown,
}

impl UserNamespaces {
    fn probe(root: &Path) -> Self {
        let path = root.join("proc/sys/user/max_user_namespaces");
        match fs::read_to_string(path).map(|t| t.trim().parse::<u64>()) {
            Ok(Ok(0)) => UserNamespaces::Disabled,
            Ok(Ok(max)) => UserNamespaces::Available { max },
            _ => UserNamespaces::Unknown,
        }
    }
}

/// What the host offers for isolating workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCapabilities {
    pub cgroup: CgroupLayout,
    pub user_namespaces: UserNamespaces,
    /// The kernel reports seccomp filter support (`/proc/sys/kernel/seccomp/actions_avail`).
    pub seccomp: bool,
    /// Ridge runs as root (workers then drop to the sandbox's unprivileged uid).
    pub running_as_root: bool,
}

impl HostCapabilities {
    /// Inspects this host.
    pub fn probe() -> Self {
        Self::probe_at(Path::new("/"))
    }

    /// Inspects a host whose filesystem is rooted at `root` (`/` in production; a fake tree in
    /// tests). Whether Ridge runs as root is always read from this process.
    pub fn probe_at(root: &Path) -> Self {
        Self {
            cgroup: CgroupLayout::probe(root),
            user_namespaces: UserNamespaces::probe(root),
            seccomp: root.join("proc/sys/kernel/seccomp/actions_avail").is_file(),
            running_as_root: nix::unistd::geteuid().is_root(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("tempdir");
        for (path, content) in files {
            let full: PathBuf = root.path().join(path);
            fs::create_dir_all(full.parent().expect("a file path has a parent")).expect("mkdir");
            fs::write(full, content).expect("write");
        }
        root
    }

    fn v1_mounts(names: &[&str]) -> Vec<(String, &'static str)> {
        names
            .iter()
            .map(|n| (format!("sys/fs/cgroup/{n}/cgroup.procs"), ""))
            .collect()
    }

    fn probe(files: &[(String, &str)]) -> HostCapabilities {
        let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
        let root = tree(&borrowed);
        HostCapabilities::probe_at(root.path())
    }

    #[test]
    fn detects_a_pure_v2_host() {
        let host = probe(&[(
            "sys/fs/cgroup/cgroup.controllers".into(),
            "cpuset cpu io memory pids\n",
        )]);
        assert_eq!(
            host.cgroup,
            CgroupLayout::V2 {
                controllers: ["cpuset", "cpu", "io", "memory", "pids"]
                    .map(String::from)
                    .to_vec()
            }
        );
        assert_eq!(host.cgroup.controller("memory"), Some("v2"));
    }

    #[test]
    fn detects_v1_with_combined_hierarchies_and_ignores_named_ones() {
        let host = probe(&v1_mounts(&["cpu,cpuacct", "memory", "pids", "systemd"]));
        assert_eq!(
            host.cgroup,
            CgroupLayout::V1 {
                controllers: ["cpu", "cpuacct", "memory", "pids"]
                    .map(String::from)
                    .to_vec()
            }
        );
    }

    #[test]
    fn empty_controller_directories_are_not_mounts() {
        let root = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(root.path().join("sys/fs/cgroup/memory")).expect("mkdir");
        let host = HostCapabilities::probe_at(root.path());
        assert_eq!(host.cgroup, CgroupLayout::None);
    }

    #[test]
    fn detects_hybrid_when_a_unified_mount_sits_beside_v1_controllers() {
        let mut files = v1_mounts(&["memory", "cpu", "systemd"]);
        files.push(("sys/fs/cgroup/unified/cgroup.controllers".into(), "\n"));
        let host = probe(&files);
        assert_eq!(
            host.cgroup,
            CgroupLayout::Hybrid {
                v1_controllers: vec!["cpu".into(), "memory".into()],
                v2_controllers: vec![],
            }
        );
        assert_eq!(host.cgroup.name(), "hybrid");
        assert_eq!(host.cgroup.controller("memory"), Some("v1"));
        assert_eq!(host.cgroup.controller("pids"), None);
    }

    #[test]
    fn detects_no_cgroups_and_unknown_namespaces_on_an_empty_tree() {
        let host = probe(&[]);
        assert_eq!(host.cgroup, CgroupLayout::None);
        assert_eq!(host.user_namespaces, UserNamespaces::Unknown);
        assert!(!host.seccomp);
    }

    #[test]
    fn reads_the_user_namespace_limit() {
        let on = probe(&[("proc/sys/user/max_user_namespaces".into(), "15000\n")]);
        assert_eq!(on.user_namespaces, UserNamespaces::Available { max: 15000 });
        let off = probe(&[("proc/sys/user/max_user_namespaces".into(), "0\n")]);
        assert_eq!(off.user_namespaces, UserNamespaces::Disabled);
    }
}
