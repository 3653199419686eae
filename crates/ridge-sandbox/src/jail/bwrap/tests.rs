//! Tests of the bubblewrap command line: its full text as snapshots, and the rules of its order.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use super::*;
use crate::UidRange;

/// A representative worker: a runtime kind whose interpreter lives under `/root` and whose
/// directory is in a checkout under `/tmp` (the case of commit a4d7d16), plus a path under
/// `/usr` that needs no mount of its own.
fn worker<'a>(read_only: &'a [PathBuf], network: Network) -> JailSpec<'a> {
    JailSpec {
        name: "worker-1",
        program: Path::new("/root/.pyenv/versions/3.11.7/bin/python3"),
        args: [
            "-I",
            "-S",
            "-B",
            "/tmp/checkout/runtimes/py/worker.py",
            "worker-1",
        ]
        .map(OsString::from)
        .to_vec(),
        env: &[],
        package_dir: Path::new("/var/lib/ridge/packages/unpacked/3f2a9c"),
        read_only,
        memory_bytes: 32 * 1024 * 1024,
        address_space_limit: true,
        cpu_millicores: 100,
        startup_allowance: true,
        network,
        keep_fds: &[3, 4],
        await_socket: None,
    }
}

fn runtime_dirs() -> Vec<PathBuf> {
    [
        "/root/.pyenv/versions/3.11.7",
        "/tmp/checkout/runtimes/py",
        "/usr/local/lib/python3.11",
    ]
    .map(PathBuf::from)
    .to_vec()
}

/// A merged-`/usr` host (Debian 12, Ubuntu 22.04): every system directory is a link.
fn merged_usr() -> Vec<(&'static str, Option<PathBuf>)> {
    [
        ("/bin", "usr/bin"),
        ("/sbin", "usr/sbin"),
        ("/lib", "usr/lib"),
        ("/lib64", "usr/lib64"),
    ]
    .map(|(dir, target)| (dir, Some(PathBuf::from(target))))
    .to_vec()
}

/// `setpriv` as the dropper: a command line that does not depend on a descriptor's number.
/// The helper's is tested in `privdrop.rs` and by the root-mode test below.
static SETPRIV: LazyLock<Dropper> =
    LazyLock::new(|| Dropper::Setpriv(PathBuf::from("/usr/bin/setpriv")));

/// The plan `Sandbox::bwrap_command` makes for `purpose` with the default settings, in root
/// mode (Ridge as a system service), on a merged-`/usr` host.
fn plan<'a>(purpose: Purpose<'a>, config: &'a SandboxConfig) -> BwrapPlan<'a> {
    BwrapPlan {
        purpose,
        config,
        dropper: Some(&SETPRIV),
        uid: UidRange::DEFAULT.first,
        userns_fd: None,
        system_dirs: merged_usr(),
        package_source: package_of(purpose),
    }
}

/// Where a worker started from the server's own namespace finds its package: where it is.
fn package_of(purpose: Purpose<'_>) -> Option<PathBuf> {
    match purpose {
        Purpose::Worker(spec) => Some(spec.package_dir.to_owned()),
        Purpose::Probe { .. } => None,
    }
}

const SECCOMP_FDS: [RawFd; 2] = [5, 6];
const OPTIONS_FD: RawFd = 7;

/// One line per option with its operands: an argument that does not start with `--` stays on
/// the line of the one before it.
fn lines(args: &[OsString]) -> String {
    let mut out = String::new();
    for arg in args {
        let arg = arg.to_string_lossy();
        if !out.is_empty() {
            out.push(if arg.starts_with("--") { '\n' } else { ' ' });
        }
        out.push_str(&arg);
    }
    out
}

/// The whole invocation: bubblewrap's own command line, then the options its pipe carries.
fn invocation(plan: &BwrapPlan<'_>) -> String {
    format!(
        "bwrap\n{}\n\n# options, through the pipe at fd {OPTIONS_FD}:\n{}\n",
        lines(&plan.argv(OPTIONS_FD)),
        lines(&plan.options(&SECCOMP_FDS)),
    )
}

