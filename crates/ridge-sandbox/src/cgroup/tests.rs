//! cgroup set-up, limits and kills as pure functions on a fake cgroup tree.

use super::v2::enable_failure;
use super::*;

fn touch(root: &Path, path: &str, content: &str) {
    let full = root.join(path);
    fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    fs::write(full, content).expect("write");
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const LIMITS: CgroupLimits = CgroupLimits {
    memory_bytes: 64 * 1024 * 1024,
    cpu_millicores: 250,
    pids: 128,
};

/// A pure cgroup v2 host, faked in a directory: Ridge runs in `/system.slice/ridge.service`.
#[test]
fn v2_enables_controllers_down_the_path_and_writes_limits() {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    touch(
        r,
        "sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io memory pids\n",
    );
    touch(r, "sys/fs/cgroup/cgroup.procs", "");
    touch(r, "proc/self/cgroup", "0::/system.slice/ridge.service\n");
    let own = r.join("sys/fs/cgroup/system.slice/ridge.service");
    touch(&own, "cgroup.procs", "");
    let layout = crate::HostCapabilities::probe_at(r).cgroup;
    let cgroups = Cgroups::prepare(r, &layout, "ridge");
    for c in [Controller::Memory, Controller::Cpu, Controller::Pids] {
        assert_eq!(cgroups.version_of(c), Some(Version::V2), "{c:?}");
    }
    assert!(
        !own.join("ridge-server").exists(),
        "a cgroup without processes needs no leaf"
    );
    assert_eq!(cgroups.version_of(Controller::Freezer), None);
    assert!(cgroups.why_missing(Controller::Freezer).is_none());
    assert!(cgroups.can_kill());
    let server = own
        .join("ridge")
        .join(format!("server-{}", std::process::id()));
    // The last write of each enables the last controller; every level was written.
    for dir in [&own, &own.join("ridge"), &server] {
        assert_eq!(
            read(&dir.join("cgroup.subtree_control")),
            "+pids",
            "{}",
            dir.display()
        );
    }

    let cg = cgroups.create("w1", LIMITS).expect("create");
    let dir = server.join("w1");
    assert_eq!(cg.dirs().collect::<Vec<_>>(), vec![dir.as_path()]);
    assert_eq!(read(&dir.join("memory.max")), "67108864");
    assert_eq!(read(&dir.join("cpu.max")), "25000 100000");
    cg.set_cpu(1000).expect("set cpu");
    assert_eq!(read(&dir.join("cpu.max")), "100000 100000");
    assert_eq!(read(&dir.join("pids.max")), "128");
    assert!(!cg.oom_killed());
    touch(
        &dir,
        "memory.events",
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
    );
    touch(
        &dir,
        "cpu.stat",
        "usage_usec 900\nuser_usec 800\nsystem_usec 100\nnr_periods 12\nnr_throttled 3\nthrottled_usec 4000\n",
    );
    assert_eq!(cg.throttled_periods(), Some(3), "v2's cpu.stat");
    assert!(cg.oom_killed());
    assert!(!cg.pids_exhausted());
    touch(&dir, "pids.events", "max 0\n");
    assert!(!cg.pids_exhausted());
    touch(&dir, "pids.events", "max 17\n");
    assert!(
        cg.pids_exhausted(),
        "a fork refused at pids.max is recorded"
    );
    cg.kill();
    assert_eq!(read(&dir.join("cgroup.kill")), "1");
    assert_eq!(
        read(&dir.join("cpu.max")),
        "max 100000",
        "a killed worker's processes exit unthrottled"
    );
    // The kernel creates `cgroup.procs` in a new cgroup; the fake tree needs it made.
    touch(&dir, "cgroup.procs", "");
    assert_eq!(cg.open_procs().expect("procs").len(), 1);
}

#[test]
fn v2_writes_no_swap_limit_without_swap_accounting() {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    touch(r, "sys/fs/cgroup/cgroup.controllers", "memory\n");
    touch(r, "proc/self/cgroup", "0::/\n");
    let layout = crate::HostCapabilities::probe_at(r).cgroup;
    let cgroups = Cgroups::prepare(r, &layout, "ridge");
    let server = r
        .join("sys/fs/cgroup/ridge")
        .join(format!("server-{}", std::process::id()));
    let cg = cgroups.create("w2", LIMITS).expect("create");
    // Without swap accounting the kernel has no memory.swap.max, and Ridge writes none.
    assert!(!server.join("w2/memory.swap.max").exists());
    assert_eq!(read(&server.join("w2/memory.max")), "67108864");
    assert_eq!(
        cgroups
            .why_missing(Controller::Pids)
            .map(|s| s.contains("no cgroup pids")),
        Some(true)
    );
    drop(cg);
}

/// This host's shape: v1 controllers, each its own hierarchy, plus an empty v2 mount.
#[test]
fn v1_uses_one_directory_per_hierarchy_under_ridges_own_cgroups() {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    for h in ["memory", "cpu,cpuacct", "pids", "freezer", "systemd"] {
        touch(r, &format!("sys/fs/cgroup/{h}/cgroup.procs"), "");
    }
    touch(r, "sys/fs/cgroup/unified/cgroup.controllers", "");
    touch(
        r,
        "proc/self/cgroup",
        "9:name=systemd:/\n8:pids:/\n6:freezer:/\n4:memory:/svc/abc\n1:cpu,cpuacct:/\n0::/\n",
    );
    let layout = crate::HostCapabilities::probe_at(r).cgroup;
    assert_eq!(layout.name(), "hybrid");
    let cgroups = Cgroups::prepare(r, &layout, "ridge");
    for c in CONTROLLERS {
        assert_eq!(cgroups.version_of(c), Some(Version::V1), "{c:?}");
    }
    let server = format!("server-{}", std::process::id());
    let memory = r.join("sys/fs/cgroup/memory/svc/abc/ridge").join(&server);
    let cpu = r.join("sys/fs/cgroup/cpu,cpuacct/ridge").join(&server);
    let cg = cgroups.create("w", LIMITS).expect("create");
    assert_eq!(cg.dirs().count(), 4);
    assert_eq!(read(&memory.join("w/memory.limit_in_bytes")), "67108864");
    assert_eq!(read(&cpu.join("w/cpu.cfs_quota_us")), "25000");
    assert_eq!(read(&cpu.join("w/cpu.cfs_period_us")), "100000");
    cg.set_cpu(100).expect("set cpu");
    assert_eq!(read(&cpu.join("w/cpu.cfs_quota_us")), "10000");
    assert_eq!(
        read(
            &r.join("sys/fs/cgroup/pids/ridge")
                .join(&server)
                .join("w/pids.max")
        ),
        "128"
    );
    touch(
        &memory,
        "w/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    );
    assert!(cg.oom_killed());
    assert_eq!(cg.throttled_periods(), None, "no cpu.stat yet");
    touch(
        &cpu,
        "w/cpu.stat",
        "nr_periods 40\nnr_throttled 7\nthrottled_time 123456\n",
    );
    assert_eq!(cg.throttled_periods(), Some(7));
    // No processes: kill freezes, finds nobody, thaws.
    touch(&memory, "w/cgroup.procs", "");
    cg.kill();
    assert_eq!(read(&cpu.join("w/cpu.cfs_quota_us")), "-1");
    let freezer = r
        .join("sys/fs/cgroup/freezer/ridge")
        .join(&server)
        .join("w");
    assert_eq!(read(&freezer.join("freezer.state")), "THAWED");
    // In a PID namespace of its own: signalled without the freezer.
    fs::remove_file(freezer.join("freezer.state")).expect("remove");
    cg.clone().in_own_pid_namespace().kill();
    assert!(
        !freezer.join("freezer.state").exists(),
        "a worker in its own PID namespace is not frozen to be killed"
    );
    touch(&freezer, "freezer.state", "THAWED");

    // A pre-started worker given to a function: renamed, with the function's memory limit.
    let mut cg = cg;
    touch(&memory, "w/memory.memsw.limit_in_bytes", "67108864");
    cg.rename("f").expect("rename");
    assert!(!memory.join("w").exists() && memory.join("f").is_dir());
    assert_eq!(cg.dirs().count(), 4);
    assert!(
        cg.dirs().all(|d| d.ends_with("f")),
        "every hierarchy renamed"
    );
    cg.set_memory(128 * 1024 * 1024).expect("raise");
    assert_eq!(read(&memory.join("f/memory.limit_in_bytes")), "134217728");
    assert_eq!(
        read(&memory.join("f/memory.memsw.limit_in_bytes")),
        "134217728"
    );
    cg.set_cpu(300).expect("set cpu after the rename");
    assert_eq!(read(&cpu.join("f/cpu.cfs_quota_us")), "30000");
    assert!(cg.oom_killed(), "the memory directory followed the rename");
}

#[test]
fn reports_what_is_missing() {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    touch(r, "sys/fs/cgroup/cpu/cgroup.procs", "");
    let layout = crate::HostCapabilities::probe_at(r).cgroup;
    let cgroups = Cgroups::prepare(r, &layout, "ridge");
    assert_eq!(cgroups.version_of(Controller::Cpu), Some(Version::V1));
    assert!(!cgroups.can_kill());
    assert_eq!(
        cgroups.why_missing(Controller::Memory),
        Some("no cgroup memory controller was found (cgroup layout: v1)")
    );
}

/// systemd with `Delegate=yes`: the service's cgroup (owned by Ridge's user) holds Ridge, so
/// Ridge moves into a leaf before handing controllers down, and the workers' cgroups sit beside
/// that leaf.
#[test]
fn v2_in_a_delegated_service_moves_ridge_into_a_leaf_first() {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    touch(
        r,
        "sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io memory pids\n",
    );
    touch(r, "proc/self/cgroup", "0::/system.slice/ridge.service\n");
    let own = r.join("sys/fs/cgroup/system.slice/ridge.service");
    touch(&own, "cgroup.controllers", "cpuset cpu io memory pids\n");
    touch(&own, "cgroup.procs", &format!("{}\n", std::process::id()));
    let layout = crate::HostCapabilities::probe_at(r).cgroup;
    let cgroups = Cgroups::prepare(r, &layout, "ridge");
    for c in [Controller::Memory, Controller::Cpu, Controller::Pids] {
        assert_eq!(cgroups.version_of(c), Some(Version::V2), "{c:?}");
    }
    assert_eq!(
        read(&own.join("ridge-server/cgroup.procs")),
        std::process::id().to_string(),
        "Ridge moved itself into the leaf"
    );
    assert_eq!(read(&own.join("cgroup.subtree_control")), "+pids");
    let cg = cgroups.create("w", LIMITS).expect("create");
    let dir = own
        .join("ridge")
        .join(format!("server-{}", std::process::id()))
        .join("w");
    assert_eq!(cg.dirs().collect::<Vec<_>>(), vec![dir.as_path()]);
    assert_eq!(read(&dir.join("memory.max")), "67108864");
}

/// `Delegate=memory pids` (or a parent that does not enable cpu): the missing controller is
/// reported with what fixes it; the others are used.
#[test]
fn v2_reports_a_controller_the_service_was_not_given() {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    touch(r, "sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n");
    touch(r, "proc/self/cgroup", "0::/system.slice/ridge.service\n");
    let own = r.join("sys/fs/cgroup/system.slice/ridge.service");
    touch(&own, "cgroup.controllers", "memory pids\n");
    touch(&own, "cgroup.procs", "");
    let layout = crate::HostCapabilities::probe_at(r).cgroup;
    let cgroups = Cgroups::prepare(r, &layout, "ridge");
    assert_eq!(cgroups.version_of(Controller::Memory), Some(Version::V2));
    assert_eq!(cgroups.version_of(Controller::Cpu), None);
    let why = cgroups
        .why_missing(Controller::Cpu)
        .expect("cpu is missing");
    assert!(why.contains("cgroup.controllers: `memory pids`"), "{why}");
    assert!(why.contains("Delegate=yes"), "{why}");
    assert!(
        !own.join("ridge-server").exists(),
        "a cgroup without processes needs no leaf"
    );
}

#[test]
fn enable_failures_say_what_fixes_them() {
    let dir = Path::new("/sys/fs/cgroup/system.slice/ridge.service");
    let denied = io::Error::from_raw_os_error(nix::libc::EACCES);
    let why = enable_failure(Controller::Memory, dir, &denied);
    assert!(why.starts_with("cannot enable memory in `/sys/fs/cgroup/system.slice/ridge.service`"));
    assert!(why.contains("Delegate=yes"), "{why}");
    let busy = io::Error::from_raw_os_error(nix::libc::EBUSY);
    let why = enable_failure(Controller::Cpu, dir, &busy);
    assert!(
        why.contains("other processes share Ridge's cgroup"),
        "{why}"
    );
    let other = io::Error::from_raw_os_error(nix::libc::EINVAL);
    assert!(!enable_failure(Controller::Pids, dir, &other).contains("Delegate"));
}
