//! `drop FD UID GID PROGRAM [ARG...]`: the last step of a root-mode worker's start, between
//! bubblewrap and the worker's program. bubblewrap runs it as root of the worker's own user
//! namespace, with `CAP_SETUID` and `CAP_SETGID` only; it drops to `UID` and `GID` (real,
//! effective and saved, no supplementary groups, no capabilities left in any set, inheritable
//! included), checks that it did, and `exec`s `PROGRAM` with the environment it was given.
//!
//! It does what `setpriv --reuid=UID --regid=GID --clear-groups --inh-caps=-all` did, without
//! the C library: every program linked with glibc spends its start in `ld.so` and in the
//! library's CPU and cache detection, whose dozens of `cpuid` instructions each trap to the
//! hypervisor on a virtual machine (7.4 µs each on the one Ridge is benchmarked on, 0.65 ms a
//! start). `setpriv` cost 1.3 ms of CPU per worker start there; this costs 0.04 ms
//! (docs/benchmarks.md, "the drop without setpriv").
//!
//! `ridge-sandbox`'s build script compiles this file alone (`#![no_std]`, no C library, no
//! start files, a static executable of about a kilobyte) and the server runs it from a sealed
//! memfd, as `/proc/self/fd/FD`: no file to install, find or keep in step with the server.
//! `FD` is that memfd, inherited through bubblewrap; it is marked close-on-exec here, so the
//! worker does not inherit it.
//!
//! Any failure writes `ridge-drop: <what> failed (errno N)` to standard error and exits with
//! 126 (127 when `PROGRAM` cannot be run), before `PROGRAM` runs: a worker never starts with
//! more than its uid's rights.
//!
//! `drop FD UID GID --await-worker SOCKET`: the same drop, then, instead of a program, the
//! sandbox's process 1 waiting for a worker forked by a zygote (`ridge-runtime-process`'s
//! `zygote.rs`), which enters the sandbox's namespaces from outside. The worker is the
//! zygote's child, forked straight into this PID namespace. This process writes one byte to
//! `SOCKET` once the sandbox is made (the server learns its host pid from that message's
//! credentials), lets the kernel reap the sandbox's orphans (`SIGCHLD` ignored), and reads
//! messages of five bytes, a tag and a 32-bit little-endian value: `w` and the worker's pid in
//! the sandbox, from the worker once it has dropped its privileges; `e` and its wait status,
//! from the zygote once it has reaped it. It then exits as bubblewrap reports its own child:
//! the worker's exit status, or 128 and the signal that killed it. No worker (the socket
//! closed first) exits with 125. A worker that outlives its zygote (the socket closed after
//! `w`) is waited for through a pidfd, and its end, whose status went with the zygote, exits
//! with 124.
//!
//! x86_64 Linux only; the build script falls back to `setpriv` elsewhere.

#![no_std]
#![no_main]

use core::arch::{asm, global_asm};

// The kernel starts a static executable at `_start` with the stack holding argc, the argv
// pointers, a null, the envp pointers, a null. `main` gets that stack pointer, on a stack
// aligned as the C ABI wants.
global_asm!(
    ".globl _start",
    "_start:",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {main}",
    "ud2",
    main = sym main,
);

const SYS_READ: usize = 0;
const SYS_WRITE: usize = 1;
const SYS_POLL: usize = 7;
const SYS_RT_SIGACTION: usize = 13;
const SYS_FCNTL: usize = 72;
const SYS_SETGROUPS: usize = 116;
const SYS_SETRESUID: usize = 117;
const SYS_GETRESUID: usize = 118;
const SYS_SETRESGID: usize = 119;
const SYS_GETRESGID: usize = 120;
const SYS_CAPGET: usize = 125;
const SYS_CAPSET: usize = 126;
const SYS_PRCTL: usize = 157;
const SYS_EXECVE: usize = 59;
const SYS_EXIT_GROUP: usize = 231;
const SYS_PIDFD_OPEN: usize = 434;

