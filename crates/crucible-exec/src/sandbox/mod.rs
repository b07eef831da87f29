//! The sandbox: every compiler and program runs in fresh namespaces under cgroup limits.
//!
//! One run is one `clone` with new mount, PID, network, IPC, UTS and cgroup namespaces (plus a
//! user namespace when the executor is not root). The child becomes PID 1 of its namespace,
//! builds a tmpfs root holding read-only binds of the system (`/usr`, a few `/etc` files,
//! device nodes) and of the run's inputs, a private size-limited `/tmp`, a fresh `/proc`,
//! pivots into it, sets rlimits and its CPU priority, drops to an unprivileged identity,
//! installs the seccomp filter, then forks and execs the program and reaps until the program
//! ends. Its exit tears the namespace down, killing anything left behind. The parent places
//! the child in a cgroup slot before letting it continue, then watches stdout, stderr, the
//! status pipe, CPU time and the wall clock. See the crate README's "Sandbox" section.

mod accounting;
pub(crate) mod cgroup;
mod child;
pub(crate) mod seccomp;
pub(crate) mod sys;

use std::ffi::{CString, c_ulong};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use child::{ChildPlan, ExecPointers, Identity, Restrict, Step};

use crate::limits::{CpuPriority, Limits};
use crate::{Error, Result};

/// The uid/gid sandboxed programs run as when the executor is root ("nobody").
const SANDBOX_ID: u32 = 65534;

/// How runs are isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Namespaces, seccomp and (where available) cgroups.
    Sandboxed,
    /// Plain child processes with rlimits only (`--no-sandbox`).
    None,
}

/// Kernel files under `/proc` that a program has no use for and that describe the host or its
/// kernel (addresses, keys, timers, other tenants' activity), hidden behind `/dev/null`
/// (container runtimes hide much the same set). Only those the running kernel has.
const PROC_MASKED_FILES: &[&str] = &[
    "config.gz",
    "interrupts",
    "iomem",
    "ioports",
    "kallsyms",
    "kcore",
    "key-users",
    "keys",
    "kmsg",
    "kpagecgroup",
    "kpagecount",
    "kpageflags",
    "latency_stats",
    "modules",
    "sched_debug",
    "slabinfo",
    "sysrq-trigger",
    "timer_list",
    "timer_stats",
    "vmallocinfo",
];

/// Directories under `/proc` about host hardware and drivers, hidden under an empty read-only
/// tmpfs.
const PROC_MASKED_DIRS: &[&str] = &["acpi", "asound", "bus", "driver", "scsi"];

/// Directories under `/proc` that stay readable (runtimes read `/proc/sys/kernel/...` and
/// `/proc/sys/vm/overcommit_memory`) but never writable. (`/proc/fs` and `/proc/irq` hold
/// nothing writable but by root.)
const PROC_READ_ONLY: &[&str] = &["sys"];

/// How a [`Sandbox`] is set up; one per executor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SandboxConfig {
    pub(crate) isolation: Isolation,
    pub(crate) priority: CpuPriority,
    /// Use cgroups when the host lets us create them; false forces the fallback (rlimits and
    /// CPU time summed from `/proc`), as on a host without writable cgroups.
    pub(crate) use_cgroups: bool,
}

/// Shared, immutable sandbox settings; one per executor.
#[derive(Debug)]
pub(crate) struct Sandbox {
    identity: Option<Identity>,
    new_root: CString,
    runs_dir: PathBuf,
    cgroups: Option<cgroup::Cgroups>,
    filter: Vec<libc::sock_filter>,
    last_cap: i32,
    system: Vec<Step>,
    priority: CpuPriority,
    user_ids: (u32, u32),
    /// The kernel has `mount_setattr` (5.12): read-only binds are read-only with every
    /// submount under them.
    recursive_attrs: bool,
}

/// A host path made visible inside the sandbox.
#[derive(Debug, Clone)]
pub(crate) struct Bind {
    pub(crate) host: PathBuf,
    pub(crate) inside: PathBuf,
    pub(crate) writable: bool,
}

/// Where the program's stdin comes from.
#[derive(Debug)]
pub(crate) enum Stdin {
    Null,
    /// Bytes given to the program (held in a memfd).
    Bytes(Vec<u8>),
    /// A pipe the caller writes to (zygotes).
    Pipe,
}

/// One program to launch.
#[derive(Debug)]
pub(crate) struct Command {
    /// Executable path inside the sandbox.
    pub(crate) program: PathBuf,
    /// `argv[1..]`.
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) binds: Vec<Bind>,
    /// Working directory inside the sandbox (defaults to `/tmp`).
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) stdin: Stdin,
    /// Extra descriptors for the program: `(descriptor, number inside)` (3 and up).
    pub(crate) extra_fds: Vec<(OwnedFd, RawFd)>,
    pub(crate) limits: Limits,
    /// Exec the program as PID 1 (it must reap its own children).
    pub(crate) as_init: bool,
    /// Without cgroups, limit memory with `RLIMIT_AS` (wrong for runtimes that reserve large
    /// address ranges: the JVM, V8, Go).
    pub(crate) address_space_limit: bool,
}

/// A launched sandbox.
#[derive(Debug)]
pub(crate) struct Process {
    pub(crate) pid: i32,
    pub(crate) stdin: Option<OwnedFd>,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
    status: OwnedFd,
    slot: Option<cgroup::Slot>,
    started: Instant,
    limits: Limits,
    tmp_dir: Option<PathBuf>,
    reaped: bool,
}

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
}

/// Why the supervisor stopped a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    CpuTime,
    WallTime,
    Output,
}

/// Everything observed about one finished run.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) exit: Exit,
    pub(crate) killed: Option<Kill>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    pub(crate) peak_memory_bytes: u64,
    pub(crate) oom: bool,
}

