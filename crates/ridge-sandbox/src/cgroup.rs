//! cgroup limits for workers, on cgroup v2 (unified) and v1 (one hierarchy per controller),
//! whichever gives each controller on this host.
//!
//! Layout: every hierarchy used gets `<Ridge's own cgroup>/<name>/server-<pid>/<worker>` (with
//! the PID namespace's inode before the pid outside the initial one: `servers.rs`), so
//! workers stay inside the service's own (possibly delegated) subtree and two Ridge servers on a
//! host never touch each other's workers. On v2, controllers are enabled down that path through
//! `cgroup.subtree_control`; if Ridge's own cgroup holds processes (a systemd service with
//! `Delegate=yes`: the service's cgroup, owned by Ridge's user, holds Ridge), Ridge first moves
//! itself into a `ridge-server` leaf, as v2's no-internal-process rule requires. A controller
//! the service's cgroup does not offer, or a cgroup not delegated to Ridge's user, is reported
//! with what fixes it (`Delegate=yes`).
//!
//! A worker joins its cgroups between `fork` and `exec` (see `jail/preexec.rs`), through
//! `cgroup.procs` files opened beforehand. Limits: `memory` (swap off), `cpu` as a CFS quota
//! from millicores, `pids`. A whole worker is killed through v2's `cgroup.kill`, or by freezing
//! it (v1 `freezer`, v2 `cgroup.freeze`), signalling every member and thawing, so nothing
//! escapes by forking or `setsid()`.
//!
//! Every path is relative to a root (`/` in production) so that tests run against a fake tree.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::host::CgroupLayout;

/// CFS period used with every quota, in microseconds.
pub const CFS_PERIOD_US: u64 = 100_000;
/// How many times [`WorkerCgroup::kill`] signals the members of a cgroup, [`KILL_PAUSE`] apart,
/// before it gives up (killed processes take a moment to leave the cgroup).
const KILL_ROUNDS: usize = 100;
const KILL_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// The controllers Ridge sets limits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Memory,
    Cpu,
    Pids,
    /// v1 only: freezing a cgroup to kill all of it (v2 has `cgroup.kill` and `cgroup.freeze`).
    Freezer,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
        }
    }
}

const CONTROLLERS: [Controller; 4] = [
    Controller::Memory,
    Controller::Cpu,
    Controller::Pids,
    Controller::Freezer,
];

/// One hierarchy Ridge puts workers into.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    version: Version,
    /// `<mount><own>/<name>/server-<pid>`: worker cgroups are made here.
    parent: PathBuf,
    controllers: Vec<Controller>,
}

/// Where each controller is, after start-up set it up; and why the others are missing.
#[derive(Debug, Clone, Default)]
pub struct Cgroups {
    hierarchies: Vec<Hierarchy>,
    /// Controllers that could not be set up, with the reason.
    missing: Vec<(Controller, String)>,
}

/// The limits of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupLimits {
    pub memory_bytes: u64,
    pub cpu_millicores: u32,
    pub pids: u64,
}

impl Cgroups {
    /// Finds the controllers of `layout` under `root` and prepares the parent cgroup of workers
    /// in each hierarchy. Never fails: what cannot be set up is recorded in [`Cgroups::missing`].
    pub fn prepare(root: &Path, layout: &CgroupLayout, name: &str) -> Self {
        let base = root.join("sys/fs/cgroup");
        let own = read_own_cgroups(root);
        let server = servers::dir_name();
        let mut out = Cgroups::default();
        for controller in CONTROLLERS {
            match layout.controller(controller.name()) {
                Some("v2") if controller == Controller::Freezer => {}
                Some("v2") => {
                    let mount = if matches!(layout, CgroupLayout::V2 { .. }) {
                        base.clone()
                    } else {
                        base.join("unified")
                    };
                    out.add(controller, || {
                        prepare_v2(&mount, &own, name, &server, controller)
                    });
                }
                Some(_) => {
                    out.add(controller, || {
                        let mount = find_v1_mount(&base, controller.name()).ok_or_else(|| {
                            format!("no mounted v1 hierarchy holds {}", controller.name())
                        })?;
                        let hierarchy = mount
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let own_path = own.v1_path(&hierarchy);
                        let parent = join_cgroup(&mount, own_path).join(name).join(&server);
                        sweep_stale(&parent);
                        fs::create_dir_all(&parent)
                            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
                        Ok(Hierarchy {
                            version: Version::V1,
                            parent,
                            controllers: vec![controller],
                        })
                    });
                }
                None if controller == Controller::Freezer
                    && layout.controller("memory") == Some("v2") => {}
                None => out.missing.push((
                    controller,
                    format!(
                        "no cgroup {} controller was found (cgroup layout: {})",
                        controller.name(),
                        layout.name()
                    ),
                )),
            }
        }
        out
    }

