//! `ridge doctor`: what this host gives the sandbox and the runtimes, checked before a server
//! is started, with the one command or setting that fixes each missing piece. It builds the
//! same sandbox and runs the same runtime checks as `ridge serve` with the same flags, so what
//! it reports is what `GET /v1/info` would.

use std::path::Path;

use ridge_runtime::RuntimeAdapter;
use ridge_runtime_process::{ProcessAdapter, ProcessConfig};
use ridge_sandbox::{CgroupLayout, HostCapabilities, Protection, UserNamespaces};

use crate::config::Settings;

/// Below this much free space under the data directory, say so.
const LOW_DISK_BYTES: u64 = 1024 * 1024 * 1024;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub what: String,
    pub ok: bool,
    /// Not there because the operator turned it off (`sandbox.mode = "off"`): reported, not
    /// counted as missing.
    pub turned_off: bool,
    /// How it is there, or why not.
    pub detail: String,
    /// For a missing piece: what fixes it.
    pub fix: Option<String>,
}

/// Checks this host for `settings`. Every protection and runtime is listed, ok or not.
pub async fn examine(settings: &Settings) -> anyhow::Result<Vec<Finding>> {
    let root = nix::unistd::geteuid().is_root();
    // `ridge serve` run as root gives each package a tmpfs in its own mount namespace.
    let tmpfs = match root {
        true => Ok(settings.unpack_cache_size),
        false => Err("not root".to_owned()),
    };
    let sandbox = std::sync::Arc::new(crate::serve::build_sandbox(settings, tmpfs).await?);
    let host = sandbox.host().clone();
    let mut findings: Vec<Finding> = sandbox
        .protections()
        .into_iter()
        .map(|p| Finding {
            what: format!("sandbox: {}", p.protection),
            ok: p.enforced,
            turned_off: p.turned_off,
            fix: (!p.enforced && !p.turned_off).then(|| fix(p.protection, &host, &p.detail)),
            detail: p.detail,
        })
        .collect();
    let process = ProcessConfig {
        sandbox: Some(sandbox),
        // A check, not a server: no zygote left running behind it.
        zygote: false,
        ..ProcessConfig::default()
    };
    let runtimes = [
        (
            ProcessAdapter::python(settings.python.clone(), process.clone()),
            "install Python 3 (`apt-get install python3`), or name an interpreter with --python / `python`",
        ),
        (
            ProcessAdapter::nodejs(settings.node.clone(), process),
            "install Node.js (`apt-get install nodejs`), or name it with --node / `node`",
        ),
    ];
    for (adapter, remedy) in runtimes {
        let found = adapter.check().await.map_err(|e| e.to_string());
        findings.push(Finding {
            what: format!("runtime: {}", adapter.kind()),
            ok: found.is_ok(),
            turned_off: false,
            fix: found.is_err().then(|| remedy.to_owned()),
            detail: found.unwrap_or_else(|why| why),
        });
    }
    findings.push(disk(&settings.data_dir));
    Ok(findings)
}

/// What fixes a missing protection on this host.
fn fix(protection: Protection, host: &HostCapabilities, detail: &str) -> String {
    let bwrap_missing = detail.contains("bubblewrap") || detail.contains("bwrap");
    match protection {
        Protection::MemoryLimit | Protection::CpuLimit | Protection::PidsLimit => match &host
            .cgroup
        {
            CgroupLayout::None => {
                "mount the cgroup file system (`mount -t cgroup2 none /sys/fs/cgroup`)".to_owned()
            }
            CgroupLayout::V2 { .. } | CgroupLayout::Hybrid { .. } if !host.running_as_root => {
                "run Ridge as root, or under systemd with `Delegate=yes` so it gets a delegated cgroup subtree".to_owned()
            }
            _ if !host.running_as_root => {
                "run Ridge as root: cgroup v1 controllers are writable by root only".to_owned()
            }
            _ => format!(
                "enable the `{}` controller in the cgroup Ridge runs in (cgroup.subtree_control)",
                protection.name().trim_end_matches(" limit")
            ),
        },
        Protection::HiddenHostPaths => {
            "run `ridge serve` as root: it then mounts each package as a tmpfs of its own".to_owned()
        }
        Protection::Seccomp => "use a kernel built with CONFIG_SECCOMP_FILTER".to_owned(),
        _ if bwrap_missing => {
            "install bubblewrap (`apt-get install bubblewrap`), or name it with `[sandbox] bwrap`"
                .to_owned()
        }
        _ if host.user_namespaces == UserNamespaces::Disabled => {
            "allow user namespaces: `sysctl -w user.max_user_namespaces=15000`".to_owned()
        }
        _ => "see docs/sandbox.md for what this protection needs".to_owned(),
    }
}

