//! Starting a worker's process without copying the server.
//!
//! A `fork` copies the page tables of the whole server, and every page the server writes after
//! it takes a copy-on-write fault, in every thread, although the child only runs a few system
//! calls before `exec` throws that copy away. In a burst of cold starts that was about a tenth
//! of the machine's time (docs/benchmarks.md, "the spawn without a fork"). So a worker's child
//! is made as `posix_spawn` makes one: `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own,
//! sharing the server's memory while the calling thread waits until it has called `exec`.
//! `posix_spawn` itself cannot run the jail's hooks (entering namespaces, joining cgroups,
//! rlimits), hence this module.
//!
//! Entering a user namespace is refused to a process that shares its memory. bubblewrap 0.5 and
//! later join the worker's user namespace themselves (`--userns`); with an older one, whose
//! hooks still enter it, the child gets a memory of its own (`CLONE_VFORK` alone: a fork whose
//! parent waits for the `exec`).
//!
//! In the child, until `exec`: every signal stays blocked (a handler of the server's must not
//! run there) until the handlers are reset to their defaults; then standard input, output and
//! error, a process group of its own, the hooks ([`Hooks::run`]), the working directory, an
//! empty signal mask, and `execve`. A step that fails writes its `errno` to a close-on-exec pipe
//! and ends the child; the parent reads the pipe once the child has called `exec` or ended.

use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};

use super::preexec::{Hooks, open_files_bound};
use crate::child::WorkerProcess;

/// Bytes of the child's stack: the hooks and the steps above, in a debug build too.
const STACK: usize = 128 * 1024;

/// A program to run as a worker (or the sandbox's start-up probe): its arguments, its whole
/// environment (nothing is inherited), its working directory and the jail's hooks.
pub struct WorkerCommand {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    current_dir: PathBuf,
    hooks: Hooks,
}

impl WorkerCommand {
    /// `program` (a path, not looked up on `PATH`) run in `current_dir`, with no arguments, an
    /// empty environment and no hooks.
    pub(super) fn new(program: &Path, current_dir: &Path) -> Self {
        Self {
            program: program.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: current_dir.to_owned(),
            hooks: Hooks::default(),
        }
    }

    pub(super) fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
    }

    pub(super) fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
    }

    pub(super) fn set_hooks(&mut self, hooks: Hooks) {
        self.hooks = hooks;
    }

    pub fn get_program(&self) -> &Path {
        &self.program
    }

    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.args.iter().map(OsString::as_os_str)
    }

    pub fn get_current_dir(&self) -> &Path {
        &self.current_dir
    }

    /// Runs the program with no input, its output and errors read to the end, and waits for it
    /// (blocking: the start-up probe).
    pub(super) fn output(&self) -> io::Result<std::process::Output> {
        let null = std::fs::File::open("/dev/null")?;
        let (mut out_r, out_w) = pipe()?;
        let (mut err_r, err_w) = pipe()?;
        let mut child = self.spawn([null.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()])?;
        drop((out_w, err_w));
        // A probe prints a few lines: reading one pipe to the end before the other cannot fill
        // it.
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        out_r.read_to_end(&mut stdout)?;
        err_r.read_to_end(&mut stderr)?;
        let status = child.wait_blocking()?;
        Ok(std::process::Output {
            status,
            stdout,
            stderr,
        })
    }

    /// The whole environment the program gets.
    pub fn get_envs(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// Starts the program with `stdio` as its descriptors 0, 1 and 2 (each above 2, or the
    /// same number), as the leader of a new process group. Returns once the child has called
    /// `exec`; an error of any step before (a hook, `exec` itself) is returned, the child
    /// reaped.
    pub fn spawn(&self, stdio: [RawFd; 3]) -> io::Result<WorkerProcess> {
        let program = c_string(self.program.as_os_str())?;
        let argv = std::iter::once(Ok(program.clone()))
            .chain(self.args.iter().map(|a| c_string(a)))
            .collect::<io::Result<Vec<_>>>()?;
        let envp = self
            .env
            .iter()
            .map(|(k, v)| {
                let mut pair = k.clone();
                pair.push("=");
                pair.push(v);
                c_string(&pair)
            })
            .collect::<io::Result<Vec<_>>>()?;
        let current_dir = c_string(self.current_dir.as_os_str())?;
        let argv_ptrs = null_terminated(&argv);
        let envp_ptrs = null_terminated(&envp);
        let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        let stack = Stack::new(STACK)?;
        let args = ChildArgs {
            program: program.as_ptr(),
            argv: argv_ptrs.as_ptr(),
            envp: envp_ptrs.as_ptr(),
            current_dir: current_dir.as_ptr(),
            stdio,
            hooks: &self.hooks,
            fd_bound: open_files_bound(),
            err_w: err_w.as_raw_fd(),
        };
        // The server's memory is shared unless a hook must enter a user namespace.
        let shared = if self.hooks.userns.is_none() {
            libc::CLONE_VM
        } else {
            0
        };
        let mut mask = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut mask),
        )
        .map_err(io::Error::from)?;
        // SAFETY: the child runs `child_main` on `stack`, with `args`, which point at data this
        // frame owns and keeps until `clone` returns; CLONE_VFORK suspends this thread until
        // the child has called `execve` or ended, so neither is freed while the child uses it.
        // With every signal blocked (this thread's mask, inherited) no handler of the server's
        // runs in the child before `child_main` resets them. `child_main` allocates nothing,
        // takes no lock and never returns into Rust code of the server's.
        let pid = unsafe {
            libc::clone(
                child_main,
                stack.top(),
                shared | libc::CLONE_VFORK | libc::SIGCHLD,
                std::ptr::from_ref(&args).cast_mut().cast(),
            )
        };
        let cloned = io::Error::last_os_error();
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
        drop(stack);
        if pid < 0 {
            return Err(cloned);
        }
        drop(err_w);
        let mut child = WorkerProcess::new(pid);
        let mut errno = Vec::new();
        match std::fs::File::from(err_r).read_to_end(&mut errno) {
            Ok(0) => Ok(child),
            Ok(_) => {
                let _ = child.wait_blocking();
                let errno = errno
                    .first_chunk::<4>()
                    .map_or(libc::EINVAL, |e| i32::from_ne_bytes(*e));
                Err(io::Error::from_raw_os_error(errno))
            }
            Err(e) => {
                let _ = child.start_kill();
                let _ = child.wait_blocking();
                Err(e)
            }
        }
    }
}