impl Sandbox {
    /// Prepare the sandbox. `state_dir` holds an empty mount point and per-run directories.
    /// With [`Isolation::Sandboxed`], a probe run checks that namespaces work here.
    pub(crate) fn new(state_dir: &Path, config: SandboxConfig) -> Result<Sandbox> {
        let SandboxConfig {
            isolation,
            priority,
            use_cgroups,
        } = config;
        priority.validate()?;
        let runs_dir = state_dir.join("runs");
        let root_dir = state_dir.join("newroot");
        for dir in [&runs_dir, &root_dir] {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let user_ids = sys::ids();
        let identity = match isolation {
            Isolation::None => None,
            Isolation::Sandboxed if user_ids.0 == 0 => Some(Identity::Root {
                uid: SANDBOX_ID,
                gid: SANDBOX_ID,
            }),
            Isolation::Sandboxed => Some(Identity::User),
        };
        let cgroups = match use_cgroups {
            true => cgroup::Cgroups::detect(),
            false => None,
        };
        let filter = match identity {
            Some(_) => seccomp::native_filter()?,
            None => Vec::new(),
        };
        let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40);
        let sandbox = Sandbox {
            identity,
            new_root: cstring(root_dir.as_os_str().as_encoded_bytes())?,
            runs_dir,
            cgroups,
            filter,
            last_cap,
            system: Vec::new(),
            priority,
            user_ids,
            recursive_attrs: sys::has_mount_setattr(),
        };
        let sandbox = Sandbox {
            system: sandbox.system_steps()?,
            ..sandbox
        };
        if identity.is_some() {
            sandbox.probe()?;
        }
        Ok(sandbox)
    }

    /// Whether runs are isolated.
    pub(crate) fn is_sandboxed(&self) -> bool {
        self.identity.is_some()
    }

    /// A short description of the mechanism, for reports.
    pub(crate) fn describe(&self) -> String {
        let base = match self.identity {
            None => return "none (rlimits only)".into(),
            Some(Identity::Root { .. }) => "namespaces (root, uid 65534) + seccomp",
            Some(Identity::User) => "namespaces (user namespace) + seccomp",
        };
        match &self.cgroups {
            Some(cg) => format!("{base} + {}", cg.describe()),
            None => format!("{base} + rlimits + CPU time from /proc"),
        }
    }

    /// The uid and gid programs see inside the sandbox.
    pub(crate) fn inside_ids(&self) -> (u32, u32) {
        match self.identity {
            Some(Identity::Root { uid, gid }) => (uid, gid),
            _ => self.user_ids,
        }
    }

