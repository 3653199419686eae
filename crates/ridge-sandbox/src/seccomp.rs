//! The seccomp filters every sandboxed worker runs under: a denylist of system calls that no
//! function needs, compiled to BPF with `seccompiler` and handed to bubblewrap, which installs
//! them (after `no_new_privs`) just before it starts the worker.
//!
//! seccompiler targets 64-bit architectures only (x86_64, aarch64, riscv64), where a system
//! call number is an `i64`.
//!
//! Two programs, because a program has one action for all its matches:
//! - the denylist answers `EPERM`: tracing other processes, mounting, namespaces (`unshare`,
//!   `setns`, and `clone` with a namespace flag), kernel modules, kexec, reboot, BPF, keyrings,
//!   `perf_event_open`, swap, clocks, `userfaultfd`, `io_uring`, reading other processes'
//!   memory, file handles, the new mount API;
//! - `clone3` answers `ENOSYS`, so that the C library falls back to `clone`, whose flags the
//!   denylist can inspect (`clone3` passes them in memory, out of a filter's reach).
//!
//! On x86_64 a third, hand-written program answers `EPERM` to every x32 system call (numbers
//! with [`X32_SYSCALL_BIT`] set). x32 calls carry the x86_64 audit architecture, so the
//! architecture check lets them through, and the denylist, which matches exact numbers, would
//! miss `ptrace` called as `0x40000000 | 101`.

use std::collections::BTreeMap;

use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

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

fn arch() -> Result<TargetArch, SandboxError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| SandboxError::Seccomp(e.to_string()))
}

fn compile(filter: SeccompFilter) -> Result<Vec<u8>, SandboxError> {
    let program = BpfProgram::try_from(filter).map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    Ok(pack(&program))
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

/// The compiled BPF programs, in the order bubblewrap should install them.
pub(crate) fn programs() -> Result<Vec<Vec<u8>>, SandboxError> {
    let arch = arch()?;
    let seccomp_err = |e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string());
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|(_, nr)| (*nr, Vec::new())).collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|flag| {
            let flag = u64::from(flag.unsigned_abs());
            SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )
            .and_then(|c| SeccompRule::new(vec![c]))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(seccomp_err)?;
    rules.insert(libc::SYS_clone, clone_rules);
    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM.unsigned_abs()),
        arch,
    )
    .map_err(seccomp_err)?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS.unsigned_abs()),
        arch,
    )
    .map_err(seccomp_err)?;
    let mut compiled = vec![compile(deny)?, compile(clone3)?];
    if cfg!(target_arch = "x86_64") {
        compiled.push(pack(&deny_x32()));
    }
    Ok(compiled)
}

/// `EPERM` for every system call number at or above [`X32_SYSCALL_BIT`] on x86_64; every
/// other call (and any other architecture, which the first program kills) passes.
fn deny_x32() -> BpfProgram {
    // `#define AUDIT_ARCH_X86_64 (EM_X86_64|__AUDIT_ARCH_64BIT|__AUDIT_ARCH_LE)`
    const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    // Offsets in `struct seccomp_data`: `int nr; __u32 arch; ...`.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let op = |code: u32| u16::try_from(code).expect("BPF opcodes fit in 16 bits");
    let stmt = |code: u32, k: u32| sock_filter {
        code: op(code),
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| sock_filter {
        code: op(code),
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let allow = stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW);
    vec![
        stmt(load, ARCH),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_X86_64,
            0,
            3,
        ),
        stmt(load, NR),
        jump(
            libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K,
            X32_SYSCALL_BIT,
            0,
            1,
        ),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM.unsigned_abs(),
        ),
        allow,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_both_programs_for_this_architecture() {
        let programs = programs().expect("compiles");
        assert_eq!(
            programs.len(),
            if cfg!(target_arch = "x86_64") { 3 } else { 2 }
        );
        for p in &programs {
            assert!(!p.is_empty());
            assert_eq!(p.len() % 8, 0, "whole sock_filter instructions");
        }
        assert!(denied_names().contains(&"ptrace"));
        assert!(denied_names().contains(&"unshare"));
    }
}