/// Free space under the data directory (or the nearest directory above it that exists).
fn disk(data_dir: &Path) -> Finding {
    let what = format!("disk: {}", data_dir.display());
    let existing = data_dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(data_dir);
    match nix::sys::statvfs::statvfs(existing) {
        Ok(fs) => {
            let free = fs.blocks_available() * fs.fragment_size();
            let ok = free >= LOW_DISK_BYTES;
            Finding {
                what,
                ok,
                turned_off: false,
                detail: format!("{} MiB free", free / (1024 * 1024)),
                fix: (!ok).then(|| {
                    "free space there, or point --data-dir at a larger disk (packages, unpacked copies and SQLite live there)".to_owned()
                }),
            }
        }
        Err(e) => Finding {
            what,
            ok: false,
            turned_off: false,
            detail: format!("cannot read its file system: {e}"),
            fix: Some("create the data directory, or pass --data-dir".to_owned()),
        },
    }
}

impl Finding {
    /// Missing on this host (not there, and not turned off by the operator).
    pub fn missing(&self) -> bool {
        !self.ok && !self.turned_off
    }
}

/// The report as `ridge doctor` prints it.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let mark = match (f.ok, f.turned_off) {
            (true, _) => "ok     ",
            (false, true) => "OFF    ",
            (false, false) => "MISSING",
        };
        out.push_str(&format!("{mark} {}: {}\n", f.what, f.detail));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("        fix: {fix}\n"));
        }
    }
    let off = findings.iter().filter(|f| f.turned_off).count();
    if off > 0 {
        out.push_str(&format!(
            "THE SANDBOX IS OFF (sandbox.mode = \"off\"): {off} protection(s) turned off; workers \
             are plain processes of the server. Run only trusted functions, or set \
             sandbox.mode = \"refuse\".\n"
        ));
    }
    let missing = findings.iter().filter(|f| f.missing()).count();
    out.push_str(&match missing {
        0 => "Everything Ridge needs is here.\n".to_owned(),
        n => format!("{n} missing: functions may be refused or run with less isolation.\n"),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cgroup: CgroupLayout, root: bool, userns: UserNamespaces) -> HostCapabilities {
        HostCapabilities {
            cgroup,
            user_namespaces: userns,
            seccomp: true,
            running_as_root: root,
        }
    }

    #[test]
    fn each_missing_piece_names_its_fix() {
        let ns = UserNamespaces::Available { max: 100 };
        let none = host(CgroupLayout::None, true, ns);
        assert!(fix(Protection::MemoryLimit, &none, "").contains("mount -t cgroup2"));
        let user = host(
            CgroupLayout::V2 {
                controllers: vec![],
            },
            false,
            ns,
        );
        assert!(fix(Protection::CpuLimit, &user, "").contains("Delegate=yes"));
        let ok = host(
            CgroupLayout::V2 {
                controllers: vec![],
            },
            true,
            ns,
        );
        assert!(fix(Protection::PidsLimit, &ok, "").contains("`pids` controller"));
        let detail = "bubblewrap (`bwrap`) not found on PATH";
        assert!(fix(Protection::Namespaces, &ok, detail).contains("apt-get install bubblewrap"));
        let closed = host(CgroupLayout::None, true, UserNamespaces::Disabled);
        assert!(fix(Protection::Namespaces, &closed, "").contains("max_user_namespaces"));
    }

    #[test]
    fn the_report_marks_what_is_missing_and_counts_it() {
        let findings = [
            Finding {
                what: "sandbox: seccomp".into(),
                ok: true,
                turned_off: false,
                detail: "filters loaded".into(),
                fix: None,
            },
            Finding {
                what: "runtime: nodejs".into(),
                ok: false,
                turned_off: false,
                detail: "node not found".into(),
                fix: Some("install Node.js".into()),
            },
        ];
        let text = render(&findings);
        assert!(
            text.contains("ok      sandbox: seccomp: filters loaded\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "MISSING runtime: nodejs: node not found\n        fix: install Node.js\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("1 missing: functions may be refused or run with less isolation.\n")
        );
        assert!(disk(Path::new("/")).detail.ends_with("MiB free"));
    }

    #[test]
    fn protections_the_operator_turned_off_are_reported_but_not_missing() {
        let findings = [Finding {
            what: "sandbox: seccomp".into(),
            ok: false,
            turned_off: true,
            detail: "off by the operator's choice".into(),
            fix: None,
        }];
        assert!(!findings[0].missing());
        let text = render(&findings);
        assert!(
            text.starts_with("OFF     sandbox: seccomp: off by the operator's choice\n"),
            "{text}"
        );
        assert!(text.contains("THE SANDBOX IS OFF"), "{text}");
        assert!(
            text.ends_with("Everything Ridge needs is here.\n"),
            "{text}"
        );
    }
}
