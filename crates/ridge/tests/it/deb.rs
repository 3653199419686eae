//! The Debian package (`scripts/package-deb.sh`, `deploy/debian/`), built from the binary these
//! tests run: its contents (files, modes, owners, conffiles, dependencies), `systemd-analyze
//! verify` on its unit, `dpkg -i`, then `ridge serve` started as `ridge.service` says
//! (`deb/as-the-unit.sh` makes by hand what systemd would: the hardening, the delegated cgroups,
//! the user and the environment) answering `/v1/info` with every protection enforced and
//! running a Python function, then `dpkg -r` (the configuration stays) and `dpkg -P` (the
//! configuration, data and user go). Needs root and dpkg (CI has both), else skipped; the
//! package is purged at the end even when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ridge_client::{FunctionUpload, RidgeClient};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::zip_files;

const CHECKOUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const AS_THE_UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/deb/as-the-unit.sh");
const UNIT: &str = "/usr/lib/systemd/system/ridge.service";
const CONFIG: &str = "/etc/ridge/ridge.toml";

/// Runs `command`, asserts it succeeded, returns its stdout.
fn run(command: &mut Command) -> String {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `owner:group mode` of an installed path.
fn stat(path: &str) -> String {
    run(Command::new("stat").args(["-c", "%U:%G %a", path]))
        .trim()
        .to_owned()
}

/// The service's cgroup in each hierarchy (as `as-the-unit.sh` makes them).
fn service_cgroups(name: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return vec![base.join(name)];
    }
    std::fs::read_dir(base)
        .map(|dirs| {
            dirs.flatten()
                .map(|d| d.path().join(name))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Kills what is left in `dir`'s cgroup tree and removes it, deepest first (bounded).
fn remove_cgroup_tree(dir: &Path) {
    let children: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    for child in children {
        remove_cgroup_tree(&child);
    }
    for _ in 0..200 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.split_whitespace().filter_map(|p| p.parse().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("cannot remove the cgroup `{}`", dir.display());
}

/// Leaves the machine as the test found it, whatever happened: the service's processes and
/// cgroups gone, the package purged (which removes the user, the data and the configuration).
struct Cleanup {
    cgroup: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for dir in service_cgroups(&self.cgroup) {
            remove_cgroup_tree(&dir);
        }
        if succeeds("dpkg", &["-s", "ridge"]) || succeeds("getent", &["passwd", "ridge"]) {
            let _ = Command::new("dpkg")
                .args(["--purge", "ridge"])
                .stdin(Stdio::null())
                .status();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_debian_package_installs_runs_as_its_unit_says_and_purges_cleanly() {
    if !nix::unistd::geteuid().is_root() || !succeeds("dpkg-deb", &["--version"]) {
        eprintln!("skipped: installing a Debian package needs root and dpkg");
        return;
    }
    assert!(
        !succeeds("dpkg", &["-s", "ridge"]) && !succeeds("getent", &["passwd", "ridge"]),
        "a `ridge` package or user is already on this host; this test installs and purges its \
         own: remove them first (`dpkg -P ridge`)"
    );
    let out = tempfile::tempdir().expect("tempdir");
    let deb = run(Command::new(format!("{CHECKOUT}/scripts/package-deb.sh"))
        .args(["--fast", "--binary", env!("CARGO_BIN_EXE_ridge"), "--out"])
        .arg(out.path()));
    let deb = deb.trim();
    let version = env!("CARGO_PKG_VERSION");
    let arch = run(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(
        Path::new(deb).file_name().and_then(|n| n.to_str()),
        Some(format!("ridge_{version}_{}.deb", arch.trim()).as_str())
    );
    check_contents(deb);

    let cleanup = Cleanup {
        cgroup: format!("ridge-deb-test-{}.service", std::process::id()),
    };
    run(Command::new("dpkg").args(["-i", deb]));
    let user = run(Command::new("getent").args(["passwd", "ridge"]));
    assert!(
        user.trim().ends_with(":/var/lib/ridge:/usr/sbin/nologin"),
        "a system user without a login shell: {user}"
    );
    assert_eq!(stat("/var/lib/ridge"), "ridge:ridge 700");
    assert_eq!(stat(CONFIG), "root:ridge 640", "it may hold secrets");
    verify_unit();

    run_as_the_unit(&cleanup.cgroup).await;

    // Removed: the configuration (a conffile), the data and the user stay; purged: all gone.
    run(Command::new("dpkg").args(["-r", "ridge"]));
    assert!(!Path::new("/usr/bin/ridge").exists() && !Path::new(UNIT).exists());
    assert!(
        Path::new(CONFIG).exists(),
        "dpkg -r keeps the configuration"
    );
    assert!(succeeds("getent", &["passwd", "ridge"]));
    run(Command::new("dpkg").args(["-P", "ridge"]));
    assert!(
        !Path::new("/etc/ridge").exists(),
        "dpkg -P removes /etc/ridge"
    );
    assert!(
        !Path::new("/var/lib/ridge").exists(),
        "dpkg -P removes the data"
    );
    assert!(
        !succeeds("getent", &["passwd", "ridge"]),
        "dpkg -P removes the user"
    );
    assert!(!succeeds("getent", &["group", "ridge"]), "and its group");
    assert!(!run(Command::new("dpkg-statoverride").arg("--list")).contains("ridge"));
    drop(cleanup);
}

/// `dpkg-deb -I` and `-c`: the control fields, the conffile, and every file with its mode.
fn check_contents(deb: &str) {
    let control = run(Command::new("dpkg-deb").args(["-f", deb]));
    let field = |name: &str| {
        control
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {control}"))
            .to_owned()
    };
    assert_eq!(field("Package"), "ridge");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    let depends = field("Depends");
    for needed in ["bubblewrap", "python3", "adduser", "libc6 (>= 2."] {
        assert!(depends.contains(needed), "Depends: {depends}");
    }
    assert_eq!(field("Recommends"), "nodejs, passt");
    let conffiles = run(Command::new("dpkg-deb").args(["-I", deb, "conffiles"]));
    assert_eq!(conffiles.trim(), CONFIG);
    let scripts = run(Command::new("dpkg-deb").args(["-I", deb]));
    for script in ["postinst", "prerm", "postrm"] {
        assert!(
            scripts.contains(&format!(" {script}")),
            "{script} missing: {scripts}"
        );
    }

    // `-rwxr-xr-x root/root 1234 2026-12-06 03:00 ./usr/bin/ridge`
    let listing = run(Command::new("dpkg-deb").args(["-c", deb]));
    let entries: Vec<(&str, &str, &str)> = listing
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6).then(|| (f[0], f[1], f[5]))
        })
        .collect();
    for (_, owner, path) in &entries {
        assert_eq!(*owner, "root/root", "{path}: owners are set on install");
    }
    assert_eq!(
        entries.first().map(|e| e.0),
        Some("drwxr-xr-x"),
        "the root `./`"
    );
    let mode = |path: &str| {
        entries
            .iter()
            .find(|(_, _, p)| *p == path)
            .map(|(m, _, _)| *m)
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{listing}"))
    };
    assert_eq!(mode("./usr/bin/ridge"), "-rwxr-xr-x");
    assert_eq!(mode("./etc/ridge/ridge.toml"), "-rw-r--r--");
    assert_eq!(mode("./var/lib/ridge/"), "drwx------");
    for file in [
        "./usr/lib/systemd/system/ridge.service",
        "./usr/share/bash-completion/completions/ridge",
        "./usr/share/zsh/vendor-completions/_ridge",
        "./usr/share/fish/vendor_completions.d/ridge.fish",
        "./usr/share/man/man1/ridge.1.gz",
        "./usr/share/man/man1/ridge-serve.1.gz",
        "./usr/share/man/man1/ridge-function-create.1.gz",
        "./usr/share/doc/ridge/copyright",
        "./usr/share/doc/ridge/install.md",
    ] {
        assert_eq!(mode(file), "-rw-r--r--", "{file}");
    }
    assert!(
        !listing.contains("ridge-generate"),
        "the hidden `generate` command has no page"
    );
}

/// `systemd-analyze verify` on the installed unit (the man page it names must exist, when
/// `man` is there to look).
fn verify_unit() {
    let man = if succeeds("man", &["--version"]) {
        "--man=yes"
    } else {
        "--man=no"
    };
    let out = Command::new("systemd-analyze")
        .args(["verify", man, UNIT])
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/test-deps.sh installs it)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify {UNIT}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ridge serve` as the unit starts it: it listens, every protection but the hidden host paths
/// (which need root) is enforced, limits included (the cgroups delegated to it), and it runs
/// a Python function.
async fn run_as_the_unit(cgroup: &str) {
    let mut child = tokio::process::Command::new(AS_THE_UNIT)
        // Port 0: other servers may use 7070 on this host (as `systemctl edit` would set it).
        .args([UNIT, cgroup, "RIDGE_LISTEN=127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("as-the-unit.sh");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = Vec::new();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(url) = line.strip_prefix("Ridge listening on ") {
                return url.trim().to_owned();
            }
            log.push(line);
        }
        panic!("the server exited before listening:\n{}", log.join("\n"));
    })
    .await
    .expect("the server listens within a minute");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let client = RidgeClient::new(&url).expect("client");
    let info = client.info().await.expect("GET /v1/info");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert!(
        info.store.ends_with(":/var/lib/ridge/ridge.db"),
        "the data directory of /etc/ridge/ridge.toml: {}",
        info.store
    );
    for p in &info.sandbox.protections {
        assert!(
            p.enforced || p.name == "hidden host paths",
            "not enforced under the unit: {p:?}"
        );
    }
    let runtime = client
        .create_runtime(&ridge_core::api::CreateRuntime {
            image: Some("python3".to_owned()),
            name: Some("python3".to_owned()),
            ..Default::default()
        })
        .await
        .expect("runtime created");
    let mut status = runtime.status;
    for _ in 0..400 {
        if status != "creating" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        status = client
            .get_runtime(&runtime.id)
            .await
            .expect("runtime")
            .status;
    }
    assert_eq!(status, "available");
    let source = "import os\ndef main(name, **kwargs):\n    return [name, os.getuid()]\n";
    let function = client
        .create_function(&FunctionUpload {
            name: Some("hello".to_owned()),
            runtime_id: Some(runtime.id.clone()),
            entry: Some("function.main".to_owned()),
            package: Some(zip_files(&[("function.py", source)]).into()),
            ..FunctionUpload::default()
        })
        .await
        .expect("function created");
    let execution = client
        .create_execution(&ridge_core::api::CreateExecution {
            function_id: Some(function.id.clone()),
            input: Some(serde_json::Value::String(r#"{"name": "deb"}"#.to_owned())),
            ..Default::default()
        })
        .await
        .expect("execution created");
    assert_eq!(execution.status, "success", "{execution:?}");
    let result: serde_json::Value =
        serde_json::from_str(execution.result.as_deref().unwrap_or("{}")).expect("result JSON");
    assert_eq!(result["output"][0], "deb", "{result}");
    let uid = run(Command::new("id").args(["-u", "ridge"]));
    assert_eq!(
        result["output"][1].to_string(),
        uid.trim(),
        "the worker runs as the ridge user"
    );

    // Stopped as systemd stops it: SIGTERM, then the server drains and exits 0.
    let pid = child.id().expect("running");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the server stops within a minute")
        .expect("wait");
    assert!(status.success(), "{status}");
}

/// `ridge generate` (hidden, for packagers): completions and man pages from the CLI's own
/// definition, and a clear failure where it cannot write.
#[test]
fn generate_writes_completions_and_man_pages_and_says_when_it_cannot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ridge = env!("CARGO_BIN_EXE_ridge");
    let completions = dir.path().join("completions");
    run(Command::new(ridge)
        .args(["generate", "completions"])
        .arg(&completions));
    for file in ["ridge.bash", "_ridge", "ridge.fish"] {
        let text = std::fs::read_to_string(completions.join(file)).expect(file);
        assert!(
            text.contains("migrate-only") && text.contains("function"),
            "{file} completes `serve` flags and the subcommands"
        );
    }
    let man = dir.path().join("man");
    run(Command::new(ridge).args(["generate", "man"]).arg(&man));
    let page = std::fs::read_to_string(man.join("ridge-serve.1")).expect("ridge-serve.1");
    assert!(page.contains("\n.TH ridge-serve 1 "), "{page}");
    assert!(page.contains("migrate\\-only"), "{page}");
    assert!(man.join("ridge-function-create.1").is_file());
    assert!(
        !man.join("ridge-generate.1").exists(),
        "the command is hidden"
    );
    let help = run(Command::new(ridge).arg("--help"));
    assert!(!help.contains("generate"), "hidden from --help: {help}");

    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "").expect("write");
    let out = Command::new(ridge)
        .args(["generate", "man"])
        .arg(blocked.join("man"))
        .output()
        .expect("ridge");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: cannot create the directory") && stderr.contains("a-file/man"),
        "{stderr}"
    );
}
