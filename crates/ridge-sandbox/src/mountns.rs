//! The server's own mount namespace, where the unpacked packages live on file systems of their
//! own (see `ridge-package`'s `tmpfs.rs`), mounted where no one else sees them.
//!
//! A bind mount shows, in the 4th field of `/proc/self/mountinfo`, its path inside the file
//! system it comes from: a package bound from `<data_dir>/unpacked/...` would name the data
//! directory to every worker. Only a file system of its own (a tmpfs per package) shows `/`
//! there. Mounting those in the host's namespace would leave them to the host (and behind
//! after a crash), so `ridge serve` first gives itself a private mount namespace, in which the
//! host's mounts still appear (`/` is made a recursive slave) but its own stay its own and end
//! with it.
//!
//! A mount namespace belongs to a thread: [`enter_private_mount_namespace`] must run before
//! any other thread starts (before the async runtime), so that every thread of the server
//! shares it. Servers built inside another program (the tests' in-process servers) do not get
//! one, and [`private_mount_namespace`] says so.
//!
//! # The namespace workers start from
//!
//! A new mount namespace is a copy of its creator's, and bubblewrap reads the whole mount
//! table again for each read-only bind it makes: started from the server's namespace, every
//! worker would pay for every package unpacked on the node (a tmpfs each). On this kernel a
//! sandbox took 4.5 ms to start beside 20 mounts and 15 ms beside 1,000 (docs/benchmarks.md).
//! So the server also keeps a second namespace, made at the same moment as its own and holding
//! only the host's mounts: the *spawn namespace* ([`spawn_namespace`]). A worker's start (the
//! pre-exec hook, `jail/preexec.rs`) enters it, makes a private copy of it, attaches a detached
//! copy of its own package ([`clone_tree`]) there, and only then runs bubblewrap, which so
//! copies only the host's mounts whatever the node holds, and sees no other function's package.
//!
//! Not even all of those: no sandbox binds anything from `/sys` or from a file system mounted
//! below `/proc` or `/dev` (bubblewrap makes a worker's own `/proc`, `/dev`, `/dev/pts` and
//! `/dev/shm`, and reads `/proc` and binds `/dev/null` and the like from the mounts themselves).
//! So the spawn namespace leaves those out ([`prune_unbound_mounts`]): on a host with cgroup v1,
//! thirteen of its twenty-one mounts are `/sys`'s, and each costs every worker's start, once per
//! copy of the table and once per read of it.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use nix::libc;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

/// `move_mount`'s flag: the source is the descriptor itself.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// What [`enter_private_mount_namespace`] achieved in this process, if it ran.
static PRIVATE: OnceLock<Result<(), String>> = OnceLock::new();
/// The namespace workers start from (see the module's documentation), or why there is none.
static SPAWN: OnceLock<Result<OwnedFd, String>> = OnceLock::new();

/// Moves this process into a mount namespace of its own, whose `/` receives the host's mounts
/// but propagates none back. Call it once, while the process has a single thread; the outcome
/// is remembered for [`private_mount_namespace`]. Needs root (`CAP_SYS_ADMIN`).
pub fn enter_private_mount_namespace() -> Result<(), String> {
    let result = if nix::unistd::geteuid().is_root() {
        unshare_as_slave()
    } else {
        Err("Ridge is not root, so it cannot make a mount namespace of its own".to_owned())
    };
    if result.is_ok() {
        // Made now, while the server's namespace holds only the host's mounts.
        let _ = SPAWN.set(make_spawn_namespace());
    }
    PRIVATE.get_or_init(|| result).clone()
}

/// Moves this thread into a copy of its mount namespace whose `/` is a recursive slave of the
/// original's: mounts made there reach it, none made in it goes back. Needs root.
fn unshare_as_slave() -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("cannot make a mount namespace of its own: {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| format!("cannot make `/` a slave of the host's mounts: {e}"))
}

/// A copy of the current mount namespace, entered and left again, and tried as a worker's
/// start will use it: its descriptor. Single thread only (as [`enter_private_mount_namespace`]).
fn make_spawn_namespace() -> Result<OwnedFd, String> {
    let own = File::open("/proc/self/ns/mnt")
        .map_err(|e| format!("cannot open this server's mount namespace: {e}"))?;
    unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("cannot make the namespace workers start from: {e}"))?;
    // A spawn namespace with all of the host's mounts still works, only its starts cost more:
    // a mount that cannot be detached is left where it is.
    let _ = prune_unbound_mounts();
    let spawn = File::open("/proc/self/ns/mnt")
        .map(OwnedFd::from)
        .map_err(|e| format!("cannot open the namespace workers start from: {e}"));
    // Back home whatever happened: a failure here leaves the server where its workers would
    // have started, which holds what it mounts from now on, as without a spawn namespace.
    let home = || {
        setns(&own, CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("cannot return to this server's mount namespace: {e}"))
    };
    home()?;
    let spawn = spawn?;
    // What each worker's pre-exec hook will do (`jail/preexec.rs`), in a throwaway copy: a
    // kernel or a seccomp policy that refuses one step is found now, not at every start.
    let tried = try_attach(&spawn);
    home()?;
    tried.map_err(|e| format!("a worker could not start from it: {e}"))?;
    Ok(spawn)
}