    fn add(&mut self, controller: Controller, make: impl FnOnce() -> Result<Hierarchy, String>) {
        match make() {
            Ok(h) => match self.hierarchies.iter_mut().find(|x| x.parent == h.parent) {
                Some(existing) => existing.controllers.push(controller),
                None => self.hierarchies.push(h),
            },
            Err(reason) => self.missing.push((controller, reason)),
        }
    }

    /// The hierarchy version that gives `controller`, if it is usable.
    pub fn version_of(&self, controller: Controller) -> Option<Version> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.contains(&controller))
            .map(|h| h.version)
    }

    /// Why `controller` is not usable, if it is not.
    pub fn why_missing(&self, controller: Controller) -> Option<&str> {
        self.missing
            .iter()
            .find(|(c, _)| *c == controller)
            .map(|(_, why)| why.as_str())
    }

    /// Whether a whole worker can be killed through its cgroup.
    pub fn can_kill(&self) -> bool {
        self.version_of(Controller::Freezer).is_some()
            || self.hierarchies.iter().any(|h| h.version == Version::V2)
    }

    /// Makes the cgroups of worker `worker` and writes its limits.
    pub fn create(&self, worker: &str, limits: CgroupLimits) -> io::Result<WorkerCgroup> {
        let mut cg = WorkerCgroup {
            dirs: Vec::new(),
            memory: None,
            cpu: None,
            freezer: None,
            pid_namespace: false,
        };
        for h in &self.hierarchies {
            let dir = h.parent.join(worker);
            fs::create_dir(&dir)?;
            cg.dirs.push((h.version, dir.clone()));
            for controller in &h.controllers {
                write_limits(h.version, &dir, *controller, limits)?;
                match controller {
                    Controller::Memory => cg.memory = Some((h.version, dir.clone())),
                    Controller::Cpu => cg.cpu = Some((h.version, dir.clone())),
                    Controller::Freezer => cg.freezer = Some((h.version, dir.clone())),
                    _ => {}
                }
            }
            if h.version == Version::V2 && cg.freezer.is_none() {
                cg.freezer = Some((Version::V2, dir.clone()));
            }
        }
        Ok(cg)
    }
}

fn write_limits(
    version: Version,
    dir: &Path,
    controller: Controller,
    limits: CgroupLimits,
) -> io::Result<()> {
    match (version, controller) {
        (Version::V2, Controller::Memory) => {
            write(dir, "memory.max", &limits.memory_bytes.to_string())?;
            write_if_present(dir, "memory.swap.max", "0")?;
            // One OOM kill takes the whole worker: it is replaced anyway.
            write_if_present(dir, "memory.oom.group", "1")?;
        }
        (Version::V1, Controller::Memory) => {
            write(
                dir,
                "memory.limit_in_bytes",
                &limits.memory_bytes.to_string(),
            )?;
            // Swap off: memory+swap may not exceed memory (present with swap accounting only).
            write_if_present(
                dir,
                "memory.memsw.limit_in_bytes",
                &limits.memory_bytes.to_string(),
            )?;
        }
        (_, Controller::Cpu) => write_cpu(version, dir, limits.cpu_millicores)?,
        (_, Controller::Pids) => write(dir, "pids.max", &limits.pids.to_string())?,
        (_, Controller::Freezer) => {}
    }
    Ok(())
}

