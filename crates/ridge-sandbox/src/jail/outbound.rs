//! Outbound network for a worker: a network namespace of its own, plugged into the host's
//! network by `pasta` (Debian `passt`), which carries the worker's TCP, UDP and ICMP through
//! sockets of its own on the host (a NAT without any privilege or host configuration).
//!
//! What a worker granted outbound network reaches, and what it does not:
//! - other machines, and the host's own non-loopback addresses, through pasta's sockets, as any
//!   other machine on the network reaches them;
//! - not the host's loopback (Ridge's own API, every service bound to `127.0.0.1`):
//!   `--no-map-gw` keeps pasta from mapping the gateway address to it, and `-T none -U none`
//!   from forwarding the namespace's loopback ports to the host's;
//! - not link-local addresses, 169.254.0.0/16 (the cloud metadata address 169.254.169.254
//!   among them): a `prohibit` route in the namespace, which the worker, without capabilities,
//!   cannot remove;
//! - nothing inbound (`-t none -u none`), and no IPv6 (`-4`).
//!
//! The namespace gets an address of its own ([`NS_ADDRESS`], as QEMU's user networking), not a
//! copy of the host's, so that the host's address is a remote one seen from the worker.
//!
//! Started as root, pasta drops to `--runas` before it opens the namespaces: the worker's own
//! uid, which owns the worker's user namespace (see `userns.rs`) and may therefore join it. It
//! is handed the namespaces as inherited descriptors (`/proc/self/fd/N`, which a process may
//! always open). It daemonizes once the namespace is configured, and is then moved into the
//! worker's cgroups: killed with the worker (and by the sweep of a crashed server's cgroups),
//! its CPU and new allocations (the worker's own traffic) charged to the worker, its 20 MB of
//! start-up allocations not. [`Pasta`] also kills it through a pidfd, so never another
//! process, when the worker's jail is killed or dropped.

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::libc;
use nix::sys::memfd::MFdFlags;

use crate::cgroup::WorkerCgroup;
use crate::path::find_on_path;
use crate::{SandboxError, userns};

/// The worker's address in its namespace, its prefix length and its gateway (pasta's side).
pub(super) const NS_ADDRESS: (&str, &str, &str) = ("10.0.2.15", "24", "10.0.2.2");
/// Addresses no outbound worker reaches: link-local, with the cloud metadata address.
pub(super) const PROHIBITED: &[&str] = &["169.254.0.0/16"];

/// pasta and iproute2, found and tried at start-up.
#[derive(Debug)]
pub(super) struct Outbound {
    pasta: PathBuf,
    ip: PathBuf,
}

impl Outbound {
    /// Finds pasta (`configured`, or `pasta` on `PATH`) and `ip`, and plugs one throwaway
    /// namespace, owned by `uid`, into the network to learn whether this host lets pasta work
    /// as a worker's uid (it needs `/dev/net/tun` open to every user, mode 0666).
    pub(super) fn find(configured: Option<&Path>, uid: u32, gid: u32) -> Result<Self, String> {
        let pasta = match configured {
            Some(path) if crate::is_executable(path) => path.to_owned(),
            Some(path) => {
                return Err(format!(
                    "sandbox.pasta `{}` is not a program",
                    path.display()
                ));
            }
            None => find_on_path("pasta").ok_or(
                "`pasta` was not found on PATH; install it (Debian/Ubuntu: `apt-get install \
                 passt`) or set sandbox.pasta",
            )?,
        };
        let ip = find_on_path("ip")
            .or_else(|| {
                ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"]
                    .into_iter()
                    .map(PathBuf::from)
                    .find(|p| crate::is_executable(p))
            })
            .ok_or("`ip` (iproute2) was not found")?;
        let outbound = Self { pasta, ip };
        let ns = userns::create(uid, gid, true).map_err(|e| e.to_string())?;
        let net = ns.net.as_ref().ok_or("no network namespace was created")?;
        outbound
            .attach(uid, &ns.user, net, None)
            .map(drop)
            .map_err(|e| e.to_string())?;
        Ok(outbound)
    }

    /// Plugs the network namespace `net` (owned by `user`, which `uid` owns) into the host's
    /// network, and closes the prohibited addresses. pasta runs in `cgroup` until the returned
    /// guard is dropped or killed.
    pub(super) fn attach(
        &self,
        uid: u32,
        user: &OwnedFd,
        net: &OwnedFd,
        cgroup: Option<&WorkerCgroup>,
    ) -> Result<Pasta, SandboxError> {
        let fail = |what: String| SandboxError::Spawn(format!("outbound network: {what}"));
        // Closed before pasta opens the namespace to the host's network.
        for prefix in PROHIBITED {
            let mut route = Command::new(&self.ip);
            route.args(["-4", "route", "add", "prohibit", prefix]);
            enter_net(&mut route, net.as_raw_fd());
            run(route, &self.ip).map_err(|e| fail(format!("cannot close {prefix}: {e}")))?;
        }
        // pasta opens its pid file as `uid`: a memfd, which anyone may open, handed down.
        let pid_file = nix::sys::memfd::memfd_create(c"pasta.pid", MFdFlags::MFD_CLOEXEC)
            .map_err(|e| fail(format!("memfd_create: {e}")))?;
        let fds = [user, net, &pid_file].map(AsRawFd::as_raw_fd);
        let mut pasta = Command::new(&self.pasta);
        pasta.args(pasta_args(uid, fds));
        inherit(&mut pasta, fds.to_vec());
        run(pasta, &self.pasta).map_err(fail)?;
        // pasta writes its pid before it daemonizes and its first process exits.
        let mut pid = String::new();
        std::fs::File::from(pid_file)
            .read_to_string(&mut pid)
            .map_err(|e| fail(format!("pasta's pid file: {e}")))?;
        let pid: libc::pid_t = pid
            .trim()
            .parse()
            .map_err(|e| fail(format!("pasta's pid file `{}`: {e}", pid.trim())))?;
        let guard = Pasta::open(pid).map_err(|e| fail(format!("pidfd_open({pid}): {e}")))?;
        if let Some(cgroup) = cgroup {
            cgroup
                .adopt(pid)
                .map_err(|e| fail(format!("cannot move pasta into the worker's cgroup: {e}")))?;
        }
        Ok(guard)
    }
}

