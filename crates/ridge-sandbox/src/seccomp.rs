//! The seccomp filter every sandboxed worker runs under: a denylist of system calls that no
//! function needs, as one classic BPF program, handed to bubblewrap, which installs it (after
//! `no_new_privs`) just before it starts the worker; a worker forked by a zygote installs the
//! same program itself.
//!
//! What it answers:
//! - a system call of another architecture than the server's (on x86_64, the 32-bit
//!   `int 0x80` ones): the process is killed;
//! - on x86_64, an x32 system call (numbers with [`X32_SYSCALL_BIT`] set; they carry the
//!   x86_64 audit architecture, and would reach `ptrace` as `0x40000000 | 101`): `EPERM`;
//! - `clone3`: `ENOSYS`, so that the C library falls back to `clone`, whose flags the filter
//!   can inspect (`clone3` passes them in memory, out of a filter's reach);
//! - `clone` with a namespace flag, and the denylist (tracing other processes, mounting,
//!   namespaces (`unshare`, `setns`), kernel modules, kexec, reboot, BPF, keyrings,
//!   `perf_event_open`, swap, clocks, `userfaultfd`, `io_uring`, reading other processes'
//!   memory, file handles, the new mount API): `EPERM`;
//! - anything else is allowed.
//!
//! One program of about sixty instructions, written here rather than compiled by a filter
//! library: the kernel pays for each program a process installs (it runs the program for
//! every system call number to learn which are always allowed), and the three programs
//! `seccompiler` made for the same rules (320 instructions) cost each worker about 0.4 ms to
//! install, twice (bubblewrap, then the zygote's worker); docs/benchmarks.md has the figures.
//! The tests run the program, instruction by instruction, for every system call number.

use nix::libc;
use nix::libc::sock_filter;

use crate::SandboxError;

/// The bit that marks an x32 system call number on x86_64 (`__X32_SYSCALL_BIT`).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// System calls denied outright.
const DENIED: &[(&str, libc::c_long)] = &[
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("kcmp", libc::SYS_kcmp),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("open_tree", libc::SYS_open_tree),
    ("move_mount", libc::SYS_move_mount),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("reboot", libc::SYS_reboot),
    ("bpf", libc::SYS_bpf),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("quotactl", libc::SYS_quotactl),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("syslog", libc::SYS_syslog),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("fanotify_init", libc::SYS_fanotify_init),
    ("sethostname", libc::SYS_sethostname),
    ("setdomainname", libc::SYS_setdomainname),
    ("vhangup", libc::SYS_vhangup),
    ("personality", libc::SYS_personality),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
];

/// `clone` flags that create namespaces.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// The names of the denied system calls, for `GET /v1/info` and the docs.
pub fn denied_names() -> Vec<&'static str> {
    DENIED.iter().map(|(name, _)| *name).collect()
}

/// The audit architecture (`AUDIT_ARCH_*` of `<linux/audit.h>`: the ELF machine, 64-bit,
/// little-endian) of the architecture the server runs on: the only one the filter lets
/// through.
fn audit_arch() -> Result<u32, SandboxError> {
    const ARCH_64BIT_LE: u32 = 0x8000_0000 | 0x4000_0000;
    let machine = match std::env::consts::ARCH {
        "x86_64" => 62,
        "aarch64" => 183,
        "riscv64" => 243,
        other => {
            return Err(SandboxError::Seccomp(format!(
                "no seccomp filter for the {other} architecture (x86_64, aarch64 and riscv64 have one)"
            )));
        }
    };
    Ok(machine | ARCH_64BIT_LE)
}

/// Offsets in `struct seccomp_data`: `int nr; __u32 arch; __u64 instruction_pointer; __u64
/// args[6];`, and the low half of `args[0]` (every target above is little-endian).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;

/// Where a jump of the program goes, before the program is laid out.
#[derive(Clone, Copy)]
enum Target {
    Next,
    /// Over the next instruction.
    Skip,
    Deny,
    NoSys,
    CloneFlags,
}

/// The filter, as the kernel's `struct sock_filter` array (see the module's documentation).
fn program(audit_arch: u32, x32: bool) -> Vec<sock_filter> {
    const LOAD: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    const JEQ: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    const JGE: u32 = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;
    const JSET: u32 = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
    const RET: u32 = libc::BPF_RET | libc::BPF_K;
    // (code, k, jump if true); jumps if false fall through.
    let mut body: Vec<(u32, u32, Target)> = vec![
        (LOAD, ARCH, Target::Next),
        // This architecture goes on past the kill.
        (JEQ, audit_arch, Target::Skip),
        (RET, libc::SECCOMP_RET_KILL_PROCESS, Target::Next),
        (LOAD, NR, Target::Next),
    ];
    if x32 {
        body.push((JGE, X32_SYSCALL_BIT, Target::Deny));
    }
    let number = |nr: libc::c_long| u32::try_from(nr).expect("system call numbers fit in 32 bits");
    body.push((JEQ, number(libc::SYS_clone3), Target::NoSys));
    body.push((JEQ, number(libc::SYS_clone), Target::CloneFlags));
    for (_, nr) in DENIED {
        body.push((JEQ, number(*nr), Target::Deny));
    }
    let namespaces = NAMESPACE_FLAGS
        .iter()
        .fold(0u32, |all, f| all | f.unsigned_abs());
    let allow = body.len();
    let clone_flags = allow + 1;
    let deny = clone_flags + 3;
    let no_sys = deny + 1;
    body.extend([
        (RET, libc::SECCOMP_RET_ALLOW, Target::Next),
        (LOAD, ARG0_LOW, Target::Next),
        (JSET, namespaces, Target::Deny),
        (RET, libc::SECCOMP_RET_ALLOW, Target::Next),
        (
            RET,
            libc::SECCOMP_RET_ERRNO | libc::EPERM.unsigned_abs(),
            Target::Next,
        ),
        (
            RET,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS.unsigned_abs(),
            Target::Next,
        ),
    ]);
    body.iter()
        .enumerate()
        .map(|(at, &(code, k, target))| {
            let to = match target {
                Target::Next => at + 1,
                Target::Skip => at + 2,
                Target::Deny => deny,
                Target::NoSys => no_sys,
                Target::CloneFlags => clone_flags,
            };
            let jt =
                u8::try_from(to - at - 1).expect("every jump is shorter than 256 instructions");
            sock_filter {
                code: u16::try_from(code).expect("BPF opcodes fit in 16 bits"),
                jt: if code & 0x07 == libc::BPF_JMP { jt } else { 0 },
                jf: 0,
                k,
            }
        })
        .collect()
}