impl std::fmt::Debug for WorkerCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerCommand")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("current_dir", &self.current_dir)
            .finish_non_exhaustive()
    }
}

/// A pipe, both ends close-on-exec: (read end, write end).
fn pipe() -> io::Result<(std::fs::File, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    Ok((std::fs::File::from(read), write))
}

fn c_string(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a NUL byte in `{}`", s.to_string_lossy()),
        )
    })
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The child's stack: anonymous memory below a guard page, so that an overflow faults instead
/// of writing over the server's heap.
struct Stack {
    base: *mut libc::c_void,
    len: usize,
}

impl Stack {
    fn new(size: usize) -> io::Result<Self> {
        let page = 4096;
        let len = size + page;
        // SAFETY: mmap(2) of fresh anonymous memory, checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Self { base, len };
        // SAFETY: mprotect(2) of the lowest page of the mapping made above.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The highest address: the stack grows down from it (page aligned, so 16-byte aligned as
    /// the ABI wants).
    fn top(&self) -> *mut libc::c_void {
        self.base.cast::<u8>().wrapping_add(self.len).cast()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping `new` made, once no child runs on it (`spawn` drops it
        // after `clone` returned, when the child has called `exec` or ended).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// What the child reads: pointers into the spawning frame, and plain integers.
struct ChildArgs<'a> {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    current_dir: *const libc::c_char,
    stdio: [RawFd; 3],
    hooks: &'a Hooks,
    fd_bound: RawFd,
    err_w: RawFd,
}

/// The child, until `execve`. See the module's documentation for the order of its steps.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildArgs` of `spawn`'s frame, which waits (CLONE_VFORK) until
    // this child has called `execve` or ended.
    let a = unsafe { &*arg.cast::<ChildArgs<'_>>() };
    let errno = match child_steps(a) {
        Err(e) => e.raw_os_error().unwrap_or(libc::EINVAL),
        Ok(()) => libc::EINVAL,
    };
    let bytes = errno.to_ne_bytes();
    // SAFETY: write(2) of a local buffer to the error pipe, then exit(2) of this process alone
    // (`SYS_exit`, not glibc's `exit`: nothing of the server's runs).
    unsafe {
        libc::write(a.err_w, bytes.as_ptr().cast(), bytes.len());
        libc::syscall(libc::SYS_exit, 127);
    }
    127
}

/// The child's steps; returns only on a failure (`execve` does not return otherwise).
fn child_steps(a: &ChildArgs<'_>) -> io::Result<()> {
    let check = |rc: libc::c_int| {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // Handlers of the server's (Tokio's, for one) would run on this stack with the server's
    // memory: the default for each, and for SIGPIPE, which Rust programs ignore, as
    // `std::process::Command` does.
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction(2) reading into and writing from a local, zeroed struct; without
        // CLONE_SIGHAND the child's handlers are its own.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut action) == 0
                && action.sa_sigaction != libc::SIG_DFL
                && (action.sa_sigaction != libc::SIG_IGN || signal == libc::SIGPIPE)
            {
                let default: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
    }
    for (target, &fd) in a.stdio.iter().enumerate() {
        let target = target as RawFd;
        // SAFETY: dup2(2) and fcntl(2) on descriptor numbers.
        check(unsafe {
            if fd == target {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, target)
            }
        })?;
    }
    // SAFETY: setpgid(2) with integer arguments: a process group led by this child.
    check(unsafe { libc::setpgid(0, 0) })?;
    a.hooks.run(a.fd_bound)?;
    // SAFETY: chdir(2) with a NUL-terminated path the spawning frame owns.
    check(unsafe { libc::chdir(a.current_dir) })?;
    // SAFETY: sigprocmask(2) with a local, emptied set: the program starts with no signal
    // blocked, as from `std::process::Command`.
    check(unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut())
    })?;
    // SAFETY: execve(2) with NUL-terminated strings and NULL-terminated arrays of them, all
    // owned by the spawning frame.
    unsafe { libc::execve(a.program, a.argv, a.envp) };
    Err(io::Error::last_os_error())
}

#[cfg(test)]
mod tests;
