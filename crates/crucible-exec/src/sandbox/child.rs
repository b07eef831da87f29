//! What the cloned child does between `clone` and `execve`: mounts, limits, identity, filter.
//!
//! The child is a copy of a possibly multi-threaded executor, so until `execve` it may only make
//! system calls: no allocation, no locks, no glibc wrappers that talk to other threads (the
//! `setxid` family is called through raw `syscall`). Everything it needs is prepared by the
//! parent in a [`ChildPlan`]; failures are reported as a fixed-size record on the status pipe.

use std::ffi::{CString, c_char, c_int, c_ulong};
use std::os::fd::RawFd;

use crate::limits::CpuPriority;

/// Who the sandboxed program runs as.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Identity {
    /// The executor is root: mount as root, then become this unprivileged host uid/gid.
    Root { uid: u32, gid: u32 },
    /// The executor is an ordinary user inside a fresh user namespace (maps written by the
    /// parent); capabilities are dropped before `execve`.
    User,
}

/// One step of building the sandbox's file system, paths already under the new root.
#[derive(Debug)]
pub(crate) enum Step {
    Dir(CString),
    File {
        path: CString,
        contents: Vec<u8>,
    },
    Symlink {
        target: CString,
        path: CString,
    },
    /// Bind `src` on `dst` (with its submounts when `recursive`), then restrict it.
    Bind {
        src: CString,
        dst: CString,
        recursive: bool,
        restrict: Restrict,
    },
    Tmpfs {
        dst: CString,
        data: CString,
    },
    /// A fresh procfs; `hidepid=2` unless the plan's program is its own init.
    Proc(CString),
    /// Hide a directory under an empty, read-only tmpfs.
    MaskDir(CString),
}

/// How a bind mount is restricted after it is made.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Restrict {
    /// Left as bound (device nodes).
    None,
    /// `mount_setattr(AT_RECURSIVE)` with these `MOUNT_ATTR_*` bits: the bind and every
    /// submount under it.
    Recursive(u64),
    /// A classic `MS_REMOUNT | MS_BIND` with these `MS_*` flags, which changes the top mount
    /// only (kernels before 5.12, which have no `mount_setattr`; read-only binds are then made
    /// without their submounts).
    Remount(c_ulong),
}

/// Everything the child needs, prepared (and allocated) by the parent.
#[derive(Debug)]
pub(crate) struct ChildPlan {
    pub(crate) identity: Identity,
    pub(crate) new_root: CString,
    pub(crate) steps: Vec<Step>,
    pub(crate) cwd: CString,
    pub(crate) hostname: CString,
    /// `(resource, soft, hard)`.
    pub(crate) rlimits: Vec<(c_int, u64, u64)>,
    /// `(inherited fd, number in the sandbox, close on exec)`.
    pub(crate) fds: Vec<(RawFd, RawFd, bool)>,
    /// Numbers (after remapping) of the status pipe's write end and the sync pipe's read end.
    pub(crate) status_fd: RawFd,
    pub(crate) sync_fd: RawFd,
    /// Numbers (after remapping) of the run's cgroup `tasks` files (cgroup v1): the child
    /// writes `0` to each to move itself in before it waits for the parent, and closes them.
    /// Empty when the parent moves it (cgroup v2) or there is no cgroup.
    pub(crate) join_fds: Vec<RawFd>,
    pub(crate) filter: Vec<libc::sock_filter>,
    pub(crate) exec_path: CString,
    pub(crate) argv: Vec<CString>,
    pub(crate) envp: Vec<CString>,
    /// Exec the program as PID 1 instead of forking it under a tiny init (zygotes reap their
    /// own children).
    pub(crate) as_init: bool,
    pub(crate) priority: CpuPriority,
    pub(crate) last_cap: c_int,
    /// False for `--no-sandbox`: no mounts, identity change or filter; limits still apply.
    pub(crate) sandboxed: bool,
}

/// Kinds of status records.
pub(crate) const REC_SETUP_FAILED: i64 = 1;
pub(crate) const REC_EXEC_FAILED: i64 = 2;
pub(crate) const REC_EXITED: i64 = 3;
/// Size of one status record: six little-endian `i64`s.
pub(crate) const RECORD_LEN: usize = 48;