    /// A fresh directory for one run's files on the host, removed by the caller.
    pub(crate) fn run_dir(&self) -> Result<PathBuf> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self.runs_dir.join(format!("{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(dir)
    }

    /// Make a host directory writable by the sandbox user (root mode runs as uid 65534).
    pub(crate) fn hand_over(&self, dir: &Path) -> Result<()> {
        if let Some(Identity::Root { uid, gid }) = self.identity {
            sys::chown(dir, uid, gid).map_err(|e| Error::io(dir, e))?;
        }
        Ok(())
    }

    /// Make an open file or pipe usable by the sandbox user when it reopens it through
    /// `/proc/self/fd/N` (the JVM cannot use an inherited descriptor number directly).
    pub(crate) fn hand_over_fd(&self, fd: &OwnedFd) -> Result<()> {
        if let Some(Identity::Root { uid, gid }) = self.identity {
            std::os::unix::fs::fchown(fd, Some(uid), Some(gid)).map_err(Error::spawn)?;
        }
        Ok(())
    }

    /// A cgroup slot of its own, for a process the caller moves in later (a Python worker's
    /// program, forked inside the worker's sandbox); `None` without cgroups or a sandbox.
    pub(crate) fn acquire_slot(
        &self,
        memory_bytes: u64,
        processes: u32,
    ) -> Result<Option<cgroup::Slot>> {
        match &self.cgroups {
            Some(cg) if self.identity.is_some() => cg
                .acquire(memory_bytes, processes)
                .map(Some)
                .map_err(|e| Error::Sandbox(format!("cannot prepare the cgroup: {e}"))),
            _ => Ok(None),
        }
    }

    /// Give back a slot from [`Sandbox::acquire_slot`] once its processes have exited.
    pub(crate) fn release_slot(&self, slot: cgroup::Slot) {
        if let Some(cg) = &self.cgroups {
            cg.release(slot);
        }
    }

    /// Launch a command and supervise it to the end.
    pub(crate) fn run(&self, command: Command) -> Result<Outcome> {
        let mut process = self.spawn(command)?;
        process.supervise(self)
    }

    /// Launch a command; the caller talks to it and must call [`Process::finish`].
    pub(crate) fn spawn(&self, command: Command) -> Result<Process> {
        let limits = command.limits;
        limits.validate()?;
        let slot = match &self.cgroups {
            Some(cg) if self.identity.is_some() => Some(
                cg.acquire(limits.memory_bytes, limits.processes)
                    .map_err(|e| Error::Sandbox(format!("cannot prepare the cgroup: {e}")))?,
            ),
            _ => None,
        };
        let (status_r, status_w) = sys::pipe().map_err(Error::spawn)?;
        let (sync_r, sync_w) = sys::pipe().map_err(Error::spawn)?;
        let (out_r, out_w) = sys::pipe().map_err(Error::spawn)?;
        let (err_r, err_w) = sys::pipe().map_err(Error::spawn)?;
        let (stdin_fd, stdin_parent): (OwnedFd, Option<OwnedFd>) = match command.stdin {
            Stdin::Null => (
                File::open("/dev/null")
                    .map_err(|e| Error::io(Path::new("/dev/null"), e))?
                    .into(),
                None,
            ),
            Stdin::Bytes(ref bytes) => (sys::memfd(c"stdin", bytes).map_err(Error::spawn)?, None),
            Stdin::Pipe => {
                let (r, w) = sys::pipe().map_err(Error::spawn)?;
                (r, Some(w))
            }
        };
        let tmp_dir = match self.identity {
            None => Some(self.run_dir()?),
            Some(_) => None,
        };
        // On cgroup v1 the child moves itself into the slot (see `child_main`); on v2 we move
        // it before releasing it.
        let join_files = match slot.as_ref().map(cgroup::Slot::join_files).transpose() {
            Ok(files) => files.flatten().unwrap_or_default(),
            Err(e) => {
                if let (Some(slot), Some(cg)) = (slot, &self.cgroups) {
                    cg.release(slot);
                }
                return Err(Error::Sandbox(format!("cannot open the cgroup: {e}")));
            }
        };
        let self_join = !join_files.is_empty();
        let plan = self.plan(
            &command,
            &[&stdin_fd, &out_w, &err_w],
            &status_w,
            &sync_r,
            &join_files,
            tmp_dir.as_deref(),
        )?;
        let ptrs = ExecPointers::new(&plan);
        let pid = self.clone_child(&plan, &ptrs)?;
        drop((status_w, sync_r, out_w, err_w, stdin_fd, command.extra_fds));
        drop(join_files);
        let mut process = Process {
            pid,
            stdin: stdin_parent,
            stdout: out_r,
            stderr: err_r,
            status: status_r,
            slot,
            started: Instant::now(),
            limits,
            tmp_dir,
            reaped: false,
        };
        if let Err(err) = self.release_child(&process, &sync_w, self_join) {
            process.kill();
            process.reap(self);
            return Err(err);
        }
        Ok(process)
    }

    fn release_child(&self, process: &Process, sync_w: &OwnedFd, self_join: bool) -> Result<()> {
        let pid = process.pid;
        if let Some(Identity::User) = self.identity {
            let (uid, gid) = self.user_ids;
            let proc_dir = PathBuf::from(format!("/proc/{pid}"));
            let maps = [
                ("setgroups", "deny".to_owned()),
                ("uid_map", format!("{uid} {uid} 1")),
                ("gid_map", format!("{gid} {gid} 1")),
            ];
            for (file, content) in maps {
                std::fs::write(proc_dir.join(file), content).map_err(|e| {
                    Error::Sandbox(format!("cannot write the user namespace's {file}: {e}"))
                })?;
            }
        }
        if let Some(slot) = process.slot.as_ref().filter(|_| !self_join) {
            slot.add(pid)
                .map_err(|e| Error::Sandbox(format!("cannot join the cgroup: {e}")))?;
        }
        sys::write_all(sync_w.as_raw_fd(), &[1]).map_err(Error::spawn)
    }

    #[expect(
        unsafe_code,
        reason = "clone(2) with namespace flags, then the child's setup code"
    )]
    fn clone_child(&self, plan: &ChildPlan, ptrs: &ExecPointers) -> Result<i32> {
        let mut flags = libc::SIGCHLD as c_ulong;
        match self.identity {
            None => {}
            Some(identity) => {
                flags |= (libc::CLONE_NEWNS
                    | libc::CLONE_NEWPID
                    | libc::CLONE_NEWNET
                    | libc::CLONE_NEWIPC
                    | libc::CLONE_NEWUTS
                    | libc::CLONE_NEWCGROUP) as c_ulong;
                if let Identity::User = identity {
                    flags |= libc::CLONE_NEWUSER as c_ulong;
                }
            }
        }
        // SAFETY: a fork-like clone (no CLONE_VM, no new stack): the child continues on a copy
        // of this thread's stack and only makes system calls on `plan` before execve or _exit.
        let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
        if pid < 0 {
            return Err(Error::Sandbox(format!(
                "cannot create the sandbox's namespaces: {}; pass --no-sandbox to run without isolation",
                std::io::Error::last_os_error()
            )));
        }
        if pid == 0 {
            // SAFETY: we are the freshly cloned child; the plan was built before the clone.
            unsafe { child::child_main(plan, ptrs) }
        }
        Ok(pid as i32)
    }

    fn probe(&self) -> Result<()> {
        let command = Command {
            program: PathBuf::from("/usr/bin/true"),
            args: vec![],
            env: vec![],
            binds: vec![],
            cwd: None,
            stdin: Stdin::Null,
            extra_fds: vec![],
            limits: Limits::new(Duration::from_secs(5), 64 << 20),
            as_init: false,
            address_space_limit: false,
        };
        let outcome = self.run(command)?;
        if outcome.exit != Exit::Code(0) {
            return Err(Error::Sandbox(format!(
                "the sandbox probe (`true`) failed: {:?}; pass --no-sandbox to run without isolation",
                outcome.exit
            )));
        }
        Ok(())
    }

    /// The system part of every sandbox's file system.
    fn system_steps(&self) -> Result<Vec<Step>> {
        let mut b = PlanBuilder::new(self);
        b.bind(Path::new("/usr"), Path::new("/usr"), false)?;
        for link in ["bin", "lib", "lib64", "lib32", "sbin", "libx32"] {
            let host = Path::new("/").join(link);
            match std::fs::read_link(&host) {
                Ok(target) => b.symlink(&target, &host)?,
                Err(_) if host.is_dir() => b.bind(&host, &host, false)?,
                Err(_) => {}
            }
        }
        b.dir(Path::new("/etc"))?;
        let (uid, gid) = self.inside_ids();
        b.file(
            Path::new("/etc/passwd"),
            format!("root:x:0:0:root:/root:/bin/sh\nsandbox:x:{uid}:{gid}:sandbox:/tmp:/bin/sh\n"),
        )?;
        b.file(
            Path::new("/etc/group"),
            format!("root:x:0:\nsandbox:x:{gid}:\n"),
        )?;
        b.file(Path::new("/etc/hostname"), "sandbox\n".into())?;
        b.file(
            Path::new("/etc/hosts"),
            "127.0.0.1 localhost sandbox\n".into(),
        )?;
        let etc_keep = [
            "ld.so.cache",
            "ld.so.conf",
            "ld.so.conf.d",
            "alternatives",
            "localtime",
        ];
        for name in etc_keep {
            let host = Path::new("/etc").join(name);
            if host.exists() {
                b.bind(&host, &host, false)?;
            }
        }
        // Toolchain configuration only (the JDK's conf files and Python's sitecustomize).
        if let Ok(entries) = std::fs::read_dir("/etc") {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("java-") || name.starts_with("python3") {
                    b.bind(&entry.path(), &entry.path(), false)?;
                }
            }
        }
        b.dir(Path::new("/dev"))?;
        for node in ["null", "zero", "full", "random", "urandom"] {
            let host = Path::new("/dev").join(node);
            b.file(&host, String::new())?;
            b.steps.push(Step::Bind {
                src: path_cstring(&host)?,
                dst: b.inside(&host)?,
                recursive: false,
                restrict: Restrict::None,
            });
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("shm", "/tmp"),
        ] {
            b.symlink(Path::new(target), &Path::new("/dev").join(name))?;
        }
        b.dir(Path::new("/proc"))?;
        b.steps.push(Step::Proc(b.inside(Path::new("/proc"))?));
        b.mask_proc()?;
        b.dir(Path::new("/tmp"))?;
        Ok(b.steps)
    }

    fn plan(
        &self,
        command: &Command,
        stdio: &[&OwnedFd; 3],
        status_w: &OwnedFd,
        sync_r: &OwnedFd,
        join_files: &[File],
        tmp_dir: Option<&Path>,
    ) -> Result<ChildPlan> {
        let limits = &command.limits;
        let sandboxed = self.identity.is_some();
        let mut steps = Vec::new();
        if sandboxed {
            let mut b = PlanBuilder::new(self);
            for bind in &command.binds {
                b.bind(&bind.host, &bind.inside, bind.writable)?;
            }
            let tmp = format!("mode=1777,size={}", limits.tmp_bytes);
            b.steps.push(Step::Tmpfs {
                dst: b.inside(Path::new("/tmp"))?,
                data: cstring(tmp.as_bytes())?,
            });
            steps = b.steps;
        }
        let translate = |p: &Path| -> PathBuf {
            if sandboxed {
                return p.to_path_buf();
            }
            translate_path(p, &command.binds, tmp_dir)
        };
        let cwd = translate(command.cwd.as_deref().unwrap_or(Path::new("/tmp")));
        let program = translate(&command.program);
        let mut argv = vec![path_cstring(&program)?];
        for arg in &command.args {
            let arg = if sandboxed {
                arg.clone()
            } else {
                translate_path(Path::new(arg), &command.binds, tmp_dir)
                    .to_string_lossy()
                    .into_owned()
            };
            argv.push(cstring(arg.as_bytes())?);
        }
        let envp = command
            .env
            .iter()
            .map(|(k, v)| {
                let v = if sandboxed {
                    v.clone()
                } else {
                    translate_env(v, &command.binds, tmp_dir)
                };
                cstring(format!("{k}={v}").as_bytes())
            })
            .collect::<Result<Vec<_>>>()?;
        let mut fds = vec![
            (stdio[0].as_raw_fd(), 0, false),
            (stdio[1].as_raw_fd(), 1, false),
            (stdio[2].as_raw_fd(), 2, false),
        ];
        let mut next = 3;
        for (fd, inside) in &command.extra_fds {
            fds.push((fd.as_raw_fd(), *inside, false));
            next = next.max(inside + 1);
        }
        let status_fd = next;
        let sync_fd = next + 1;
        fds.push((status_w.as_raw_fd(), status_fd, true));
        fds.push((sync_r.as_raw_fd(), sync_fd, true));
        let join_fds: Vec<RawFd> = (sync_fd + 1..).take(join_files.len()).collect();
        for (file, &inside) in join_files.iter().zip(&join_fds) {
            fds.push((file.as_raw_fd(), inside, true));
        }
        let identity = self.identity.unwrap_or(Identity::User);
        Ok(ChildPlan {
            identity,
            new_root: self.new_root.clone(),
            steps: if sandboxed {
                self.system.iter().map(clone_step).chain(steps).collect()
            } else {
                Vec::new()
            },
            cwd: path_cstring(&cwd)?,
            hostname: cstring(b"sandbox")?,
            rlimits: self.rlimits(command),
            fds,
            status_fd,
            sync_fd,
            join_fds,
            filter: if sandboxed {
                self.filter.clone()
            } else {
                Vec::new()
            },
            exec_path: path_cstring(&program)?,
            argv,
            envp,
            as_init: command.as_init,
            priority: self.priority,
            last_cap: self.last_cap,
            sandboxed,
        })
    }

    fn rlimits(&self, command: &Command) -> Vec<(i32, u64, u64)> {
        let limits = &command.limits;
        let cpu_secs = limits.cpu_time.as_secs_f64().ceil() as u64 + 1;
        let mut out = vec![
            (libc::RLIMIT_CPU as i32, cpu_secs, cpu_secs + 1),
            (
                libc::RLIMIT_FSIZE as i32,
                limits.file_size_bytes,
                limits.file_size_bytes,
            ),
            (
                libc::RLIMIT_NOFILE as i32,
                u64::from(limits.open_files),
                u64::from(limits.open_files),
            ),
            (libc::RLIMIT_CORE as i32, 0, 0),
            // Deep recursion is common in contest code; the stack still counts as memory.
            (
                libc::RLIMIT_STACK as i32,
                limits.memory_bytes,
                limits.memory_bytes,
            ),
        ];
        let has_cgroup = self.cgroups.is_some() && self.identity.is_some();
        if !has_cgroup {
            if command.address_space_limit {
                out.push((
                    libc::RLIMIT_AS as i32,
                    limits.memory_bytes,
                    limits.memory_bytes,
                ));
            }
            if self.identity.is_some() {
                let n = u64::from(limits.processes);
                out.push((libc::RLIMIT_NPROC as i32, n, n));
            }
        }
        out
    }
}

