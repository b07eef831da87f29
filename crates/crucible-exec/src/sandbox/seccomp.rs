//! The seccomp filter every sandboxed process runs under: a small classic-BPF deny list.
//!
//! Namespaces already hide the host; the filter removes the kernel surface a process needs
//! no access to in order to compute an answer (new namespaces, mounts, tracing, keyrings, BPF,
//! io_uring, module loading, SysV IPC that would outlive a sample in a shared IPC namespace).
//! Denied calls fail with `EPERM` (or `ENOSYS` where libraries fall back), so programs see an
//! ordinary error rather than a mysterious kill. A foreign architecture or an x32 call kills.

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
pub(crate) type Insn = libc::sock_filter;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARG0_LO: u32 = 16;

/// Namespace-creating `clone` flags: a sandboxed process may fork and start threads, never
/// build itself a new namespace.
const CLONE_NS_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u32;

/// Calls that fail with `EPERM`.
const DENIED: &[libc::c_long] = &[
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_fanotify_init,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_personality,
    libc::SYS_shmget,
    libc::SYS_semget,
    libc::SYS_msgget,
];

/// Calls that fail with `ENOSYS`, so that libraries take their fallback path: glibc retries
/// `clone3` as `clone` (whose flags the filter can inspect), libuv drops io_uring.
const UNAVAILABLE: &[libc::c_long] = &[
    libc::SYS_clone3,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

fn stmt(code: u32, k: u32) -> Insn {
    Insn {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> Insn {
    Insn {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

const LD_W_ABS: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
const JEQ_K: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
const JGE_K: u32 = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;
const JSET_K: u32 = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
const RET_K: u32 = libc::BPF_RET | libc::BPF_K;

/// Build the filter program.
pub(crate) fn build_filter() -> Vec<Insn> {
    let errno = |e: i32| SECCOMP_RET_ERRNO | (e as u32 & 0xffff);
    let mut prog = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, SECCOMP_RET_KILL_PROCESS),
        stmt(LD_W_ABS, OFF_NR),
        jump(JGE_K, X32_SYSCALL_BIT, 0, 1),
        stmt(RET_K, SECCOMP_RET_KILL_PROCESS),
        // clone: allowed unless it asks for a namespace.
        jump(JEQ_K, libc::SYS_clone as u32, 0, 4),
        stmt(LD_W_ABS, OFF_ARG0_LO),
        jump(JSET_K, CLONE_NS_FLAGS, 0, 1),
        stmt(RET_K, errno(libc::EPERM)),
        stmt(RET_K, SECCOMP_RET_ALLOW),
    ];
    for &nr in DENIED {
        prog.push(jump(JEQ_K, nr as u32, 0, 1));
        prog.push(stmt(RET_K, errno(libc::EPERM)));
    }
    for &nr in UNAVAILABLE {
        prog.push(jump(JEQ_K, nr as u32, 0, 1));
        prog.push(stmt(RET_K, errno(libc::ENOSYS)));
    }
    prog.push(stmt(RET_K, SECCOMP_RET_ALLOW));
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the subset of BPF the filter uses, to check its decisions
    /// without loading it.
    fn decide(prog: &[Insn], arch: u32, nr: u32, arg0: u32) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let insn = prog[pc];
            let code = u32::from(insn.code);
            match code {
                LD_W_ABS => {
                    acc = match insn.k {
                        OFF_NR => nr,
                        OFF_ARCH => arch,
                        OFF_ARG0_LO => arg0,
                        other => panic!("unexpected load offset {other}"),
                    }
                }
                RET_K => return insn.k,
                JEQ_K | JGE_K | JSET_K => {
                    let taken = match code {
                        JEQ_K => acc == insn.k,
                        JGE_K => acc >= insn.k,
                        _ => acc & insn.k != 0,
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                other => panic!("unexpected opcode {other:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn decisions() {
        let prog = build_filter();
        let x86 = AUDIT_ARCH_X86_64;
        let allow = SECCOMP_RET_ALLOW;
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        assert_eq!(decide(&prog, x86, libc::SYS_read as u32, 0), allow);
        assert_eq!(decide(&prog, x86, libc::SYS_ptrace as u32, 0), eperm);
        assert_eq!(decide(&prog, x86, libc::SYS_unshare as u32, 0), eperm);
        assert_eq!(decide(&prog, x86, libc::SYS_clone3 as u32, 0), enosys);
        let thread_flags = (libc::CLONE_VM | libc::CLONE_THREAD) as u32;
        assert_eq!(
            decide(&prog, x86, libc::SYS_clone as u32, thread_flags),
            allow
        );
        let ns_flags = libc::CLONE_NEWUSER as u32;
        assert_eq!(decide(&prog, x86, libc::SYS_clone as u32, ns_flags), eperm);
        assert_eq!(
            decide(&prog, x86, X32_SYSCALL_BIT | 1, 0),
            SECCOMP_RET_KILL_PROCESS
        );
        assert_eq!(decide(&prog, 0x4000_0003, 1, 0), SECCOMP_RET_KILL_PROCESS);
    }
}