/// Setup stages, for error messages.
pub(crate) const STAGES: &[&str] = &[
    "remap file descriptors",
    "wait for the parent",
    "start a session",
    "make mounts private",
    "mount the root tmpfs",
    "build the file system",
    "pivot into the new root",
    "enter the working directory",
    "set limits",
    "drop privileges",
    "install the seccomp filter",
    "start the program",
    "set the CPU priority",
    "join the run's cgroup",
];

const STAGE_FDS: i64 = 0;
const STAGE_SESSION: i64 = 2;
const STAGE_PRIVATE: i64 = 3;
const STAGE_ROOT: i64 = 4;
const STAGE_BUILD: i64 = 5;
const STAGE_PIVOT: i64 = 6;
const STAGE_CWD: i64 = 7;
const STAGE_LIMITS: i64 = 8;
const STAGE_PRIVS: i64 = 9;
const STAGE_SECCOMP: i64 = 10;
const STAGE_PRIORITY: i64 = 12;
const STAGE_START: i64 = 11;
const STAGE_CGROUP: i64 = 13;

/// Encode a status record.
pub(crate) fn encode_record(fields: [i64; 6]) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    for (i, field) in fields.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&field.to_le_bytes());
    }
    out
}

/// Decode a status record.
pub(crate) fn decode_record(bytes: &[u8]) -> [i64; 6] {
    let mut fields = [0i64; 6];
    for (i, field) in fields.iter_mut().enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        *field = i64::from_le_bytes(word);
    }
    fields
}

/// Pointer arrays for `execve`, built by the parent once the strings are in place.
pub(crate) struct ExecPointers {
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
}

impl ExecPointers {
    pub(crate) fn new(plan: &ChildPlan) -> ExecPointers {
        let ptrs = |strings: &[CString]| {
            let mut v: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
            v.push(std::ptr::null());
            v
        };
        ExecPointers {
            argv: ptrs(&plan.argv),
            envp: ptrs(&plan.envp),
        }
    }
}

fn errno() -> i64 {
    i64::from(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

#[expect(unsafe_code, reason = "raw write and _exit between clone and execve")]
fn fail(status_fd: RawFd, stage: i64, err: i64) -> ! {
    let rec = encode_record([REC_SETUP_FAILED, stage, err, 0, 0, 0]);
    // SAFETY: writing a stack buffer to a file descriptor and exiting without running any
    // destructor or atexit handler (they belong to the parent's copy of the process).
    unsafe {
        libc::write(status_fd, rec.as_ptr().cast(), rec.len());
        libc::_exit(126)
    }
}

/// The child's whole life. Never returns.
///
/// # Safety
/// Must be called only in a freshly cloned child (no other threads), with `plan` and `ptrs`
/// fully built by the parent before the clone.
#[expect(
    unsafe_code,
    reason = "the sandbox's privileged setup is a sequence of raw syscalls"
)]
pub(crate) unsafe fn child_main(plan: &ChildPlan, ptrs: &ExecPointers) -> ! {
    // SAFETY (whole function): every call below is a plain system call on buffers owned by
    // `plan`, which the parent built and which this copy of the address space still holds.
    unsafe {
        remap_fds(plan);
        let st = plan.status_fd;
        // Into the run's cgroup first, before anything it counts: a task that moves itself
        // skips the kernel's global migration lock, which costs a move from outside about
        // 20 ms per hierarchy.
        for &fd in &plan.join_fds {
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                fail(st, STAGE_CGROUP, errno());
            }
            libc::close(fd);
        }
        let mut byte = 0u8;
        if libc::read(plan.sync_fd, (&raw mut byte).cast(), 1) != 1 {
            libc::_exit(125);
        }
        libc::close(plan.sync_fd);
        if libc::setsid() < 0 {
            fail(st, STAGE_SESSION, errno());
        }
        // PID 1 is a copy of the executor (its environment, its memory): make /proc/1/environ,
        // /proc/1/mem and ptrace unavailable to the program, which runs under the same uid.
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        reset_signals();
        if plan.sandboxed {
            build_root(plan);
            let name = plan.hostname.as_bytes();
            libc::sethostname(name.as_ptr().cast(), name.len());
        }
        if libc::chdir(plan.cwd.as_ptr()) != 0 {
            fail(st, STAGE_CWD, errno());
        }
        set_priority(plan);
        for &(resource, soft, hard) in &plan.rlimits {
            if resource == libc::RLIMIT_AS as c_int && !plan.as_init {
                continue;
            }
            let lim = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(resource as _, &lim) != 0 {
                fail(st, STAGE_LIMITS, errno());
            }
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            fail(st, STAGE_SECCOMP, errno());
        }
        if plan.sandboxed {
            drop_privileges(plan);
        }
        // After the identity change, which clears it: the sandbox dies with the thread that
        // supervises it, so an executor killed with SIGKILL leaves nothing running.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if plan.sandboxed {
            install_filter(plan);
        }
        if plan.as_init {
            exec_program(plan, ptrs);
        }
        let pid = libc::syscall(libc::SYS_clone, libc::SIGCHLD as c_ulong, 0, 0, 0, 0);
        if pid < 0 {
            fail(st, STAGE_START, errno());
        }
        if pid == 0 {
            // The address-space limit applies to the program only: this init is a copy of the
            // executor, whose own address space may already be larger.
            set_address_space_limit(plan);
            exec_program(plan, ptrs);
        }
        libc::close(0);
        reap_until(st, pid as libc::pid_t)
    }
}