/// Builds mount steps with paths under the new root.
struct PlanBuilder<'a> {
    sandbox: &'a Sandbox,
    steps: Vec<Step>,
}

impl<'a> PlanBuilder<'a> {
    fn new(sandbox: &'a Sandbox) -> PlanBuilder<'a> {
        PlanBuilder {
            sandbox,
            steps: Vec::new(),
        }
    }

    fn inside(&self, path: &Path) -> Result<CString> {
        let mut bytes = self.sandbox.new_root.as_bytes().to_vec();
        bytes.extend_from_slice(path.as_os_str().as_encoded_bytes());
        cstring(&bytes)
    }

    fn dir(&mut self, path: &Path) -> Result<()> {
        let mut partial = PathBuf::from("/");
        for component in path.components().skip(1) {
            partial.push(component);
            let step = Step::Dir(self.inside(&partial)?);
            self.steps.push(step);
        }
        Ok(())
    }

    fn file(&mut self, path: &Path, contents: String) -> Result<()> {
        if let Some(parent) = path.parent() {
            self.dir(parent)?;
        }
        let path = self.inside(path)?;
        self.steps.push(Step::File {
            path,
            contents: contents.into_bytes(),
        });
        Ok(())
    }

    fn symlink(&mut self, target: &Path, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            self.dir(parent)?;
        }
        let step = Step::Symlink {
            target: path_cstring(target)?,
            path: self.inside(path)?,
        };
        self.steps.push(step);
        Ok(())
    }

