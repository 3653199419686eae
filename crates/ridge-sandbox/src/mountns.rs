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

use std::sync::OnceLock;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

/// What [`enter_private_mount_namespace`] achieved in this process, if it ran.
static PRIVATE: OnceLock<Result<(), String>> = OnceLock::new();

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
    PRIVATE.get_or_init(|| result).clone()
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
