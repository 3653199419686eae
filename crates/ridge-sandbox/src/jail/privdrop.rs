//! How a root-mode worker drops from root of its user namespace to its own uid, between
//! bubblewrap and the worker's program: Ridge's own helper, or util-linux's `setpriv`.
//!
//! The helper (`helpers/drop.rs`, built by the crate's build script) does what
//! `setpriv --reuid --regid --clear-groups --inh-caps=-all` does, and checks the result, as a
//! static executable without the C library: on a virtual machine every glibc program's start
//! pays for `ld.so` and for the library's CPU detection, whose `cpuid` instructions trap to
//! the hypervisor, and `setpriv` cost 1.3 ms of CPU per worker start where the helper costs
//! 0.04 ms (docs/benchmarks.md, "the drop without setpriv"). It runs from a sealed memfd,
//! which bubblewrap inherits and executes as `/proc/self/fd/N`: there is no file to install,
//! find, or keep in step with the server. `setpriv` remains where the helper is not built
//! (targets other than x86_64 Linux) or cannot run (a host with `vm.memfd_noexec = 2`): the
//! sandbox's start-up probe tries the helper first ([`super::Sandbox`]).

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

use crate::find_on_path;

/// The helper's executable, built by `build.rs`.
#[cfg(ridge_drop_helper)]
const HELPER: Option<&[u8]> = Some(include_bytes!(concat!(env!("OUT_DIR"), "/ridge-drop")));
#[cfg(not(ridge_drop_helper))]
const HELPER: Option<&[u8]> = None;

/// `MFD_EXEC` (Linux 6.3): an executable memfd even where `vm.memfd_noexec = 1` makes them
/// not executable by default. Older kernels refuse the flag; their memfds are executable.
const MFD_EXEC: MFdFlags = MFdFlags::from_bits_retain(0x0010);

/// What drops a root-mode worker to its uid.
#[derive(Debug)]
pub(crate) enum Dropper {
    /// Ridge's helper, in a sealed memfd that bubblewrap inherits.
    Helper(OwnedFd),
    /// util-linux's `setpriv`, under `/usr`.
    Setpriv(PathBuf),
}

impl Dropper {
    /// The helper, loaded into a sealed, executable memfd; `Ok(None)` where it is not built.
    pub(super) fn helper() -> std::io::Result<Option<Self>> {
        let Some(program) = HELPER else {
            return Ok(None);
        };
        let flags = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
        let fd = match memfd_create(c"ridge-drop", flags | MFD_EXEC) {
            Err(nix::errno::Errno::EINVAL) => memfd_create(c"ridge-drop", flags),
            other => other,
        }?;
        let mut file = std::fs::File::from(fd);
        file.write_all(program)?;
        let seals = SealFlag::F_SEAL_SEAL
            | SealFlag::F_SEAL_SHRINK
            | SealFlag::F_SEAL_GROW
            | SealFlag::F_SEAL_WRITE;
        fcntl(&file, FcntlArg::F_ADD_SEALS(seals))?;
        Ok(Some(Self::Helper(file.into())))
    }

    /// util-linux's `setpriv`, found under `/usr`.
    pub(super) fn setpriv() -> Result<Self, String> {
        find_on_path("setpriv")
            .filter(|p| p.starts_with("/usr"))
            .map(Self::Setpriv)
            .ok_or_else(|| "`setpriv` (util-linux) was not found under /usr".to_owned())
    }

    /// The descriptor bubblewrap must inherit, at its number.
    pub(super) fn fd(&self) -> Option<RawFd> {
        match self {
            Self::Helper(fd) => Some(fd.as_raw_fd()),
            Self::Setpriv(_) => None,
        }
    }

    /// The command line that runs a program as `uid` and `gid`, before the program's own.
    pub(super) fn argv(&self, uid: u32, gid: u32) -> Vec<OsString> {
        match self {
            Self::Helper(fd) => {
                let fd = fd.as_raw_fd();
                vec![
                    format!("/proc/self/fd/{fd}").into(),
                    fd.to_string().into(),
                    uid.to_string().into(),
                    gid.to_string().into(),
                ]
            }
            Self::Setpriv(setpriv) => vec![
                setpriv.into(),
                format!("--reuid={uid}").into(),
                format!("--regid={gid}").into(),
                "--clear-groups".into(),
                "--inh-caps=-all".into(),
                "--".into(),
            ],
        }
    }