    fn bind(&mut self, host: &Path, inside: &Path, writable: bool) -> Result<()> {
        let meta = std::fs::metadata(host).map_err(|e| Error::io(host, e))?;
        if meta.is_dir() {
            self.dir(inside)?;
        } else {
            self.file(inside, String::new())?;
        }
        let (mut attrs, mut flags) = (
            libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
            libc::MS_NOSUID | libc::MS_NODEV,
        );
        if !writable {
            attrs |= libc::MOUNT_ATTR_RDONLY;
            flags |= libc::MS_RDONLY;
        }
        let step = Step::Bind {
            src: path_cstring(host)?,
            dst: self.inside(inside)?,
            // Without mount_setattr a remount reaches the top mount only: a read-only bind
            // then leaves its submounts out rather than leave them writable.
            recursive: writable || self.sandbox.recursive_attrs,
            restrict: self.restrict(host, attrs, flags)?,
        };
        self.steps.push(step);
        Ok(())
    }

    /// The restriction of a bind whose source is `host`: `attrs` (`MOUNT_ATTR_*`) on the bind
    /// and its submounts, or else a remount with `flags` (`MS_*`) plus the flags the source's
    /// mount has locked (a user namespace may not clear them).
    fn restrict(&self, host: &Path, attrs: u64, flags: libc::c_ulong) -> Result<Restrict> {
        if self.sandbox.recursive_attrs {
            return Ok(Restrict::Recursive(attrs));
        }
        let locked = sys::locked_mount_flags(host).map_err(|e| Error::io(host, e))?;
        Ok(Restrict::Remount(locked | flags))
    }

    /// Hide the kernel's and the host's files under the fresh `/proc` and make its tunables
    /// read-only. Paths are checked on the host's `/proc`: the same kernel mounts the new one.
    fn mask_proc(&mut self) -> Result<()> {
        let proc = Path::new("/proc");
        // Files read as `/dev/null`: empty, and writes go nowhere. Files only root may open
        // (`kcore`, `kmsg`, `sysrq-trigger` on most kernels) stay as they are: the program is
        // never root on the host, and every bind costs each run time.
        for name in PROC_MASKED_FILES {
            let others_may_open = std::fs::metadata(proc.join(name)).is_ok_and(|m| {
                std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o006 != 0
            });
            if others_may_open {
                let step = Step::Bind {
                    src: path_cstring(Path::new("/dev/null"))?,
                    dst: self.inside(&proc.join(name))?,
                    recursive: false,
                    restrict: Restrict::None,
                };
                self.steps.push(step);
            }
        }
        // Directories: one empty read-only tmpfs, bound over the others (a bind keeps the
        // read-only flag of its source, and costs less than a new tmpfs).
        let mut first: Option<CString> = None;
        for name in PROC_MASKED_DIRS {
            if !proc.join(name).is_dir() {
                continue;
            }
            let dst = self.inside(&proc.join(name))?;
            match &first {
                None => {
                    self.steps.push(Step::MaskDir(dst.clone()));
                    first = Some(dst);
                }
                Some(src) => self.steps.push(Step::Bind {
                    src: src.clone(),
                    dst,
                    recursive: false,
                    restrict: Restrict::None,
                }),
            }
        }
        let attrs = libc::MOUNT_ATTR_RDONLY
            | libc::MOUNT_ATTR_NOSUID
            | libc::MOUNT_ATTR_NODEV
            | libc::MOUNT_ATTR_NOEXEC;
        let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        for name in PROC_READ_ONLY {
            if proc.join(name).is_dir() {
                let inside = self.inside(&proc.join(name))?;
                let restrict = self.restrict(proc, attrs, flags)?;
                self.steps.push(Step::Bind {
                    src: inside.clone(),
                    dst: inside,
                    recursive: true,
                    restrict,
                });
            }
        }
        Ok(())
    }
}

