//! The seccomp filter every sandboxed process runs under: an allow-list per architecture.
//!
//! Namespaces already hide the host; the filter limits the kernel surface to the calls that
//! compilers, runtimes and programs actually make. Every other call fails with `ENOSYS`, so a
//! program sees an ordinary error ("function not implemented") and libraries take their
//! fallback paths (glibc retries `clone3` as `clone`, whose flags the filter can inspect; libuv
//! drops io_uring). A call from a foreign architecture (an `int 0x80` from an x86_64 process)
//! kills the process; x32 calls (`nr | 0x40000000`) match nothing and fail.
//!
//! The filter is compiled by `seccompiler` (rust-vmm, the Firecracker project's filter
//! compiler; Apache-2.0 OR BSD-3-Clause), whose per-architecture tables turn names into
//! numbers, so the one list below serves x86_64 and aarch64. Other architectures have no
//! filter, and the sandbox refuses to start on them.
//!
//! # Where the list comes from
//! The union of the calls seen by `strace` (strace 6.1, Debian 12, kernel 6.18, x86_64):
//! 1. The integration tests (`cargo test -p crucible-exec --test it`) under
//!    `strace -f -qq --decode-pids=pidns -e signal=none`, with the earlier deny-list filter:
//!    every call made by a process after its `seccomp(SECCOMP_SET_MODE_FILTER)` or by a
//!    process it created (gcc, g++ and its precompiled header, rustc, javac and the JVM, node,
//!    go build and go test, the Python workers, the sandbox's init and every test program).
//! 2. The same toolchains run directly under `strace -f`, with the flags the executor passes,
//!    so that paths the sandboxed runs did not reach under tracing (a JVM or V8 running out of
//!    heap, a Go program out of memory, Rust's panic and abort, Python's `multiprocessing`)
//!    are in: `java ... Main {oom,throw,deep}`, `node prog.js {oom,json,kill,abort}`,
//!    `./prog {oom,huge,kill,panic}` for Go, `python3` with threads, subprocess,
//!    multiprocessing, sockets and timers, a Rust program with threads, panics and aborts.
//! 3. `tests/fixtures/sandbox/system_calls.c` run under `strace -f`: threads, futexes, memory
//!    mapping, epoll, eventfd, timerfd, POSIX and interval timers, signals (signalfd,
//!    sigsuspend, sigqueue), pipes (splice, tee), local sockets, files in /tmp, /proc and
//!    child processes (fork, vfork, posix_spawn, system). The integration test
//!    `sandbox::system_interfaces_work` runs it in the sandbox.
//!
//! Then: `clone3` is left out (its flags are behind a pointer the filter cannot read), `clone`
//! and `socket` are allowed with argument checks, x86_64's legacy calls have their generic
//! `*at` equivalents beside them (aarch64 has only those), and the vDSO's calls are allowed
//! as system calls too (`clock_gettime`, `gettimeofday`, `time`, `getcpu`: the fallback when
//! the vDSO is unavailable).

use seccompiler::TargetArch;
use serde_json::{Value, json};

use crate::{Error, Result};

/// A CPU architecture the filter has a system-call table for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture this crate is compiled for, when the filter supports it.
    pub(crate) fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    fn target(self) -> TargetArch {
        match self {
            Arch::X86_64 => TargetArch::x86_64,
            Arch::Aarch64 => TargetArch::aarch64,
        }
    }
}

/// What a call outside the list gets.
pub(crate) const DENIED_ERRNO: i32 = libc::ENOSYS;

/// Calls allowed whatever their arguments, on both architectures.
const ALLOWED: &[&str] = &[
    // Processes, threads and their identity.
    "execve",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "kill",
    "tgkill",
    "getpid",
    "getppid",
    "gettid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getgroups",
    "getpgid",
    "getsid",
    "setsid",
    "capget",
    "prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "futex",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "getpriority",
    "setpriority",
    "getrusage",
    "prlimit64",
    "times",
    "sysinfo",
    "uname",
    "umask",
    "getrandom",
    // Memory.
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "msync",
    "mincore",
    "memfd_create",
    "pkey_alloc",
    // Signals.
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigpending",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "sigaltstack",
    "restart_syscall",
    "signalfd4",
    // Time and timers.
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "gettimeofday",
    "getcpu",
    "nanosleep",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_settime",
    "timer_delete",
    "timerfd_create",
    "timerfd_settime",
    // Descriptors and waiting.
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "close",
    "close_range",
    "dup",
    "dup3",
    "fcntl",
    "ioctl",
    "pipe2",
    "splice",
    "tee",
    "sendfile",
    "copy_file_range",
    "lseek",
    "ppoll",
    "pselect6",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "eventfd2",
    // Files.
    "openat",
    "newfstatat",
    "fstat",
    "statx",
    "statfs",
    "fstatfs",
    "faccessat",
    "faccessat2",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "mkdirat",
    "unlinkat",
    "renameat",
    "renameat2",
    "linkat",
    "symlinkat",
    "readlinkat",
    "fchmod",
    "fchmodat",
    "utimensat",
    "truncate",
    "ftruncate",
    "fallocate",
    "fadvise64",
    "fsync",
    "fdatasync",
    "flock",
    // Sockets (creation is checked below); the network namespace has no interface.
    "socketpair",
    "bind",
    "listen",
    "accept4",
    "connect",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
];