    /// What it is, for the sandbox's report.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Helper(_) => "Ridge's drop helper".to_owned(),
            Self::Setpriv(path) => path.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::process::{Command, Output, Stdio};

    use nix::fcntl::FdFlag;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

    use super::*;

    /// The helper, as a descriptor a child inherits (a copy without close-on-exec), and how to
    /// run it: `/proc/self/fd/N N args...`.
    fn run_helper(args: &[&str]) -> (Output, RawFd) {
        let Ok(Some(Dropper::Helper(fd))) = Dropper::helper() else {
            panic!("the helper is built on x86_64 Linux and loads");
        };
        let inherited = nix::unistd::dup(fd.as_fd()).expect("dup");
        let n = inherited.as_raw_fd();
        let output = Command::new(format!("/proc/self/fd/{n}"))
            .arg(n.to_string())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the helper");
        (output, n)
    }

    /// Asserts that the helper exited with `code`, having said `says` on standard error.
    fn assert_failed(output: &Output, code: i32, says: &str) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }

    #[test]
    fn the_helper_is_a_sealed_static_executable() {
        let Ok(Some(helper)) = Dropper::helper() else {
            panic!("the helper is built on x86_64 Linux and loads");
        };
        let fd = helper.fd().expect("a descriptor");
        let bytes = std::fs::read(format!("/proc/self/fd/{fd}")).expect("read it");
        assert!(bytes.starts_with(b"\x7fELF"), "an ELF executable");
        assert!(bytes.len() < 64 * 1024, "{} bytes", bytes.len());
        assert!(
            !bytes.windows(8).any(|w| w == b"ld-linux"),
            "no program interpreter: it is static"
        );
        let Dropper::Helper(fd) = &helper else {
            unreachable!()
        };
        let seals = fcntl(fd, FcntlArg::F_GET_SEALS).expect("F_GET_SEALS");
        let seals = SealFlag::from_bits_truncate(seals);
        assert!(
            seals.contains(SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SEAL),
            "{seals:?}"
        );
        assert_eq!(
            helper.argv(1000, 65534),
            [
                format!("/proc/self/fd/{fd}", fd = fd.as_raw_fd()),
                fd.as_raw_fd().to_string()
            ]
            .into_iter()
            .chain(["1000".to_owned(), "65534".to_owned()])
            .map(OsString::from)
            .collect::<Vec<_>>()
        );
    }

    /// As root (the mode it is used in) the helper drops to the uid and gid in all three ids,
    /// with no supplementary group and no capability in any set, `no_new_privs` set, and its
    /// own descriptor closed before the program runs.
    #[test]
    fn the_helper_drops_to_the_uid_with_nothing_left() {
        if !nix::unistd::geteuid().is_root() {
            // The drop itself is refused to anyone else: the helper says so, and runs nothing.
            let (output, _) = run_helper(&["1000", "1000", "/bin/true"]);
            assert_failed(&output, 126, "setgroups(0) failed");
            return;
        }
        let script = "grep -E '^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Amb)|NoNewPrivs):' \
                      /proc/self/status; ls /proc/self/fd";
        let (output, fd) = run_helper(&["65534", "65533", "/bin/sh", "-c", script]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let out = String::from_utf8_lossy(&output.stdout);
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| panic!("no {name} in {out}"))
        };
        assert_eq!(field("Uid"), "65534 65534 65534 65534");
        assert_eq!(field("Gid"), "65533 65533 65533 65533");
        assert_eq!(field("Groups"), "");
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            assert_eq!(field(set), "0000000000000000", "{set}");
        }
        assert_eq!(field("NoNewPrivs"), "1");
        let fds: Vec<&str> = out.lines().filter(|l| l.parse::<u32>().is_ok()).collect();
        assert!(!fds.contains(&fd.to_string().as_str()), "{fds:?}");
    }

    /// The drop helper run as `--await-worker` on a socket: (the child, this test's end once the
    /// helper said it is up).
    fn awaiting_helper() -> (std::process::Child, std::fs::File) {
        let Ok(Some(Dropper::Helper(helper))) = Dropper::helper() else {
            panic!("the helper is built on x86_64 Linux and loads");
        };
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        // The helper inherits its end only (this test is a process of its own).
        fcntl(&theirs, FcntlArg::F_SETFD(FdFlag::empty())).expect("inheritable");
        let exe = nix::unistd::dup(helper.as_fd()).expect("dup");
        let n = exe.as_raw_fd();
        let child = Command::new(format!("/proc/self/fd/{n}"))
            .args([n.to_string(), "65534".into(), "65534".into()])
            .args(["--await-worker".to_owned(), theirs.as_raw_fd().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the helper");
        drop(theirs);
        let mut up = [0u8; 1];
        let mut ours = std::fs::File::from(ours);
        std::io::Read::read_exact(&mut ours, &mut up).expect("the helper says it is up");
        assert_eq!(&up, b"r");
        (child, ours)
    }

    /// One message of the worker's or the zygote's: a tag and a 32-bit value.
    fn message(tag: u8, value: u32) -> Vec<u8> {
        std::iter::once(tag).chain(value.to_le_bytes()).collect()
    }

    /// `--await-worker`, as a zygote's sandbox runs it: it drops, says it is up, and exits as
    /// the zygote says its worker ended (the code, or 128 and the signal), whether or not the
    /// worker said its pid first (it fails before that when its drop fails); with 125 when no
    /// worker comes (the socket closed), and refuses a message it does not know.
    #[test]
    fn awaiting_a_worker_exits_as_the_zygote_says_it_ended() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let usage = run_helper(&["65534", "65534", "--await-worker"]).0;
        assert_failed(&usage, 126, "usage: drop FD UID GID --await-worker SOCKET");
        // The messages sent, then the exit code and what it says.
        type Case = (&'static [(u8, u32)], i32, &'static str);
        let cases: [Case; 8] = [
            // Its zygote gone (no status), a worker that has ended, or no pid at all.
            (&[(b'w', i32::MAX as u32)], 124, ""),
            (
                &[(b'w', 0)],
                126,
                "watching the worker whose zygote is gone failed (errno 22)",
            ),
            (&[], 125, "waiting for the worker (none came) failed"),
            (&[(b'w', 2), (b'e', 3 << 8)], 3, ""),
            (&[(b'w', 2), (b'e', 0)], 0, ""),
            (&[(b'w', 2), (b'e', 9)], 128 + 9, ""),
            (&[(b'e', 126 << 8)], 126, ""),
            (&[(b'x', 0)], 126, "an unknown one"),
        ];
        for (messages, code, says) in cases {
            let (child, mut ours) = awaiting_helper();
            for &(tag, value) in messages {
                std::io::Write::write_all(&mut ours, &message(tag, value)).expect("write");
            }
            drop(ours);
            let output = child.wait_with_output().expect("wait");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(code), "{messages:?}: {stderr}");
            assert!(stderr.contains(says), "{messages:?}: {stderr}");
        }
    }

    /// A worker that outlives its zygote (the socket closes after the worker's pid, with no
    /// status) is waited for through a pidfd: the helper lives until that process ends, then
    /// exits with 124.
    #[test]
    fn awaiting_a_worker_whose_zygote_is_gone_waits_for_its_end() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let mut worker = Command::new("sleep").arg("30").spawn().expect("sleep");
        let (mut child, mut ours) = awaiting_helper();
        std::io::Write::write_all(&mut ours, &message(b'w', worker.id())).expect("write");
        drop(ours);
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the helper waits while the worker lives"
        );
        worker.kill().expect("kill");
        worker.wait().expect("reap");
        let output = child.wait_with_output().expect("wait");
        assert_eq!(
            output.status.code(),
            Some(124),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn bad_arguments_and_a_missing_program_are_said_and_run_nothing() {
        for (args, code, says) in [
            (&["1000", "1000"][..], 126, "usage: drop FD UID GID PROGRAM"),
            (&["x", "1000", "/bin/true"][..], 126, "reading UID failed"),
            (&["1000", "-1", "/bin/true"][..], 126, "reading GID failed"),
            (
                &["4294967296", "1", "/bin/true"][..],
                126,
                "reading UID failed",
            ),
        ] {
            assert_failed(&run_helper(args).0, code, says);
        }
        if nix::unistd::geteuid().is_root() {
            let (output, _) = run_helper(&["65534", "65534", "/nonexistent/program"]);
            assert_failed(&output, 127, "exec failed (errno 2)");
        }
    }
}