impl Process {
    /// Kill the whole sandbox (PID 1 takes its namespace with it).
    pub(crate) fn kill(&self) {
        if !self.reaped {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            if let Some(slot) = &self.slot {
                slot.kill_all();
            }
        }
    }

    /// CPU time used so far, when a cgroup measures it.
    pub(crate) fn cpu_so_far(&self) -> Option<Duration> {
        self.slot
            .as_ref()
            .and_then(|s| s.cpu_ns())
            .map(Duration::from_nanos)
    }

    /// Whether PID 1 is still running (a long-lived sandbox dies with the thread that made it).
    pub(crate) fn is_alive(&mut self) -> bool {
        if self.reaped {
            return false;
        }
        if sys::has_exited(self.pid) {
            self.reaped = true;
            return false;
        }
        true
    }

    /// OOM kills recorded by the process's cgroup so far.
    pub(crate) fn oom_kills(&self) -> u64 {
        self.slot.as_ref().map(|s| s.usage().oom_kills).unwrap_or(0)
    }

    /// Time since launch.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Watch the process to its end: collect output up to the cap, enforce CPU and wall time.
    pub(crate) fn supervise(&mut self, sandbox: &Sandbox) -> Result<Outcome> {
        let res = self.watch(sandbox);
        if res.is_err() {
            // Never leave a sandbox running (or a zombie) behind an error.
            self.finish(sandbox);
        }
        res
    }

    fn watch(&mut self, sandbox: &Sandbox) -> Result<Outcome> {
        let limits = self.limits;
        for fd in [&self.stdout, &self.stderr, &self.status] {
            sys::set_nonblocking(fd).map_err(Error::spawn)?;
        }
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut status = Vec::new();
        let mut open = [true; 3];
        let mut killed = None;
        let mut buf = vec![0u8; 64 * 1024];
        // Without a cgroup, CPU time is summed over the sandbox's processes from /proc.
        let mut tree_cpu = accounting::TreeCpu::new(self.pid);
        while open.iter().any(|&o| o) {
            let fds: Vec<RawFd> = [&self.stdout, &self.stderr, &self.status]
                .iter()
                .zip(open)
                .filter(|(_, o)| *o)
                .map(|(fd, _)| fd.as_raw_fd())
                .collect();
            sys::poll_readable(&fds, 7).map_err(Error::spawn)?;
            for (i, fd) in [&self.stdout, &self.stderr, &self.status]
                .iter()
                .enumerate()
            {
                if !open[i] {
                    continue;
                }
                let sink = match i {
                    0 => &mut stdout,
                    1 => &mut stderr,
                    _ => &mut status,
                };
                open[i] = drain(fd.as_raw_fd(), &mut buf, sink);
            }
            if killed.is_some() {
                continue;
            }
            let output = (stdout.len() + stderr.len()) as u64;
            let cpu = match self.cpu_so_far() {
                Some(cpu) => cpu,
                None => tree_cpu.sample(),
            };
            let reason = if output > limits.output_bytes {
                Some(Kill::Output)
            } else if cpu > limits.cpu_time {
                Some(Kill::CpuTime)
            } else if self.elapsed() > limits.wall_time {
                Some(Kill::WallTime)
            } else {
                None
            };
            if let Some(reason) = reason {
                killed = Some(reason);
                self.kill();
                // Children of the namespace die with PID 1; their pipe ends close with them.
            }
        }
        let wall = self.elapsed();
        let raw = self.reap(sandbox);
        let cap = limits.output_bytes as usize;
        stdout.truncate(cap);
        stderr.truncate(cap);
        let seen = Seen {
            status: &status,
            killed,
            stdout,
            stderr,
            wall,
            tree_cpu: tree_cpu.max(),
        };
        self.outcome(raw, seen)
    }

    fn outcome(&mut self, (raw, usage): (i32, cgroup::Usage), seen: Seen<'_>) -> Result<Outcome> {
        let Seen {
            status,
            killed,
            stdout,
            stderr,
            wall,
            tree_cpu,
        } = seen;
        let mut exit = decode_wait(raw);
        let mut cpu = Duration::from_nanos(usage.cpu_ns).max(tree_cpu);
        let mut peak = usage.peak_bytes;
        for record in status.chunks_exact(child::RECORD_LEN) {
            let fields = child::decode_record(record);
            match fields[0] {
                child::REC_SETUP_FAILED => {
                    let stage = child::STAGES
                        .get(fields[1] as usize)
                        .copied()
                        .unwrap_or("set up");
                    let err = std::io::Error::from_raw_os_error(fields[2] as i32);
                    return Err(Error::Sandbox(format!(
                        "sandbox setup failed to {stage}: {err}"
                    )));
                }
                child::REC_EXEC_FAILED => {
                    let err = std::io::Error::from_raw_os_error(fields[1] as i32);
                    return Err(Error::Sandbox(format!("cannot start the program: {err}")));
                }
                child::REC_EXITED => {
                    exit = decode_wait(fields[1] as i32);
                    let rusage_cpu = Duration::from_micros((fields[3] + fields[4]) as u64);
                    cpu = cpu.max(rusage_cpu);
                    peak = peak.max(fields[5] as u64 * 1024);
                }
                _ => {}
            }
        }
        if raw == 126 << 8 && status.is_empty() {
            return Err(Error::Sandbox("sandbox setup failed".into()));
        }
        Ok(Outcome {
            exit,
            killed,
            stdout,
            stderr,
            wall,
            cpu,
            peak_memory_bytes: peak,
            oom: usage.oom_kills > 0,
        })
    }