/// Writes a CFS quota of `millicores` thousandths of a CPU per period.
fn write_cpu(version: Version, dir: &Path, millicores: u32) -> io::Result<()> {
    let quota = u64::from(millicores) * CFS_PERIOD_US / 1000;
    match version {
        Version::V2 => write(dir, "cpu.max", &format!("{quota} {CFS_PERIOD_US}")),
        Version::V1 => {
            write(dir, "cpu.cfs_period_us", &CFS_PERIOD_US.to_string())?;
            write(dir, "cpu.cfs_quota_us", &quota.to_string())
        }
    }
}

/// The cgroups of one worker. [`WorkerCgroup::kill`] ends every process in them;
/// [`WorkerCgroup::remove`] deletes them once empty. A clone names the same cgroups (to kill
/// them from another thread).
#[derive(Debug, Clone)]
pub struct WorkerCgroup {
    dirs: Vec<(Version, PathBuf)>,
    memory: Option<(Version, PathBuf)>,
    cpu: Option<(Version, PathBuf)>,
    freezer: Option<(Version, PathBuf)>,
    /// Whether every process of the worker that can fork runs in a PID namespace of its own,
    /// whose process 1 is among them (see [`WorkerCgroup::in_own_pid_namespace`]).
    pid_namespace: bool,
}

impl WorkerCgroup {
    /// Says that the worker runs in a PID namespace of its own (bubblewrap's): its processes
    /// are that namespace's and, outside it, only processes that do not fork (bubblewrap's
    /// first process, `pasta`). [`WorkerCgroup::kill`] then signals them without freezing
    /// them first (through pidfds, Linux 5.3; before it, the freezer still): killing the
    /// namespace's process 1 kills everything in it, and once it is dead the kernel allocates
    /// no more pids there, so no fork can outrun the kill.
    pub(crate) fn in_own_pid_namespace(mut self) -> Self {
        self.pid_namespace = true;
        self
    }

    /// Changes the worker's CPU quota (no-op without a cpu controller).
    pub fn set_cpu(&self, millicores: u32) -> io::Result<()> {
        match &self.cpu {
            Some((version, dir)) => write_cpu(*version, dir, millicores),
            None => Ok(()),
        }
    }

    /// Changes the worker's memory limit (no-op without a memory controller). Lowering it
    /// below what the worker uses makes the kernel reclaim, then OOM-kill the worker.
    pub fn set_memory(&self, bytes: u64) -> io::Result<()> {
        let limits = CgroupLimits {
            memory_bytes: bytes,
            cpu_millicores: 0,
            pids: 0,
        };
        match &self.memory {
            // v1 refuses a memory limit above memory+swap's: raising, memory+swap goes first
            // (refused when lowering, which the second write then does).
            Some((Version::V1, dir)) => {
                let _ = write_if_present(dir, "memory.memsw.limit_in_bytes", &bytes.to_string());
                write_limits(Version::V1, dir, Controller::Memory, limits)
            }
            Some((version, dir)) => write_limits(*version, dir, Controller::Memory, limits),
            None => Ok(()),
        }
    }

    /// Renames the worker's cgroup directories to `name` (same parents), so that a worker
    /// started before it served anyone is listed under the name of the worker it became.
    pub fn rename(&mut self, name: &str) -> io::Result<()> {
        for (_, dir) in &mut self.dirs {
            let renamed = dir.with_file_name(name);
            fs::rename(&*dir, &renamed)?;
            for slot in [&mut self.memory, &mut self.cpu, &mut self.freezer] {
                if let Some((_, d)) = slot
                    && d == dir
                {
                    d.clone_from(&renamed);
                }
            }
            *dir = renamed;
        }
        Ok(())
    }