fn joined(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_worker_without_network() {
    let dirs = runtime_dirs();
    let spec = worker(&dirs, Network::Loopback);
    let config = SandboxConfig::default();
    insta::assert_snapshot!(invocation(&plan(Purpose::Worker(&spec), &config)));
}

#[test]
fn a_worker_granted_the_network() {
    let dirs = runtime_dirs();
    let spec = worker(&dirs, Network::Host);
    let config = SandboxConfig::default();
    insta::assert_snapshot!(invocation(&plan(Purpose::Worker(&spec), &config)));
}

/// bubblewrap's malloc settings stay bubblewrap's: unset before the worker starts, unless the
/// worker's own environment sets the variable (a runtime kind's `env`), which then wins.
#[test]
fn malloc_tunables_are_unset_for_the_worker_unless_its_own() {
    let dirs = runtime_dirs();
    let config = SandboxConfig::default();
    let spec = worker(&dirs, Network::Loopback);
    let unset = format!("--unsetenv {}", MALLOC_TUNABLES.0);
    let options = joined(&plan(Purpose::Worker(&spec), &config).options(&SECCOMP_FDS));
    assert!(tunes_malloc(&spec));
    assert!(options.contains(&unset), "{options}");

    let env = [(MALLOC_TUNABLES.0, "glibc.malloc.arena_max=1")];
    let own = JailSpec {
        env: &env,
        ..worker(&dirs, Network::Loopback)
    };
    let options = joined(&plan(Purpose::Worker(&own), &config).options(&SECCOMP_FDS));
    assert!(!tunes_malloc(&own));
    assert!(!options.contains(&unset), "{options}");
}

/// Where each mount of `options` lands, in order. `--dir`, `--perms`, `--chdir` and
/// `--remount-ro` mount nothing.
fn mount_points(options: &[OsString]) -> Vec<PathBuf> {
    let mut points = Vec::new();
    let mut rest = options.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(option) = rest.next() {
        let operands = match option.as_str() {
            "--ro-bind" | "--ro-bind-try" | "--bind" | "--symlink" => 2,
            "--tmpfs" | "--proc" | "--dev" => 1,
            _ => continue,
        };
        let target = rest.nth(operands - 1).expect("the option has its operands");
        points.push(PathBuf::from(target));
    }
    points
}

/// bubblewrap mounts in order, so a mount at or above an earlier one hides it: the bug that
/// commit a4d7d16 fixed (the private /tmp, mounted last, hid a runtime directory under /tmp).
#[test]
fn no_mount_hides_an_earlier_one() {
    let dirs = runtime_dirs();
    let spec = worker(&dirs, Network::Loopback);
    let config = SandboxConfig::default();
    let points = mount_points(&plan(Purpose::Worker(&spec), &config).options(&SECCOMP_FDS));
    assert!(points.contains(&PathBuf::from("/tmp/checkout/runtimes/py")));
    for (i, earlier) in points.iter().enumerate() {
        for later in &points[i + 1..] {
            assert!(
                !earlier.starts_with(later),
                "`{}` is mounted after `{}` and hides it: {points:?}",
                later.display(),
                earlier.display()
            );
        }
    }
}

#[test]
fn the_private_tmp_comes_before_a_read_only_path_under_tmp() {
    let dirs = [PathBuf::from("/tmp/checkout/runtimes/perl")];
    let spec = worker(&dirs, Network::Loopback);
    let config = SandboxConfig::default();
    let args = joined(&plan(Purpose::Worker(&spec), &config).options(&SECCOMP_FDS));
    let tmpfs = args.find("--tmpfs /tmp").expect("private /tmp");
    let bind = args
        .find("--ro-bind /tmp/checkout/runtimes/perl /tmp/checkout/runtimes/perl")
        .expect("the directory is bound");
    assert!(tmpfs < bind, "the tmpfs would hide the directory: {args}");
}

/// Started from the spawn namespace, the worker's copy of its package is attached over the
/// package's parent directory there, and that is what bubblewrap shows at `/function`.
#[test]
fn from_the_spawn_namespace_the_package_is_bound_from_where_its_copy_is_attached() {
    let spec = worker(&[], Network::Loopback);
    let config = SandboxConfig::default();
    let mut plan = plan(Purpose::Worker(&spec), &config);
    plan.package_source = Some(PathBuf::from("/var/lib/ridge/packages/unpacked"));
    let args = joined(&plan.options(&SECCOMP_FDS));
    assert!(
        args.contains("--ro-bind /var/lib/ridge/packages/unpacked /function --proc"),
        "{args}"
    );
    assert!(!args.contains("3f2a9c"), "{args}");
}

#[test]
fn the_command_line_denies_by_default() {
    let prefixes = [
        PathBuf::from("/root/.pyenv/versions/3.11.7"),
        PathBuf::from("/usr/local"),
    ];
    let spec = worker(&prefixes, Network::Loopback);
    let config = SandboxConfig {
        tmp_size: 1024,
        ..SandboxConfig::default()
    };
    let mut plan = plan(Purpose::Worker(&spec), &config);
    plan.system_dirs = vec![("/lib", Some(PathBuf::from("usr/lib"))), ("/sbin", None)];
    let args = joined(&plan.options(&[7, 8]));
    for expected in [
        "--die-with-parent --new-session",
        "--unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try --unshare-net",
        "--ro-bind /usr /usr --symlink usr/lib /lib --ro-bind /sbin /sbin",
        "--size 1024 --perms 1777 --tmpfs /tmp --perms 0755 --dir /root --perms 0755 --dir \
         /root/.pyenv --perms 0755 --dir /root/.pyenv/versions --ro-bind \
         /root/.pyenv/versions/3.11.7 /root/.pyenv/versions/3.11.7",
        "--ro-bind /var/lib/ridge/packages/unpacked/3f2a9c /function --proc /proc --dev /dev \
         --chdir /function",
        "--perms 0755 --dir /etc --ro-bind-try /etc/ld.so.cache /etc/ld.so.cache",
        "--add-seccomp-fd 7 --add-seccomp-fd 8 --remount-ro /",
    ] {
        assert!(args.contains(expected), "missing `{expected}` in {args}");
    }
    assert!(!args.contains("/usr/local"), "under /usr already: {args}");
    assert!(!args.contains("/etc/passwd") && !args.contains("/etc/shadow"));
    assert!(!args.contains("/home"));
    assert!(args.ends_with("--remount-ro /"));
}

#[test]
fn the_probe_mounts_no_package_and_unprivileged_mode_is_explicit() {
    let config = SandboxConfig::default();
    let mut plan = plan(
        Purpose::Probe {
            program: Path::new("/usr/bin/true"),
        },
        &config,
    );
    plan.dropper = None;
    let args = joined(&plan.options(&SECCOMP_FDS));
    assert!(args.contains("--unshare-user"));
    assert!(args.contains("--unshare-net"));
    assert!(!args.contains("--cap-add"));
    assert!(!args.contains(PACKAGE_MOUNT), "{args}");
    assert_eq!(joined(&plan.argv(OPTIONS_FD)), "--args 7 -- /usr/bin/true");
}

#[test]
fn the_server_wide_network_grant_reaches_every_worker_and_the_probe() {
    let config = SandboxConfig {
        network: Network::Host,
        ..SandboxConfig::default()
    };
    let spec = worker(&[], Network::Loopback);
    let probe = Purpose::Probe {
        program: Path::new("/usr/bin/true"),
    };
    for purpose in [Purpose::Worker(&spec), probe] {
        let args = joined(&plan(purpose, &config).options(&SECCOMP_FDS));
        assert!(!args.contains("--unshare-net"), "{args}");
    }
}

/// The builder passes exactly the planned options through its pipe, and names only the pipe
/// on bubblewrap's own command line.
#[test]
fn the_builder_sends_the_planned_options_through_its_pipe() {
    let isolation = Isolation {
        bwrap: PathBuf::from("/usr/bin/bwrap"),
        version: "bubblewrap 0.8.0".to_owned(),
        dropper: None,
        joins_userns: true,
    };
    let sandbox = Sandbox {
        seccomp: Ok(vec![b"first".to_vec(), b"second".to_vec()]),
        ..Sandbox::unconfined(crate::Rlimits::default())
    };
    let dirs = runtime_dirs();
    let spec = worker(&dirs, Network::Loopback);
    let (command, jail, package) = sandbox
        .bwrap_command(&isolation, Purpose::Worker(&spec), None)
        .expect("command");
    // A test binary has no spawn namespace: the worker starts from this process's.
    assert!(package.is_none());
    assert_eq!(command.get_program(), "/usr/bin/bwrap");
    let argv: Vec<OsString> = command.get_args().map(OsString::from).collect();
    let fds: Vec<RawFd> = jail.transient_fds().collect();
    let (seccomp_fds, options_fd) = (&fds[..2], fds[2]);
    let plan = BwrapPlan {
        purpose: Purpose::Worker(&spec),
        config: &sandbox.config,
        dropper: None,
        uid: 0,
        userns_fd: None,
        system_dirs: system_dirs(),
        package_source: package_of(Purpose::Worker(&spec)),
    };
    assert_eq!(argv, plan.argv(options_fd));
    assert!(!joined(&argv).contains("/var/lib/ridge"), "{argv:?}");
    let read = |fd: RawFd| std::fs::read(format!("/proc/self/fd/{fd}")).expect("read the pipe");
    assert_eq!(read(options_fd), pack(&plan.options(seccomp_fds)));
    assert_eq!(read(seccomp_fds[0]), b"first");
}

/// In root mode every sandbox, the probe's as well as a worker's, gets a uid of its own and a
/// user namespace owned by it, which bubblewrap joins (`--userns`, its descriptor kept open
/// across `exec`), or, with a bubblewrap older than 0.5, the pre-exec hooks enter; the drop
/// helper's memfd is kept open across `exec` too, and named on the command line before the
/// program with the uid; the uid goes back to the pool with the jail.
#[test]
fn in_root_mode_each_jail_has_its_own_uid_and_user_namespace() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: only root creates user namespaces owned by another uid");
        return;
    }
    let mut isolation = Isolation {
        bwrap: PathBuf::from("/usr/bin/bwrap"),
        version: "bubblewrap 0.8.0".to_owned(),
        dropper: Some(
            Dropper::helper()
                .expect("load the drop helper")
                .expect("built on this target"),
        ),
        joins_userns: true,
    };
    let sandbox = Sandbox {
        seccomp: Ok(vec![b"program".to_vec()]),
        ..Sandbox::unconfined(crate::Rlimits::default())
    };
    let probe = Purpose::Probe {
        program: Path::new("/usr/bin/true"),
    };
    let (_, first, _) = sandbox
        .bwrap_command(&isolation, probe, None)
        .expect("command");
    let (command, second, _) = sandbox
        .bwrap_command(&isolation, probe, None)
        .expect("command");
    let (a, b) = (first.uid().expect("a uid"), second.uid().expect("a uid"));
    assert_ne!(a, b, "two live jails never share a uid");
    let range = UidRange::DEFAULT.first..UidRange::DEFAULT.first + UidRange::DEFAULT.count;
    assert!(range.contains(&a) && range.contains(&b));
    let helper = isolation
        .dropper
        .as_ref()
        .and_then(Dropper::fd)
        .expect("the helper's descriptor");
    let argv = joined(&command.get_args().map(OsString::from).collect::<Vec<_>>());
    let dropping = format!(
        "/proc/self/fd/{helper} {helper} {b} {} ",
        sandbox.config.gid
    );
    assert!(argv.contains(&dropping), "{argv}");
    let ns = second.userns_fd().expect("a user namespace");
    let link = std::fs::read_link(format!("/proc/self/fd/{ns}")).expect("readlink");
    assert!(link.to_string_lossy().starts_with("user:["), "{link:?}");
    let options_fd = second.transient_fds().last().expect("the options' pipe");
    let options = std::fs::read(format!("/proc/self/fd/{options_fd}")).expect("read the pipe");
    let joined = format!("--userns\0{ns}\0--block-fd\0{ns}\0");
    assert!(
        options
            .windows(joined.len())
            .any(|w| w == joined.as_bytes()),
        "{}",
        String::from_utf8_lossy(&options)
    );
    let mut hooks = probe_hooks(&second);
    sandbox.enter_user_namespace(&isolation, &second, &mut hooks);
    assert_eq!(hooks.userns, None);
    let mut keep = second.transient_fds().collect::<Vec<_>>();
    keep.extend([helper, ns]);
    assert_eq!(hooks.keep, keep);
    assert!(hooks.procs.is_empty() && hooks.rlimits.is_empty());
    // An older bubblewrap: the hooks enter the namespace, and the options do not name it.
    isolation.joins_userns = false;
    let (_, third, _) = sandbox
        .bwrap_command(&isolation, probe, None)
        .expect("command");
    let options_fd = third.transient_fds().last().expect("the options' pipe");
    let options = std::fs::read(format!("/proc/self/fd/{options_fd}")).expect("read the pipe");
    assert!(!String::from_utf8_lossy(&options).contains("--userns"));
    let mut hooks = probe_hooks(&third);
    sandbox.enter_user_namespace(&isolation, &third, &mut hooks);
    assert_eq!(hooks.userns, third.userns_fd());
    let mut keep = third.transient_fds().collect::<Vec<_>>();
    keep.push(helper);
    assert_eq!(hooks.keep, keep);
    drop(first);
    drop(second);
    drop(third);
}

#[test]
fn bubblewrap_joins_a_user_namespace_from_0_5() {
    assert!(joins_userns("bubblewrap 0.8.0"));
    assert!(joins_userns("bubblewrap 0.5.0"));
    assert!(joins_userns("bubblewrap 1.0"));
    assert!(!joins_userns("bubblewrap 0.4.1"));
    assert!(!joins_userns("bubblewrap"));
    assert!(!joins_userns(""));
}