    /// Reap PID 1, read the cgroup's totals and give the slot back.
    fn reap(&mut self, sandbox: &Sandbox) -> (i32, cgroup::Usage) {
        if self.reaped {
            if let (Some(slot), Some(cg)) = (self.slot.take(), &sandbox.cgroups) {
                cg.release(slot);
            }
            return (0, cgroup::Usage::default());
        }
        if sandbox.identity.is_none() {
            // No PID namespace: the init is a session leader; take its process group down.
            let _ = sys::kill(-self.pid, libc::SIGKILL);
        }
        let raw = sys::wait(self.pid).unwrap_or(0);
        self.reaped = true;
        let usage = self.slot.as_ref().map(|s| s.usage()).unwrap_or_default();
        if let (Some(slot), Some(cg)) = (self.slot.take(), &sandbox.cgroups) {
            cg.release(slot);
        }
        if let Some(dir) = self.tmp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        (raw, usage)
    }

    /// Kill and reap (for callers that drove the process themselves, like zygotes).
    pub(crate) fn finish(&mut self, sandbox: &Sandbox) {
        self.kill();
        self.reap(sandbox);
    }
}

/// What the supervisor collected while it watched a run.
struct Seen<'a> {
    status: &'a [u8],
    killed: Option<Kill>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    wall: Duration,
    /// The highest CPU total summed from /proc (zero with a cgroup).
    tree_cpu: Duration,
}

