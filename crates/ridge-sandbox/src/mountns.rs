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
//! copies about twenty mounts whatever the node holds, and sees no other function's package.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use nix::libc;
use nix::mount::{MsFlags, mount};
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
        unshare(CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("cannot make a mount namespace of its own: {e}"))
            .and_then(|()| {
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_SLAVE,
                    None::<&str>,
                )
                .map_err(|e| format!("cannot make `/` a slave of the host's mounts: {e}"))
            })
    } else {
        Err("Ridge is not root, so it cannot make a mount namespace of its own".to_owned())
    };
    if result.is_ok() {
        // Made now, while the server's namespace holds only the host's mounts.
        let _ = SPAWN.set(make_spawn_namespace());
    }
    PRIVATE.get_or_init(|| result).clone()
}

/// A copy of the current mount namespace, entered and left again, and tried as a worker's
/// start will use it: its descriptor. Single thread only (as [`enter_private_mount_namespace`]).
fn make_spawn_namespace() -> Result<OwnedFd, String> {
    let own = File::open("/proc/self/ns/mnt")
        .map_err(|e| format!("cannot open this server's mount namespace: {e}"))?;
    unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("cannot make the namespace workers start from: {e}"))?;
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