/// x86_64's older calls, seen in the traces; aarch64 never had them (its C library makes the
/// generic calls in [`ALLOWED`] instead: `openat` for `open`, `ppoll` for `poll`...).
const ALLOWED_X86_64: &[&str] = &[
    "access",
    "alarm",
    "arch_prctl",
    "chmod",
    "dup2",
    "epoll_wait",
    "getpgrp",
    "getrlimit",
    "link",
    "lstat",
    "mkdir",
    "open",
    "poll",
    "readlink",
    "rename",
    "rmdir",
    "stat",
    "symlink",
    "time",
    "unlink",
    "vfork",
];

/// `clone` flags that create namespaces: a sandboxed process may fork and start threads, never
/// build itself a new namespace.
const CLONE_NS_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u64;

/// Socket families a program may create: local sockets, and IP sockets that reach nothing but
/// a loopback interface that is down. Netlink, packet, crypto (`AF_ALG`), vsock and the rest
/// are kernel surface no program needs here (`getaddrinfo` works without netlink).
const SOCKET_FAMILIES: &[i32] = &[libc::AF_UNIX, libc::AF_INET, libc::AF_INET6];

/// The filter for the architecture this crate runs on; an error on any other.
pub(crate) fn native_filter() -> Result<Vec<libc::sock_filter>> {
    let arch = Arch::native().ok_or_else(|| {
        Error::Sandbox(format!(
            "the seccomp allow-list exists for x86_64 and aarch64 only, not `{}`; \
             pass --no-sandbox to run without isolation",
            std::env::consts::ARCH
        ))
    })?;
    build_filter(arch)
}

/// Compile the allow-list for `arch`.
pub(crate) fn build_filter(arch: Arch) -> Result<Vec<libc::sock_filter>> {
    let compile_error = |e: String| {
        Error::Sandbox(format!(
            "cannot compile the seccomp filter for {arch:?}: {e}"
        ))
    };
    let document = filter_document(arch);
    let mut programs =
        seccompiler::compile_from_json(document.to_string().as_bytes(), arch.target())
            .map_err(|e| compile_error(e.to_string()))?;
    let program = programs
        .remove("sandbox")
        .ok_or_else(|| compile_error("no program".into()))?;
    Ok(program
        .into_iter()
        .map(|insn| libc::sock_filter {
            code: insn.code,
            jt: insn.jt,
            jf: insn.jf,
            k: insn.k,
        })
        .collect())
}