    /// Moves running process `pid` into every directory. What it allocated before stays
    /// charged where it was; what it allocates from now on is the worker's.
    pub(crate) fn adopt(&self, pid: i32) -> io::Result<()> {
        for (_, dir) in &self.dirs {
            write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// `cgroup.procs` of every directory, opened for writing, so that a child can join them
    /// after `fork` without allocating.
    pub(crate) fn open_procs(&self) -> io::Result<Vec<OwnedFd>> {
        self.dirs
            .iter()
            .map(|(_, dir)| {
                OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))
                    .map(OwnedFd::from)
            })
            .collect()
    }

    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(_, d)| d.as_path())
    }

    /// The processes in the worker's cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some((_, dir)) = self.dirs.first() else {
            return Vec::new();
        };
        fs::read_to_string(dir.join("cgroup.procs"))
            .map(|t| {
                t.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the kernel's OOM killer ended a process of this worker (the memory limit).
    pub fn oom_killed(&self) -> bool {
        let Some((version, dir)) = &self.memory else {
            return false;
        };
        let file = match version {
            Version::V2 => "memory.events",
            Version::V1 => "memory.oom_control",
        };
        fs::read_to_string(dir.join(file)).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    }

    /// How many CFS periods the kernel held the worker at its CPU quota so far (`cpu.stat`'s
    /// `nr_throttled`, v1 and v2 alike); `None` without a cpu controller or when unreadable.
    pub fn throttled_periods(&self) -> Option<u64> {
        let (_, dir) = self.cpu.as_ref()?;
        let text = fs::read_to_string(dir.join("cpu.stat")).ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix("nr_throttled "))
            .and_then(|n| n.trim().parse().ok())
    }

    /// Whether a `fork` of this worker failed at the pids limit (`pids.events`, v1 and v2).
    pub fn pids_exhausted(&self) -> bool {
        self.dirs.iter().any(|(_, dir)| {
            fs::read_to_string(dir.join("pids.events")).is_ok_and(|text| {
                text.lines().any(|line| {
                    line.strip_prefix("max ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
        })
    }

    /// Kills every process of the worker. First lifts its CPU quota: a killed process must run
    /// to exit, and a big tree throttled at a tenth of a core (a fork bomb) would take seconds
    /// to die. Then v2: `cgroup.kill`. A worker in a PID namespace of its own: SIGKILL every
    /// member, its namespace's process 1 included, until the cgroup is empty (bounded; no
    /// freezer, see [`WorkerCgroup::in_own_pid_namespace`]). Otherwise, or if members remain:
    /// freeze, SIGKILL every member, thaw, and repeat until the cgroup is empty (bounded).
    /// Freezing a v1 cgroup and thawing it each switch a static key of the kernel's, which
    /// rewrites the kernel's code and interrupts every CPU: about a millisecond of the
    /// machine's time per kill, an eighth of what a worker's end cost (docs/benchmarks.md,
    /// "a worker's end without the freezer"). Blocking, but quick: call it off async threads.
    pub fn kill(&self) {
        if let Some((version, dir)) = &self.cpu {
            let lifted = match version {
                Version::V2 => write(dir, "cpu.max", &format!("max {CFS_PERIOD_US}")),
                Version::V1 => write(dir, "cpu.cfs_quota_us", "-1"),
            };
            if let Err(e) = lifted {
                tracing::debug!(error = %e, "cannot lift the CPU quota of a killed worker");
            }
        }
        if let Some((Version::V2, dir)) = &self.freezer
            && write(dir, "cgroup.kill", "1").is_ok()
        {
            return;
        }
        if self.pid_namespace && crate::child::pidfds_supported() {
            for _ in 0..KILL_ROUNDS {
                if !self.signal_all_pinned() {
                    return;
                }
                std::thread::sleep(KILL_PAUSE);
            }
        }
        for _ in 0..KILL_ROUNDS {
            self.freeze(true);
            let signalled = self.signal_all();
            self.freeze(false);
            if !signalled {
                return;
            }
            std::thread::sleep(KILL_PAUSE);
        }
        tracing::warn!(cgroup = ?self.dirs.first(), "processes remain in a killed worker's cgroup");
    }

    /// SIGKILLs every member without the freezer, and so without a pid read from
    /// `cgroup.procs` ever naming another process: each pid listed is opened as a pidfd, and
    /// the process is signalled through it only if `cgroup.procs`, read again, still lists that
    /// pid. A signal through a pidfd reaches the process it was opened on or nobody (`ESRCH`
    /// once it has ended), and a process alive at the second read holds its pid then, so a
    /// signalled process is a member even if a pid was freed and given to another process
    /// between the reads. Whether there was any member. Members that joined meanwhile are
    /// signalled in the next round.
    fn signal_all_pinned(&self) -> bool {
        let listed = self.pids();
        if listed.is_empty() {
            return false;
        }
        let pinned: Vec<(i32, OwnedFd)> = listed
            .into_iter()
            .filter_map(|pid| crate::child::pidfd_open(pid).map(|fd| (pid, fd)))
            .collect();
        let mut members = self.pids();
        members.sort_unstable();
        for (pid, pidfd) in &pinned {
            if members.binary_search(pid).is_ok() {
                let _ = crate::child::pidfd_kill(pidfd);
            }
        }
        true
    }

    /// SIGKILLs every member (frozen ones: their pids cannot be freed meanwhile); whether
    /// there was any.
    fn signal_all(&self) -> bool {
        let pids = self.pids();
        for pid in &pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        !pids.is_empty()
    }

    fn freeze(&self, frozen: bool) {
        let result = match &self.freezer {
            Some((Version::V1, dir)) => write(
                dir,
                "freezer.state",
                if frozen { "FROZEN" } else { "THAWED" },
            ),
            Some((Version::V2, dir)) => write(dir, "cgroup.freeze", if frozen { "1" } else { "0" }),
            None => Ok(()),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "cannot change the freezer state of a worker's cgroup");
        }
    }

    /// Removes the worker's cgroups once its processes are gone, retrying for up to 2 s (killed
    /// processes take a moment to leave) and killing again meanwhile. Blocking.
    pub fn remove_when_empty(self) {
        for attempt in 0..200 {
            match self.remove() {
                Ok(()) => return,
                Err(e) if attempt == 199 => {
                    tracing::warn!(error = %e, "cannot remove a worker's cgroup");
                }
                Err(_) => {
                    if attempt % 20 == 19 {
                        self.kill();
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
    }

    /// Removes the worker's cgroup directories. Fails (`EBUSY`) while processes remain.
    pub fn remove(&self) -> io::Result<()> {
        let mut first_error = None;
        for (_, dir) in &self.dirs {
            match fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    let path = dir.join(file);
    let mut f = OpenOptions::new()
        .write(true)
        .create(false)
        .truncate(true)
        .open(&path)
        .or_else(|e| {
            // A fake tree in tests has no kernel to create the interface files.
            if e.kind() == io::ErrorKind::NotFound && !is_cgroupfs(dir) {
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
            } else {
                Err(e)
            }
        })
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open `{}`: {e}", path.display())))?;
    f.write_all(value.as_bytes()).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot write `{value}` to `{}`: {e}", path.display()),
        )
    })
}

fn write_if_present(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    if dir.join(file).exists() {
        write(dir, file, value)
    } else {
        Ok(())
    }
}

/// Whether `dir` is on a real cgroup filesystem (v1 `cgroup` or v2 `cgroup2`).
fn is_cgroupfs(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir).is_ok_and(|s| {
        s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC
            || s.filesystem_type() == nix::sys::statfs::CGROUP_SUPER_MAGIC
    })
}

/// Ridge's own cgroups, from `/proc/self/cgroup`.
#[derive(Debug, Default)]
struct OwnCgroups {
    /// (hierarchy's controller list such as `cpu,cpuacct`, path).
    v1: Vec<(String, String)>,
    v2: Option<String>,
}

impl OwnCgroups {
    fn v1_path(&self, hierarchy: &str) -> &str {
        self.v1
            .iter()
            .find(|(names, _)| names == hierarchy)
            .map_or("/", |(_, path)| path.as_str())
    }
}

fn read_own_cgroups(root: &Path) -> OwnCgroups {
    let text = fs::read_to_string(root.join("proc/self/cgroup")).unwrap_or_default();
    let mut own = OwnCgroups::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(names), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if names.is_empty() {
            own.v2 = Some(path.to_owned());
        } else {
            own.v1.push((names.to_owned(), path.to_owned()));
        }
    }
    own
}

fn join_cgroup(mount: &Path, path: &str) -> PathBuf {
    mount.join(path.trim_start_matches('/'))
}

fn find_v1_mount(base: &Path, controller: &str) -> Option<PathBuf> {
    fs::read_dir(base).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        (name.split(',').any(|c| c == controller) && path.join("cgroup.procs").is_file())
            .then_some(path)
    })
}

mod servers;
mod v2;
use servers::sweep_stale;
use v2::prepare_v2;

#[cfg(test)]
mod tests;