/// Runs `command` (the program at `path`) to its end; why it failed, with what it printed.
fn run(mut command: Command, path: &Path) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", path.display()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{}` failed ({}): {}",
        path.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// pasta's command line: join the namespaces at inherited descriptors `[user, net]` as `uid`,
/// give the namespace [`NS_ADDRESS`], forward nothing inbound and never to the host's loopback,
/// write its pid to the descriptor `pid_file`.
pub(super) fn pasta_args(uid: u32, [user, net, pid_file]: [RawFd; 3]) -> Vec<OsString> {
    let (address, prefix, gateway) = NS_ADDRESS;
    let mut args: Vec<OsString> = [
        "--runas".to_owned(),
        uid.to_string(),
        "--userns".to_owned(),
        format!("/proc/self/fd/{user}"),
        "--netns".to_owned(),
        format!("/proc/self/fd/{net}"),
        "--config-net".to_owned(),
        "--no-map-gw".to_owned(),
        "-4".to_owned(),
    ]
    .map(OsString::from)
    .to_vec();
    for (option, value) in [
        ("-t", "none"),
        ("-u", "none"),
        ("-T", "none"),
        ("-U", "none"),
        ("-a", address),
        ("-n", prefix),
        ("-g", gateway),
    ] {
        args.push(option.into());
        args.push(value.into());
    }
    args.extend([
        "--quiet".into(),
        "--pid".into(),
        format!("/proc/self/fd/{pid_file}").into(),
    ]);
    args
}

/// A running pasta, killed when dropped (or by [`Pasta::kill`]) through a pidfd, which names
/// that process and no other even once its pid is reused.
#[derive(Debug)]
pub(crate) struct Pasta {
    pidfd: OwnedFd,
}

impl Pasta {
    fn open(pid: libc::pid_t) -> io::Result<Self> {
        crate::child::pidfd_open(pid)
            .map(|pidfd| Self { pidfd })
            .ok_or_else(io::Error::last_os_error)
    }

    pub(crate) fn kill(&self) {
        let _ = crate::child::pidfd_kill(&self.pidfd);
    }
}

impl Drop for Pasta {
    /// Kills pasta, and reaps it if Ridge is its parent (Ridge as a container's init, which
    /// inherits every daemon): otherwise `waitid` answers `ECHILD` at once.
    fn drop(&mut self) {
        self.kill();
        // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let id = libc::id_t::try_from(self.pidfd.as_raw_fd()).unwrap_or(libc::id_t::MAX);
        // SAFETY: waitid(2) on an open pidfd with a valid pointer to a local struct; a killed
        // process ends at once, so this does not block for long.
        unsafe { libc::waitid(libc::P_PIDFD, id, &mut info, libc::WEXITED) };
    }
}

/// Makes `command`'s program inherit `fds` at the same numbers.
fn inherit(command: &mut Command, fds: Vec<RawFd>) {
    let hook = move || -> io::Result<()> {
        for fd in &fds {
            // SAFETY: fcntl(2) clearing FD_CLOEXEC on a descriptor the caller keeps open.
            if unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook only calls fcntl(2), async-signal-safe, on numbers gathered before the
    // fork; it neither allocates nor takes locks.
    unsafe { command.pre_exec(hook) };
}

/// Makes `command`'s program run in the network namespace at descriptor `net`.
fn enter_net(command: &mut Command, net: RawFd) {
    let hook = move || -> io::Result<()> {
        // SAFETY: setns(2) on an open namespace descriptor; the child is single-threaded.
        if unsafe { libc::setns(net, libc::CLONE_NEWNET) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only calls setns(2), async-signal-safe, on a number gathered before the
    // fork; it neither allocates nor takes locks.
    unsafe { command.pre_exec(hook) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasta_forwards_nothing_inbound_and_never_to_the_host_loopback() {
        let args = pasta_args(1879048192, [5, 6, 7]);
        let line = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            line,
            "--runas 1879048192 --userns /proc/self/fd/5 --netns /proc/self/fd/6 --config-net \
             --no-map-gw -4 -t none -u none -T none -U none -a 10.0.2.15 -n 24 -g 10.0.2.2 \
             --quiet --pid /proc/self/fd/7"
        );
    }
}