const F_SETFD: usize = 2;
const FD_CLOEXEC: usize = 1;
const PR_SET_NO_NEW_PRIVS: usize = 38;
/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Exit status of a failed drop, and of a program that could not be run (as a shell's).
const FAILED: usize = 126;
const NOT_RUN: usize = 127;
/// Exit status of a sandbox whose worker never came (`--await-worker`).
const NO_WORKER: usize = 125;
/// Exit status of a sandbox whose worker ended after its zygote, which would have said how.
const LOST: usize = 124;
const EINTR: isize = 4;
const ESRCH: isize = 3;
const SIGCHLD: usize = 17;
const SIG_IGN: usize = 1;
const POLLIN: i16 = 1;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct`, one of the two words of version 3.
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `struct sigaction` as the kernel takes it (x86_64).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: usize,
    restorer: usize,
    mask: u64,
}

/// `struct pollfd`.
#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

/// A raw system call of up to three arguments: its result, or `-errno`.
///
/// # Safety
/// The arguments must be what system call `number` expects (valid pointers where it reads or
/// writes memory).
unsafe fn syscall(number: usize, a: usize, b: usize, c: usize) -> isize {
    // SAFETY: the caller's.
    unsafe { syscall4(number, a, b, c, 0) }
}

/// [`syscall`] with a fourth argument.
///
/// # Safety
/// As [`syscall`]'s.
unsafe fn syscall4(number: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let result: isize;
    // SAFETY: the caller's; `syscall` clobbers rcx and r11, which are declared.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number as isize => result,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            // The fifth and sixth arguments are zero: prctl(2) requires its unused ones to be.
            in("r8") 0usize,
            in("r9") 0usize,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

fn exit(code: usize) -> ! {
    // SAFETY: exit_group takes a status and does not return.
    unsafe { syscall(SYS_EXIT_GROUP, code, 0, 0) };
    loop {}
}

fn write_all(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length are those of `bytes`.
        let n = unsafe { syscall(SYS_WRITE, 2, bytes.as_ptr() as usize, bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Writes `n` in decimal, a digit at a time (this is the error path).
fn write_number(n: usize) {
    if n >= 10 {
        write_number(n / 10);
    }
    write_all(&[b'0' + (n % 10) as u8]);
}

/// Says which step failed, with the errno of `result` if it is one, and exits with `code`.
fn fail(what: &str, result: isize, code: usize) -> ! {
    write_all(b"ridge-drop: ");
    write_all(what.as_bytes());
    write_all(b" failed");
    if result < 0 {
        write_all(b" (errno ");
        write_number(result.unsigned_abs());
        write_all(b")");
    }
    write_all(b"\n");
    exit(code)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    fail("a step", 0, FAILED)
}

/// The precompiled `core` refers to the unwinder's personality routine; with `panic = "abort"`
/// nothing unwinds, so nothing calls it.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

/// The NUL-terminated string at `p`.
///
/// # Safety
/// `p` points at a NUL-terminated string that lives as long as the process (an argument).
unsafe fn c_str(p: *const u8) -> &'static [u8] {
    let mut len = 0;
    // SAFETY: the caller's: every byte up to the NUL is readable. A volatile read, or the
    // compiler would make this loop a call to the C library's `strlen`, which is not here.
    while unsafe { p.add(len).read_volatile() } != 0 {
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL, read above.
    unsafe { core::slice::from_raw_parts(p, len) }
}

/// A decimal number that fits in 32 bits, nothing else.
fn parse(digits: &[u8], what: &str) -> u32 {
    if digits.is_empty() || digits.len() > 10 {
        fail(what, 0, FAILED);
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            fail(what, 0, FAILED);
        }
        value = value * 10 + u64::from(d - b'0');
    }
    u32::try_from(value).unwrap_or_else(|_| fail(what, 0, FAILED))
}

/// A system call that must succeed: on an error, says which `step` failed and exits.
///
/// # Safety
/// As [`syscall`]'s.
unsafe fn must(step: &str, number: usize, a: usize, b: usize, c: usize) {
    // SAFETY: the caller's.
    let r = unsafe { syscall(number, a, b, c) };
    if r < 0 {
        fail(step, r, FAILED);
    }
}

/// Fails unless the real, effective and saved ids that `getres` (`getresuid` or `getresgid`)
/// reports are all `expected`.
fn check_ids(getres: usize, expected: usize, what: &str) {
    let (mut real, mut effective, mut saved) = (u32::MAX, u32::MAX, u32::MAX);
    // SAFETY: three pointers to this frame's ids, which the call writes.
    unsafe {
        must(
            what,
            getres,
            &raw mut real as usize,
            &raw mut effective as usize,
            &raw mut saved as usize,
        )
    };
    if [real, effective, saved] != [expected as u32; 3] {
        fail(what, 0, FAILED);
    }
}

/// Runs the steps; `sp` is the stack pointer the kernel started the process with.
///
/// # Safety
/// Called once, by `_start`, with that stack pointer.
unsafe extern "C" fn main(sp: *const usize) -> ! {
    // SAFETY: the kernel's layout: argc, then argc argument pointers and a null, then the
    // environment's pointers and a null.
    let (argc, argv, envp) = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        (argc, argv, argv.add(argc + 1))
    };
    if argc < 5 {
        fail(
            "usage: drop FD UID GID PROGRAM [ARG...]: reading the arguments",
            0,
            FAILED,
        );
    }
    // SAFETY: arguments 1 to 3 exist (argc >= 5) and are NUL-terminated.
    let (fd, uid, gid) = unsafe {
        (
            parse(c_str(*argv.add(1)), "reading FD"),
            parse(c_str(*argv.add(2)), "reading UID"),
            parse(c_str(*argv.add(3)), "reading GID"),
        )
    };
    let (fd, uid, gid) = (fd as usize, uid as usize, gid as usize);

    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut caps = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY (each call below): plain integers, or pointers to this frame's values of the
    // types the call reads or writes.
    unsafe {
        must(
            "marking FD close-on-exec",
            SYS_FCNTL,
            fd,
            F_SETFD,
            FD_CLOEXEC,
        );
        // bubblewrap has set it already; a worker must never run without it.
        must(
            "prctl(PR_SET_NO_NEW_PRIVS)",
            SYS_PRCTL,
            PR_SET_NO_NEW_PRIVS,
            1,
            0,
        );
        // Groups first: dropping them needs CAP_SETGID, which the change of uid clears.
        must("setgroups(0)", SYS_SETGROUPS, 0, 0, 0);
        must("setresgid", SYS_SETRESGID, gid, gid, gid);
        // From uid 0 to another in all three ids: the kernel clears the permitted, effective
        // and ambient capabilities.
        must("setresuid", SYS_SETRESUID, uid, uid, uid);
        // The inheritable set, which a change of uid keeps.
        let (header, caps) = (&raw mut header as usize, caps.as_mut_ptr() as usize);
        must("capset", SYS_CAPSET, header, caps, 0);
    }

    // Checked, not assumed.
    check_ids(SYS_GETRESUID, uid, "checking the uids");
    check_ids(SYS_GETRESGID, gid, "checking the gids");
    caps = [CapData {
        effective: u32::MAX,
        permitted: u32::MAX,
        inheritable: u32::MAX,
    }; 2];
    // SAFETY: the header and the two sets capget writes, this frame's.
    unsafe {
        let (header, caps) = (&raw mut header as usize, caps.as_mut_ptr() as usize);
        must("checking the capabilities", SYS_CAPGET, header, caps, 0);
    }
    if caps
        .iter()
        .any(|c| c.effective != 0 || c.permitted != 0 || c.inheritable != 0)
    {
        fail("checking the capabilities", 0, FAILED);
    }

    // SAFETY: argv[4..] and envp are the null-terminated arrays the kernel gave this process.
    let program = unsafe { *argv.add(4) };
    // SAFETY: argument 4 exists (argc >= 5) and is NUL-terminated.
    if unsafe { c_str(program) } == b"--await-worker" {
        if argc != 6 {
            fail("usage: drop FD UID GID --await-worker SOCKET: reading the arguments", 0, FAILED);
        }
        // SAFETY: argument 5 exists (argc == 6) and is NUL-terminated.
        let socket = parse(unsafe { c_str(*argv.add(5)) }, "reading SOCKET") as usize;
        await_worker(socket);
    }
    let r = unsafe {
        syscall(
            SYS_EXECVE,
            program as usize,
            argv.add(4) as usize,
            envp as usize,
        )
    };
    fail("exec", r, NOT_RUN)
}

/// `--await-worker`: says the sandbox is made, learns the worker's pid and then its end, and
/// exits with its status.
fn await_worker(socket: usize) -> ! {
    // The sandbox's orphans (a function's processes whose parent ended) become this process's
    // children: the kernel reaps them.
    let ignore = KernelSigaction {
        handler: SIG_IGN,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY (each call): a descriptor number, and pointers to this frame's data of the sizes
    // given.
    let r = unsafe {
        syscall4(
            SYS_RT_SIGACTION,
            SIGCHLD,
            &raw const ignore as usize,
            0,
            size_of::<u64>(),
        )
    };
    if r < 0 {
        fail("ignoring SIGCHLD", r, FAILED);
    }
    unsafe { must("saying the sandbox is made", SYS_WRITE, socket, b"r".as_ptr() as usize, 1) };
    let mut worker = None;
    loop {
        match read_message(socket) {
            Some((b'w', pid)) => worker = Some(pid),
            Some((b'e', status)) => {
                let signal = status & 0x7f;
                exit(if signal == 0 {
                    ((status >> 8) & 0xff) as usize
                } else {
                    128 + signal as usize
                });
            }
            Some(_) => fail("reading the zygote's message (an unknown one)", 0, FAILED),
            None => match worker {
                None => fail("waiting for the worker (none came)", 0, NO_WORKER),
                Some(pid) => outlive(pid),
            },
        }
    }
}

/// One message on `socket`: its tag and its value; `None` at the end of the file.
fn read_message(socket: usize) -> Option<(u8, u32)> {
    let mut message = [0u8; 5];
    let mut got = 0;
    while got < message.len() {
        // SAFETY: a descriptor number, and the rest of this frame's buffer.
        let r = unsafe {
            syscall(
                SYS_READ,
                socket,
                message[got..].as_mut_ptr() as usize,
                message.len() - got,
            )
        };
        match r {
            0 if got == 0 => return None,
            0 => fail("reading the zygote's message (cut short)", 0, FAILED),
            r if r == -EINTR => {}
            r if r < 0 => fail("waiting for the worker", r, FAILED),
            r => got += r as usize,
        }
    }
    let [tag, value @ ..] = message;
    Some((tag, u32::from_le_bytes(value)))
}

/// The zygote is gone (its socket closed) and the worker `pid` lives on, a child of a process
/// outside the sandbox: waits for its end through a pidfd, and exits with [`LOST`]. (Had the
/// worker ended already and its pid been taken by another process of the sandbox, the wait
/// would be for that one: the sandbox then lives until it ends, or is stopped.)
fn outlive(pid: u32) -> ! {
    // SAFETY: integer arguments only.
    let fd = unsafe { syscall(SYS_PIDFD_OPEN, pid as usize, 0, 0) };
    if fd == -ESRCH {
        exit(LOST); // it has ended
    }
    if fd < 0 {
        fail("watching the worker whose zygote is gone", fd, FAILED);
    }
    let mut poll = PollFd {
        fd: fd as i32,
        events: POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one `pollfd` of this frame; no timeout (-1).
        let r = unsafe { syscall(SYS_POLL, &raw mut poll as usize, 1, u32::MAX as usize) };
        match r {
            r if r == -EINTR => {}
            r if r < 0 => fail("waiting for the worker's end", r, FAILED),
            _ => exit(LOST),
        }
    }
}