/// The kernel's `struct sock_filter`, as bubblewrap reads it: u16 code, u8 jt, u8 jf, u32 k.
fn pack(program: &[sock_filter]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for insn in program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    bytes
}

/// The compiled BPF programs, in the order bubblewrap should install them: one.
pub(crate) fn programs() -> Result<Vec<Vec<u8>>, SandboxError> {
    let arch = audit_arch()?;
    Ok(vec![pack(&program(arch, cfg!(target_arch = "x86_64")))])
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | 1;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | 38;

    /// Runs `program` as the kernel would on a system call `nr` of architecture `arch` whose
    /// first argument is `arg0`: its return value. Only the instructions the program may use;
    /// any other fails the test, as does running off its end or jumping backwards.
    fn run(program: &[sock_filter], arch: u32, nr: u32, arg0: u64) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        data[16..24].copy_from_slice(&arg0.to_ne_bytes());
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let insn = program.get(pc).expect("the program ran off its end");
            let code = u32::from(insn.code);
            let taken = |cond: bool| pc + 1 + usize::from(if cond { insn.jt } else { insn.jf });
            pc = match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    let at = usize::try_from(insn.k).expect("offset");
                    a = u32::from_ne_bytes(data[at..at + 4].try_into().expect("4 bytes"));
                    pc + 1
                }
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => taken(a == insn.k),
                c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => taken(a >= insn.k),
                c if c == libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K => taken(a & insn.k != 0),
                c if c == libc::BPF_RET | libc::BPF_K => return insn.k,
                other => panic!("instruction {other:#x} at {pc}"),
            };
        }
    }

    fn number(nr: libc::c_long) -> u32 {
        u32::try_from(nr).expect("system call number")
    }

    #[test]
    fn one_program_for_this_architecture() {
        let programs = programs().expect("built");
        assert_eq!(programs.len(), 1);
        assert_eq!(programs[0].len() % 8, 0, "whole sock_filter instructions");
        assert!(
            programs[0].len() / 8 < 80,
            "{} instructions",
            programs[0].len() / 8
        );
        assert!(denied_names().contains(&"ptrace"));
        assert!(denied_names().contains(&"unshare"));
    }

    /// Every system call number, as the module's documentation says: the denylist and
    /// `clone3` refused, everything else allowed, on this architecture and (on x86_64) as
    /// x32 calls; another architecture killed.
    #[test]
    fn every_system_call_gets_the_answer_the_rules_give_it() {
        let arch = audit_arch().expect("a supported architecture");
        let x32 = cfg!(target_arch = "x86_64");
        let program = program(arch, x32);
        let denied: Vec<u32> = DENIED.iter().map(|(_, nr)| number(*nr)).collect();
        for nr in 0..1024u32 {
            let want = if denied.contains(&nr) {
                EPERM
            } else if nr == number(libc::SYS_clone3) {
                ENOSYS
            } else {
                libc::SECCOMP_RET_ALLOW
            };
            if nr != number(libc::SYS_clone) {
                assert_eq!(run(&program, arch, nr, u64::MAX), want, "system call {nr}");
                assert_eq!(run(&program, arch, nr, 0), want, "system call {nr}");
            }
            let x32_answer = run(&program, arch, X32_SYSCALL_BIT | nr, 0);
            assert_eq!(x32_answer, if x32 { EPERM } else { want }, "x32 call {nr}");
            assert_eq!(
                run(&program, arch ^ 1, nr, 0),
                libc::SECCOMP_RET_KILL_PROCESS,
                "system call {nr} of another architecture"
            );
        }
        assert_eq!(run(&program, 0, 0, 0), libc::SECCOMP_RET_KILL_PROCESS);
    }

    /// `clone` is refused with any namespace flag, alone or among others, and allowed
    /// otherwise (a thread's flags, a fork's `SIGCHLD`, bits above 32).
    #[test]
    fn clone_is_refused_exactly_when_it_asks_for_a_namespace() {
        let arch = audit_arch().expect("a supported architecture");
        let program = program(arch, cfg!(target_arch = "x86_64"));
        let clone = number(libc::SYS_clone);
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID)
            .unsigned_abs();
        for allowed in [
            0,
            u64::from(thread),
            libc::SIGCHLD.unsigned_abs().into(),
            1 << 40,
        ] {
            assert_eq!(
                run(&program, arch, clone, allowed),
                libc::SECCOMP_RET_ALLOW,
                "{allowed:#x}"
            );
        }
        for flag in NAMESPACE_FLAGS {
            let flag = u64::from(flag.unsigned_abs());
            assert_eq!(run(&program, arch, clone, flag), EPERM, "{flag:#x}");
            assert_eq!(
                run(&program, arch, clone, flag | u64::from(thread)),
                EPERM,
                "{flag:#x}"
            );
        }
    }
}