/// Whether no sandbox binds anything from the mount at `point` (a mount point as
/// `/proc/self/mountinfo` writes it): `/sys` and what is below it, and the file systems
/// mounted below `/proc` and `/dev` (`/proc` and `/dev` themselves stay: bubblewrap reads the
/// one and binds device nodes from the other).
fn unbound(point: &[u8]) -> bool {
    point == b"/sys"
        || point.starts_with(b"/sys/")
        || point.starts_with(b"/proc/")
        || point.starts_with(b"/dev/")
}

/// Detaches every mount [`unbound`] names from the current mount namespace, which must not
/// propagate to the host's (the spawn namespace is a copy of the server's, whose `/` is a
/// slave). Returns how many it detached; `Err` if one it named could not be.
fn prune_unbound_mounts() -> io::Result<usize> {
    let mut detached = 0;
    // A pass detaches the top mount at each mount point, with everything below it; a mount
    // stacked over another needs another pass. Bounded by the passes, and by progress.
    for _ in 0..8 {
        let table = std::fs::read("/proc/thread-self/mountinfo")?;
        let mut points: Vec<Vec<u8>> = table
            .split(|b| *b == b'\n')
            .filter_map(|line| line.split(|b| *b == b' ').nth(4))
            .filter(|point| unbound(point))
            .map(unescape)
            .collect();
        if points.is_empty() {
            return Ok(detached);
        }
        // Parents first: one detach takes its children along, and theirs then fail harmlessly.
        points.sort_by_key(Vec::len);
        points.dedup();
        let before = detached;
        for point in points {
            let point = std::ffi::OsStr::from_bytes(&point);
            if umount2(point, MntFlags::MNT_DETACH).is_ok() {
                detached += 1;
            }
        }
        if detached == before {
            break;
        }
    }
    Err(io::Error::other(
        "a mount below /sys, /proc or /dev could not be detached",
    ))
}

/// A mount point as `/proc/self/mountinfo` writes it, with its octal escapes (`\040` for a
/// space, and tab, newline and backslash alike) undone.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// Enters `spawn`, makes a private copy of it, and attaches a copy of its `/` over its `/`
/// there, as a worker's start attaches its package ([`enter_copy_and_attach`]). Leaves this
/// thread in that copy.
fn try_attach(spawn: &OwnedFd) -> io::Result<()> {
    let tree = clone_tree(Path::new("/"))?;
    enter_copy_and_attach(spawn.as_raw_fd(), tree.as_raw_fd(), c"/")
}