/// Read everything available from a non-blocking descriptor; false at end of file.
fn drain(fd: RawFd, buf: &mut [u8], sink: &mut Vec<u8>) -> bool {
    // Never hold more than a little past the output cap: the rest is read and dropped.
    const HARD_CAP: usize = 1 << 30;
    loop {
        match sys::read(fd, buf) {
            Ok(0) => return false,
            Ok(n) => {
                if sink.len() < HARD_CAP {
                    sink.extend_from_slice(&buf[..n]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

fn decode_wait(raw: i32) -> Exit {
    if libc::WIFSIGNALED(raw) {
        Exit::Signal(libc::WTERMSIG(raw))
    } else {
        Exit::Code(libc::WEXITSTATUS(raw))
    }
}

fn clone_step(step: &Step) -> Step {
    match step {
        Step::Dir(p) => Step::Dir(p.clone()),
        Step::File { path, contents } => Step::File {
            path: path.clone(),
            contents: contents.clone(),
        },
        Step::Symlink { target, path } => Step::Symlink {
            target: target.clone(),
            path: path.clone(),
        },
        Step::Bind {
            src,
            dst,
            recursive,
            restrict,
        } => Step::Bind {
            src: src.clone(),
            dst: dst.clone(),
            recursive: *recursive,
            restrict: *restrict,
        },
        Step::Tmpfs { dst, data } => Step::Tmpfs {
            dst: dst.clone(),
            data: data.clone(),
        },
        Step::Proc(p) => Step::Proc(p.clone()),
        Step::MaskDir(p) => Step::MaskDir(p.clone()),
    }
}

/// Map an in-sandbox path to the host when running unsandboxed.
fn translate_path(path: &Path, binds: &[Bind], tmp_dir: Option<&Path>) -> PathBuf {
    for bind in binds {
        if let Ok(rest) = path.strip_prefix(&bind.inside) {
            return bind.host.join(rest);
        }
    }
    if let (Some(tmp), Ok(rest)) = (tmp_dir, path.strip_prefix("/tmp")) {
        return tmp.join(rest);
    }
    path.to_path_buf()
}

/// Translate each `:`-separated piece of an environment value that is an absolute path.
fn translate_env(value: &str, binds: &[Bind], tmp_dir: Option<&Path>) -> String {
    value
        .split(':')
        .map(|piece| {
            if piece.starts_with('/') {
                translate_path(Path::new(piece), binds, tmp_dir)
                    .to_string_lossy()
                    .into_owned()
            } else {
                piece.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

fn cstring(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::Sandbox("a path or argument contains a NUL byte".into()))
}

fn path_cstring(path: &Path) -> Result<CString> {
    cstring(path.as_os_str().as_encoded_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(program: &str, args: &[&str]) -> Command {
        Command {
            program: PathBuf::from(program),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![("PATH".into(), "/usr/bin".into())],
            binds: vec![],
            cwd: None,
            stdin: Stdin::Null,
            extra_fds: vec![],
            limits: Limits::new(Duration::from_secs(5), 256 << 20),
            as_init: false,
            address_space_limit: false,
        }
    }

    fn config(use_cgroups: bool) -> SandboxConfig {
        SandboxConfig {
            isolation: Isolation::Sandboxed,
            priority: CpuPriority::Normal,
            use_cgroups,
        }
    }

    #[test]
    fn the_file_system_is_private() {
        let state = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new(state.path(), config(true)).unwrap();
        let script = "hostname; cat /etc/shadow; echo ok > /tmp/x && cat /tmp/x; \
                      touch /usr/x; ls /root; ls /proc | grep -c '^[0-9]'";
        let out = sandbox.run(command("/bin/sh", &["-c", script])).unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], "sandbox");
        assert_eq!(lines[1], "ok");
        // PID 1 (the init), the shell and the pipeline: nothing of the host is visible.
        assert!(lines[2].parse::<u32>().unwrap() <= 4, "{stdout}");
        assert!(stderr.contains("/etc/shadow: No such file"), "{stderr}");
        assert!(stderr.contains("Read-only file system"), "{stderr}");
        assert!(stderr.contains("/root': No such file"), "{stderr}");
        assert!(out.peak_memory_bytes > 0);
    }

    /// A tmpfs mounted on the host for one test, unmounted (lazily) when dropped.
    struct HostMount(PathBuf);

    impl HostMount {
        #[expect(unsafe_code, reason = "mount(2) of a test tmpfs")]
        fn tmpfs(at: &Path) -> HostMount {
            let target = path_cstring(at).unwrap();
            // SAFETY: NUL-terminated strings that outlive the call.
            let r = unsafe {
                libc::mount(
                    c"tmpfs".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    c"size=1m".as_ptr().cast(),
                )
            };
            assert_eq!(
                r,
                0,
                "mounting a tmpfs on {} needs root: {}",
                at.display(),
                std::io::Error::last_os_error()
            );
            HostMount(at.to_path_buf())
        }
    }

    impl Drop for HostMount {
        #[expect(unsafe_code, reason = "umount2(2) of the test tmpfs")]
        fn drop(&mut self) {
            let target = path_cstring(&self.0).unwrap();
            // SAFETY: a NUL-terminated string that outlives the call.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }

    #[test]
    fn read_only_binds_keep_their_submounts_read_only() {
        let state = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let sub = data.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let _mount = HostMount::tmpfs(&sub);
        std::fs::write(sub.join("host.txt"), "from the submount\n").unwrap();
        // The submount is writable on the host; it must not be through a read-only bind.
        let script = "cat /data/sub/host.txt; echo x > /data/sub/new; echo x > /data/top";
        let mut sandbox = Sandbox::new(state.path(), config(true)).unwrap();
        for recursive_attrs in [true, false] {
            if recursive_attrs && !sandbox.recursive_attrs {
                panic!("this kernel has no mount_setattr (Linux 5.12 or later needed)");
            }
            sandbox.recursive_attrs = recursive_attrs;
            let mut cmd = command("/bin/sh", &["-c", script]);
            cmd.binds.push(Bind {
                host: data.path().to_path_buf(),
                inside: PathBuf::from("/data"),
                writable: false,
            });
            let out = sandbox.run(cmd).unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let read_only = stderr.matches("Read-only file system").count();
            assert_eq!(read_only, 2, "setattr {recursive_attrs}: {stderr}");
            if recursive_attrs {
                // mount_setattr: the submount is there, read-only.
                assert_eq!(stdout, "from the submount\n");
            } else {
                // Without it the bind leaves submounts out: the empty directory under it.
                assert!(stderr.contains("host.txt: No such file"), "{stderr}");
            }
        }
        assert!(!sub.join("new").exists() && !data.path().join("top").exists());
    }

    #[test]
    fn proc_hides_the_init_and_the_kernel() {
        let state = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new(state.path(), config(true)).unwrap();
        let mut script = String::from(
            "test -e /proc/1 && echo init-visible || echo init-hidden; \
             cat /proc/1/cmdline; \
             grep -c . /proc/self/status > /dev/null && echo self-visible; \
             grep ' /proc/sys ' /proc/self/mountinfo | cut -d' ' -f6; ",
        );
        let files: Vec<&str> = PROC_MASKED_FILES
            .iter()
            .copied()
            .filter(|f| Path::new("/proc").join(f).exists())
            .collect();
        let dirs: Vec<&str> = PROC_MASKED_DIRS
            .iter()
            .copied()
            .filter(|d| Path::new("/proc").join(d).is_dir())
            .collect();
        assert!(
            files.contains(&"kallsyms") && files.contains(&"keys"),
            "{files:?}"
        );
        // Each file reads as nothing: masked with /dev/null, or (root-only files, left
        // unmasked) not readable at all.
        for file in &files {
            script.push_str(&format!("echo {file} $(cat /proc/{file} | wc -c); "));
        }
        for dir in &dirs {
            script.push_str(&format!(
                "echo {dir} $(ls -A /proc/{dir} | wc -l) \
                 $(grep ' /proc/{dir} ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1); "
            ));
        }
        let out = sandbox.run(command("/bin/sh", &["-c", &script])).unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], "init-hidden", "{stdout}");
        assert!(stderr.contains("/proc/1/cmdline: No such file"), "{stderr}");
        assert_eq!(lines[1], "self-visible");
        assert!(
            lines[2].split(',').any(|o| o == "ro"),
            "/proc/sys: {}",
            lines[2]
        );
        for (line, name) in lines[3..].iter().zip(&files) {
            assert_eq!(*line, format!("{name} 0"), "{stdout}");
        }
        for (line, name) in lines[3 + files.len()..].iter().zip(&dirs) {
            assert_eq!(*line, format!("{name} 0 ro"), "{stdout}");
        }
        assert_eq!(lines.len(), 3 + files.len() + dirs.len(), "{stdout}");
    }

    #[test]
    fn busy_children_are_stopped_at_the_cpu_limit_without_cgroups() {
        let state = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new(state.path(), config(false)).unwrap();
        assert!(sandbox.cgroups.is_none());
        // Four children spin while their parent waits: each stays far below RLIMIT_CPU
        // (2 s for a 0.5 s limit), so only their sum can end the run before the wall clock.
        let script = "for i in 1 2 3 4; do (while :; do :; done) & done; wait";
        let mut cmd = command("/bin/sh", &["-c", script]);
        cmd.limits = Limits::new(Duration::from_millis(500), 256 << 20);
        cmd.limits.wall_time = Duration::from_secs(120);
        // Without a cgroup, RLIMIT_NPROC counts every process of the sandbox user on the
        // host (other sandboxes included); keep it out of the way.
        cmd.limits.processes = 4096;
        let out = sandbox.run(cmd).unwrap();
        assert_eq!(out.killed, Some(Kill::CpuTime), "{out:?}");
        assert!(out.cpu >= Duration::from_millis(500), "{:?}", out.cpu);
        assert_eq!(out.exit, Exit::Signal(libc::SIGKILL));
    }
}