#[expect(unsafe_code, reason = "seccomp(2) with a filter owned by the plan")]
unsafe fn install_filter(plan: &ChildPlan) {
    // SAFETY: the program points into `plan.filter`, alive for the call.
    unsafe {
        let prog = libc::sock_fprog {
            len: plan.filter.len() as u16,
            filter: plan.filter.as_ptr().cast_mut(),
        };
        let mode_filter: c_ulong = 1; // SECCOMP_SET_MODE_FILTER
        if libc::syscall(
            libc::SYS_seccomp,
            mode_filter,
            0 as c_ulong,
            &raw const prog,
        ) != 0
        {
            fail(plan.status_fd, STAGE_SECCOMP, errno());
        }
    }
}

/// Move inherited descriptors to their numbers in the sandbox and close every other one (the
/// child inherited all of the executor's descriptors, including other runs' pipes).
#[expect(unsafe_code, reason = "descriptor juggling with raw syscalls")]
unsafe fn remap_fds(plan: &ChildPlan) {
    const HIGH: c_int = 100;
    let mut moved = [(-1 as RawFd, -1 as RawFd, false); 24];
    let count = plan.fds.len().min(moved.len());
    // SAFETY: plain fcntl/dup3/close_range on descriptors this process owns.
    unsafe {
        for (slot, &(src, dst, cloexec)) in moved.iter_mut().zip(&plan.fds) {
            let high = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, HIGH);
            if high < 0 {
                // The status pipe may not be in place yet; exit with a recognisable code.
                libc::_exit(124);
            }
            *slot = (high, dst, cloexec);
        }
        let mut max_dst = 2;
        for &(high, dst, cloexec) in &moved[..count] {
            let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
            if libc::dup3(high, dst, flags) < 0 {
                fail(plan.status_fd, STAGE_FDS, errno());
            }
            max_dst = max_dst.max(dst);
        }
        libc::syscall(
            libc::SYS_close_range,
            (max_dst + 1) as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        );
    }
}