/// Enters the mount namespace `namespace`, makes a private copy of it, and attaches `tree` (a
/// detached mount, [`clone_tree`]) at `target` there. System calls only, on what the caller
/// prepared: the pre-exec hook calls it between `fork` and `exec` (`jail/preexec.rs`), and so
/// does the start-up trial ([`try_attach`]), in a thread of its own filesystem context (the
/// child, or the single thread of start-up). Needs host root.
pub(crate) fn enter_copy_and_attach(
    namespace: RawFd,
    tree: RawFd,
    target: &std::ffi::CStr,
) -> io::Result<()> {
    let check = |rc: libc::c_long| {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: setns(2) on a namespace descriptor and unshare(2), with integer flags.
    check(unsafe { libc::setns(namespace, libc::CLONE_NEWNS) }.into())?;
    // SAFETY: as above.
    check(unsafe { libc::unshare(libc::CLONE_NEWNS) }.into())?;
    // SAFETY: move_mount(2) with a descriptor, a static empty path and a NUL-terminated path
    // that outlives the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
}

/// The mount namespace workers start from: a copy of the server's own, made when it was made,
/// so holding only the host's mounts. `Err` says why there is none (workers then start from
/// the server's namespace).
pub(crate) fn spawn_namespace() -> Result<RawFd, String> {
    match SPAWN.get() {
        Some(Ok(fd)) => Ok(fd.as_raw_fd()),
        Some(Err(why)) => Err(why.clone()),
        None => Err(private_mount_namespace()
            .err()
            .unwrap_or_else(|| "not made".to_owned())),
    }
}

/// A detached copy of the mount at `path` (not of the mounts below it), to attach in another
/// namespace with `move_mount`; unmounted when the descriptor closes unattached.
pub(crate) fn clone_tree(path: &Path) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_long = 1;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: open_tree(2) with a NUL-terminated path that outlives the call and integer flags;
    // the descriptor it returns is owned by nothing else.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::c_long::from(libc::O_CLOEXEC),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: `fd` was just returned by open_tree and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether this process runs in a mount namespace of its own (see
/// [`enter_private_mount_namespace`]), and if not, why.
pub fn private_mount_namespace() -> Result<(), String> {
    PRIVATE.get().cloned().unwrap_or_else(|| {
        Err(
            "this server was started inside another program (not by `ridge serve`), \
             so it shares that program's mount namespace"
                .to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mount points of this thread's mount namespace.
    fn mount_points() -> Vec<Vec<u8>> {
        let table = std::fs::read("/proc/thread-self/mountinfo").expect("mountinfo");
        table
            .split(|b| *b == b'\n')
            .filter_map(|line| line.split(|b| *b == b' ').nth(4))
            .map(unescape)
            .collect()
    }

    #[test]
    fn mount_points_are_unescaped_as_the_kernel_escapes_them() {
        assert_eq!(unescape(br"/mnt/a\040b\011c\134d"), b"/mnt/a b\tc\\d");
        assert_eq!(unescape(br"/plain"), b"/plain");
        // Not an escape: too short, or not octal.
        assert_eq!(unescape(br"/x\04"), br"/x\04");
        assert_eq!(unescape(br"/x\089"), br"/x\089");
    }

    #[test]
    fn only_sys_and_what_is_below_proc_and_dev_are_unbound() {
        for point in [
            "/sys",
            "/sys/fs/cgroup/memory",
            "/dev/shm",
            "/dev/pts",
            "/proc/sys/fs/binfmt_misc",
        ] {
            assert!(unbound(point.as_bytes()), "{point}");
        }
        for point in [
            "/", "/proc", "/dev", "/usr", "/system", "/device", "/run", "/opt/sys",
        ] {
            assert!(!unbound(point.as_bytes()), "{point}");
        }
    }

    /// In a mount namespace of its own thread (a slave copy of the test's, as the spawn
    /// namespace is of the server's): the host's `/sys`, and the file systems below `/proc` and
    /// `/dev`, are gone from it; every other mount is still there; the test's own namespace
    /// still has all of them.
    #[test]
    fn a_pruned_namespace_keeps_every_mount_a_sandbox_binds_from() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: only root makes mount namespaces");
            return;
        }
        let host = mount_points();
        let (pruned, after) = std::thread::spawn(|| {
            unshare_as_slave().expect("a slave copy of the test's namespace");
            // Something to prune whatever the host has: a stack of two tmpfs below /dev.
            std::fs::create_dir_all("/dev/ridge-prune-test").expect("mkdir");
            for _ in 0..2 {
                mount(
                    Some("tmpfs"),
                    "/dev/ridge-prune-test",
                    Some("tmpfs"),
                    MsFlags::empty(),
                    Some("size=4k"),
                )
                .expect("a tmpfs below /dev");
            }
            let pruned = prune_unbound_mounts().expect("pruned");
            (pruned, mount_points())
        })
        .join()
        .expect("the namespace's thread");
        let _ = std::fs::remove_dir("/dev/ridge-prune-test");
        let unbound_on_host = host.iter().filter(|p| unbound(p)).count();
        assert!(pruned >= 2, "detached {pruned}");
        assert!(
            after.iter().all(|p| !unbound(p)),
            "left: {:?}",
            after
                .iter()
                .map(|p| String::from_utf8_lossy(p))
                .collect::<Vec<_>>()
        );
        // A copy lists its mounts in an order of its own.
        let mut kept: Vec<_> = host.iter().filter(|p| !unbound(p)).collect();
        let mut left: Vec<_> = after.iter().collect();
        kept.sort();
        left.sort();
        assert_eq!(left, kept);
        for point in [&b"/"[..], b"/proc", b"/dev"] {
            if host.iter().any(|p| p == point) {
                assert!(after.iter().any(|p| p == point), "{point:?} kept");
            }
        }
        // The test's own namespace lost nothing.
        assert_eq!(
            mount_points().iter().filter(|p| unbound(p)).count(),
            unbound_on_host
        );
    }
}