/// The filter in seccompiler's JSON form: rules, a default (`ENOSYS`) and a match (allow).
fn filter_document(arch: Arch) -> Value {
    let mut rules: Vec<Value> = ALLOWED
        .iter()
        .chain(match arch {
            Arch::X86_64 => ALLOWED_X86_64,
            Arch::Aarch64 => &[],
        })
        .map(|name| json!({ "syscall": name }))
        .collect();
    rules.push(json!({
        "syscall": "clone",
        "args": [{ "index": 0, "type": "dword", "op": { "masked_eq": CLONE_NS_FLAGS }, "val": 0 }],
    }));
    for family in SOCKET_FAMILIES {
        rules.push(json!({
            "syscall": "socket",
            "args": [{ "index": 0, "type": "dword", "op": "eq", "val": family }],
        }));
    }
    json!({
        "sandbox": {
            "mismatch_action": { "errno": DENIED_ERRNO },
            "match_action": "allow",
            "filter": rules,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Insn = libc::sock_filter;

    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_KILL_PROCESS: u32 = 0x8000_0000;
    const RET_ENOSYS: u32 = 0x0005_0000 | DENIED_ERRNO as u32;

    /// Decide a call by running the program on `struct seccomp_data` (nr, arch, args), so the
    /// filter is checked for both architectures without loading it. Covers the classic BPF
    /// instructions seccompiler emits.
    fn decide(prog: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&nr.to_ne_bytes());
        data.extend_from_slice(&arch.to_ne_bytes());
        data.extend_from_slice(&0u64.to_ne_bytes());
        for arg in args {
            data.extend_from_slice(&arg.to_ne_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let insn = prog[pc];
            let code = u32::from(insn.code);
            pc += 1;
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    let at = insn.k as usize;
                    acc = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap());
                }
                c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => acc &= insn.k,
                c if c == libc::BPF_RET | libc::BPF_K => return insn.k,
                c if c == libc::BPF_JMP | libc::BPF_JA => pc += insn.k as usize,
                c if c & 0x07 == libc::BPF_JMP && c & libc::BPF_X == 0 => {
                    let taken = match c & 0xf0 {
                        op if op == libc::BPF_JEQ => acc == insn.k,
                        op if op == libc::BPF_JGT => acc > insn.k,
                        op if op == libc::BPF_JGE => acc >= insn.k,
                        op if op == libc::BPF_JSET => acc & insn.k != 0,
                        other => panic!("unexpected jump {other:#x}"),
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn call(nr: u32, arg0: u64) -> (u32, [u64; 6]) {
        (nr, [arg0, 0, 0, 0, 0, 0])
    }

    /// Numbers of a few calls per architecture (x86_64's `asm/unistd_64.h`, the generic
    /// `asm-generic/unistd.h` aarch64 uses), written out to check seccompiler's tables.
    struct Numbers {
        audit: u32,
        read: u32,
        openat: u32,
        clone: u32,
        clone3: u32,
        socket: u32,
        ptrace: u32,
        unshare: u32,
        mount: u32,
        keyctl: u32,
        bpf: u32,
        io_uring_setup: u32,
    }

    const X86_64: Numbers = Numbers {
        audit: AUDIT_ARCH_X86_64,
        read: 0,
        openat: 257,
        clone: 56,
        clone3: 435,
        socket: 41,
        ptrace: 101,
        unshare: 272,
        mount: 165,
        keyctl: 250,
        bpf: 321,
        io_uring_setup: 425,
    };

    const AARCH64: Numbers = Numbers {
        audit: AUDIT_ARCH_AARCH64,
        read: 63,
        openat: 56,
        clone: 220,
        clone3: 435,
        socket: 198,
        ptrace: 117,
        unshare: 97,
        mount: 40,
        keyctl: 219,
        bpf: 280,
        io_uring_setup: 425,
    };

    fn check_decisions(arch: Arch, n: &Numbers) {
        let prog = build_filter(arch).unwrap();
        assert!(prog.len() < 4096, "{} instructions", prog.len());
        let d = |(nr, args): (u32, [u64; 6])| decide(&prog, n.audit, nr, args);
        assert_eq!(d(call(n.read, 0)), RET_ALLOW);
        assert_eq!(d(call(n.openat, 0)), RET_ALLOW);
        for denied in [
            n.ptrace,
            n.unshare,
            n.mount,
            n.keyctl,
            n.bpf,
            n.io_uring_setup,
        ] {
            assert_eq!(d(call(denied, 0)), RET_ENOSYS, "call {denied}");
        }
        // glibc falls back to clone when clone3 says ENOSYS.
        assert_eq!(d(call(n.clone3, 0)), RET_ENOSYS);
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        assert_eq!(d(call(n.clone, thread)), RET_ALLOW);
        assert_eq!(d(call(n.clone, libc::SIGCHLD as u64)), RET_ALLOW);
        for ns in [libc::CLONE_NEWUSER, libc::CLONE_NEWNS, libc::CLONE_NEWPID] {
            let flags = ns as u64 | libc::SIGCHLD as u64;
            assert_eq!(d(call(n.clone, flags)), RET_ENOSYS, "clone {ns:#x}");
        }
        for family in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6] {
            assert_eq!(d(call(n.socket, family as u64)), RET_ALLOW);
        }
        for family in [
            libc::AF_NETLINK,
            libc::AF_PACKET,
            libc::AF_ALG,
            libc::AF_VSOCK,
        ] {
            assert_eq!(
                d(call(n.socket, family as u64)),
                RET_ENOSYS,
                "family {family}"
            );
        }
        // An x32 call on x86_64, an unknown number anywhere: denied, not allowed.
        assert_eq!(d(call(0x4000_0000 | n.read, 0)), RET_ENOSYS);
        assert_eq!(d(call(4000, 0)), RET_ENOSYS);
        // A call made for another architecture kills.
        assert_eq!(decide(&prog, AUDIT_ARCH_I386, 3, [0; 6]), RET_KILL_PROCESS);
    }

    #[test]
    fn x86_64_decisions() {
        check_decisions(Arch::X86_64, &X86_64);
    }

    #[test]
    fn aarch64_table_builds_and_decides() {
        check_decisions(Arch::Aarch64, &AARCH64);
    }

    #[test]
    fn the_native_architecture_has_a_filter() {
        let native = Arch::native().expect("the tests run on x86_64 or aarch64");
        assert_eq!(
            native_filter().unwrap().len(),
            build_filter(native).unwrap().len()
        );
    }
}