#[expect(unsafe_code, reason = "sigaction and sigprocmask with zeroed structs")]
unsafe fn reset_signals() {
    // SAFETY: restoring default dispositions; a zeroed sigaction with SIG_DFL is valid.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = libc::SIG_DFL;
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::sigaction(sig, &act, std::ptr::null_mut());
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

#[expect(unsafe_code, reason = "mount, pivot_root and umount2")]
unsafe fn build_root(plan: &ChildPlan) {
    let st = plan.status_fd;
    let null = std::ptr::null::<c_char>();
    // SAFETY: mount calls on NUL-terminated strings owned by `plan`.
    unsafe {
        if libc::mount(
            null,
            c"/".as_ptr(),
            null,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            fail(st, STAGE_PRIVATE, errno());
        }
        let root_flags = libc::MS_NOSUID | libc::MS_NODEV;
        if libc::mount(
            c"tmpfs".as_ptr(),
            plan.new_root.as_ptr(),
            c"tmpfs".as_ptr(),
            root_flags,
            c"mode=0755,size=8m".as_ptr().cast(),
        ) != 0
        {
            fail(st, STAGE_ROOT, errno());
        }
        for step in &plan.steps {
            if run_step(step, plan) != 0 {
                fail(st, STAGE_BUILD, errno());
            }
        }
        if libc::chdir(plan.new_root.as_ptr()) != 0
            || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
            || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
            || libc::chdir(c"/".as_ptr()) != 0
        {
            fail(st, STAGE_PIVOT, errno());
        }
        let ro = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | root_flags;
        if libc::mount(null, c"/".as_ptr(), null, ro, std::ptr::null()) != 0 {
            fail(st, STAGE_PIVOT, errno());
        }
    }
}

#[expect(unsafe_code, reason = "file system syscalls")]
unsafe fn run_step(step: &Step, plan: &ChildPlan) -> c_int {
    let null = std::ptr::null::<c_char>();
    // SAFETY: syscalls on NUL-terminated strings and byte buffers owned by the plan.
    unsafe {
        match step {
            Step::Dir(path) => {
                let r = libc::mkdir(path.as_ptr(), 0o755);
                if r != 0 && *libc::__errno_location() == libc::EEXIST {
                    0
                } else {
                    r
                }
            }
            Step::File { path, contents } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
                    0o644,
                );
                if fd < 0 {
                    return -1;
                }
                let mut written = 0usize;
                while written < contents.len() {
                    let n = libc::write(
                        fd,
                        contents[written..].as_ptr().cast(),
                        contents.len() - written,
                    );
                    if n <= 0 {
                        libc::close(fd);
                        return -1;
                    }
                    written += n as usize;
                }
                libc::close(fd)
            }
            Step::Symlink { target, path } => libc::symlink(target.as_ptr(), path.as_ptr()),
            Step::Bind {
                src,
                dst,
                recursive,
                restrict,
            } => {
                let mut flags = libc::MS_BIND;
                if *recursive {
                    flags |= libc::MS_REC;
                }
                if libc::mount(src.as_ptr(), dst.as_ptr(), null, flags, std::ptr::null()) != 0 {
                    return -1;
                }
                match *restrict {
                    Restrict::None => 0,
                    Restrict::Recursive(attr_set) => {
                        let attr = libc::mount_attr {
                            attr_set,
                            attr_clr: 0,
                            propagation: 0,
                            userns_fd: 0,
                        };
                        libc::syscall(
                            libc::SYS_mount_setattr,
                            libc::AT_FDCWD,
                            dst.as_ptr(),
                            libc::AT_RECURSIVE as c_ulong,
                            &raw const attr,
                            std::mem::size_of::<libc::mount_attr>(),
                        ) as c_int
                    }
                    Restrict::Remount(extra) => {
                        let flags = libc::MS_BIND | libc::MS_REMOUNT | extra;
                        libc::mount(null, dst.as_ptr(), null, flags, std::ptr::null())
                    }
                }
            }
            Step::Tmpfs { dst, data } => libc::mount(
                c"tmpfs".as_ptr(),
                dst.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                data.as_ptr().cast(),
            ),
            Step::Proc(dst) => {
                // hidepid=2: a process sees only the processes it may ptrace, so the program
                // does not see the sandbox's init (non-dumpable) at all. A program that is
                // its own init (the Python worker) watches its children through /proc.
                let data = if plan.as_init {
                    std::ptr::null()
                } else {
                    c"hidepid=2".as_ptr().cast()
                };
                libc::mount(
                    c"proc".as_ptr(),
                    dst.as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    data,
                )
            }
            Step::MaskDir(dst) => libc::mount(
                c"tmpfs".as_ptr(),
                dst.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"mode=0555,size=4k".as_ptr().cast(),
            ),
        }
    }
}

#[expect(unsafe_code, reason = "scheduler syscalls")]
unsafe fn set_priority(plan: &ChildPlan) {
    // SAFETY: lowering our own priority; both calls take plain values.
    unsafe {
        let ok = match plan.priority {
            CpuPriority::Normal => true,
            CpuPriority::Nice(n) => libc::setpriority(libc::PRIO_PROCESS, 0, n) == 0,
            CpuPriority::Idle => {
                let param = libc::sched_param { sched_priority: 0 };
                libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0
            }
        };
        if !ok {
            fail(plan.status_fd, STAGE_PRIORITY, errno());
        }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[expect(
    unsafe_code,
    reason = "prctl, setgroups/setresgid/setresuid and capset"
)]
unsafe fn drop_privileges(plan: &ChildPlan) {
    let st = plan.status_fd;
    // SAFETY: raw credential syscalls on this single-threaded child; glibc's wrappers would try
    // to signal the parent's threads, which do not exist here.
    unsafe {
        for cap in 0..=plan.last_cap {
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        match plan.identity {
            Identity::Root { uid, gid } => {
                let failed = libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<u32>()) != 0
                    || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                    || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0;
                if failed {
                    fail(st, STAGE_PRIVS, errno());
                }
            }
            Identity::User => {
                let header = CapHeader {
                    version: 0x2008_0522,
                    pid: 0,
                };
                let data = [CapData {
                    effective: 0,
                    permitted: 0,
                    inheritable: 0,
                }; 2];
                if libc::syscall(libc::SYS_capset, &raw const header, data.as_ptr()) != 0 {
                    fail(st, STAGE_PRIVS, errno());
                }
            }
        }
    }
}

#[expect(unsafe_code, reason = "setrlimit")]
unsafe fn set_address_space_limit(plan: &ChildPlan) {
    // SAFETY: setrlimit with a struct on the stack.
    unsafe {
        for &(resource, soft, hard) in &plan.rlimits {
            if resource == libc::RLIMIT_AS as c_int {
                let lim = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                libc::setrlimit(libc::RLIMIT_AS, &lim);
            }
        }
    }
}

#[expect(unsafe_code, reason = "execve")]
unsafe fn exec_program(plan: &ChildPlan, ptrs: &ExecPointers) -> ! {
    // SAFETY: the pointer arrays are NULL-terminated and point into `plan`'s strings.
    unsafe {
        libc::execve(
            plan.exec_path.as_ptr(),
            ptrs.argv.as_ptr(),
            ptrs.envp.as_ptr(),
        );
        let rec = encode_record([REC_EXEC_FAILED, errno(), 0, 0, 0, 0]);
        libc::write(plan.status_fd, rec.as_ptr().cast(), rec.len());
        libc::_exit(127)
    }
}

/// PID 1's loop: reap everything; when the program itself ends, report and exit, which makes
/// the kernel kill whatever it left behind in the namespace.
#[expect(unsafe_code, reason = "wait4 and write")]
unsafe fn reap_until(status_fd: RawFd, program: libc::pid_t) -> ! {
    // SAFETY: wait4 with out-pointers to stack values; write of a stack buffer.
    unsafe {
        loop {
            let mut status: c_int = 0;
            let mut usage: libc::rusage = std::mem::zeroed();
            let pid = libc::wait4(-1, &mut status, 0, &mut usage);
            if pid == program {
                let micros = |tv: libc::timeval| tv.tv_sec * 1_000_000 + tv.tv_usec;
                let rec = encode_record([
                    REC_EXITED,
                    i64::from(status),
                    0,
                    micros(usage.ru_utime),
                    micros(usage.ru_stime),
                    usage.ru_maxrss,
                ]);
                libc::write(status_fd, rec.as_ptr().cast(), rec.len());
                libc::_exit(0);
            }
            if pid < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(0);
            }
        }
    }
}
