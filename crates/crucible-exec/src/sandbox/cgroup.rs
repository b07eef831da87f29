//! Control groups: memory, process and CPU accounting and limits for sandboxed runs.
//!
//! Supports cgroup v1 (separate `memory`, `pids`, `cpuacct` hierarchies, as on the CI hosts),
//! hybrid hosts (v1 controllers plus an empty unified tree: the v1 controllers are used) and
//! pure v2 (needs a delegated subtree where controllers can be enabled). Groups are created
//! under the executor's own group, so a limit placed on the executor also bounds its runs.
//! v1 groups are reused as "slots" (reset between runs: cheaper than mkdir/rmdir); v2 groups are
//! made per run because `memory.peak` cannot be reset on every kernel.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which cgroup layout is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    V1 {
        memory: PathBuf,
        pids: PathBuf,
        cpuacct: PathBuf,
    },
    V2 {
        base: PathBuf,
    },
}

/// The executor's cgroups: a private parent group per hierarchy, and reusable slots.
#[derive(Debug)]
pub(crate) struct Cgroups {
    layout: Layout,
    free: Mutex<Vec<Slot>>,
    next: AtomicUsize,
}

/// One group (one directory per hierarchy) a run is placed in.
#[derive(Debug)]
pub(crate) struct Slot {
    dirs: Vec<PathBuf>,
    v2: bool,
    oom_baseline: u64,
}

/// What a group measured.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub(crate) cpu_ns: u64,
    pub(crate) peak_bytes: u64,
    pub(crate) oom_kills: u64,
}

static INSTANCE: AtomicUsize = AtomicUsize::new(0);

impl Cgroups {
    /// Find writable cgroup hierarchies and create this executor's parent groups. `None` when
    /// the process may not create groups (an ordinary user without delegation).
    pub(crate) fn detect() -> Option<Cgroups> {
        let own = fs::read_to_string("/proc/self/cgroup").ok()?;
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let name = format!(
            "crucible-exec-{}-{}",
            std::process::id(),
            INSTANCE.fetch_add(1, Ordering::Relaxed)
        );
        let layout =
            detect_v1(&own, &mountinfo, &name).or_else(|| detect_v2(&own, &mountinfo, &name));
        let layout = match layout {
            Some(layout) => layout,
            None => {
                tracing::debug!("no writable cgroup hierarchy with memory and pids controllers");
                return None;
            }
        };
        Some(Cgroups {
            layout,
            free: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
        })
    }

    /// A short description for reports, e.g. `cgroup v1`.
    pub(crate) fn describe(&self) -> &'static str {
        match self.layout {
            Layout::V1 { .. } => "cgroup v1",
            Layout::V2 { .. } => "cgroup v2",
        }
    }

    /// Take a free slot (or make one) and set its limits.
    pub(crate) fn acquire(&self, memory_bytes: u64, processes: u32) -> io::Result<Slot> {
        let reused = self.free.lock().ok().and_then(|mut free| free.pop());
        let mut slot = match reused {
            Some(slot) => slot,
            None => self.create_slot()?,
        };
        slot.configure(memory_bytes, processes)?;
        Ok(slot)
    }

    /// Give a slot back once every process in it has exited.
    pub(crate) fn release(&self, slot: Slot) {
        if slot.v2 || !slot.is_empty() {
            slot.remove();
            return;
        }
        if let Ok(mut free) = self.free.lock() {
            free.push(slot);
        }
    }

    fn create_slot(&self) -> io::Result<Slot> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let leaf = format!("run-{n}");
        let (dirs, v2) = match &self.layout {
            Layout::V1 {
                memory,
                pids,
                cpuacct,
            } => (
                vec![memory.join(&leaf), pids.join(&leaf), cpuacct.join(&leaf)],
                false,
            ),
            Layout::V2 { base } => (vec![base.join(&leaf)], true),
        };
        for dir in &dirs {
            match fs::create_dir(dir) {
                Err(err) if err.kind() != io::ErrorKind::AlreadyExists => return Err(err),
                _ => {}
            }
        }
        Ok(Slot {
            dirs,
            v2,
            oom_baseline: 0,
        })
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        if let Ok(mut free) = self.free.lock() {
            for slot in free.drain(..) {
                slot.remove();
            }
        }
        let parents: Vec<&PathBuf> = match &self.layout {
            Layout::V1 {
                memory,
                pids,
                cpuacct,
            } => vec![memory, pids, cpuacct],
            Layout::V2 { base } => vec![base],
        };
        for dir in parents {
            let _ = fs::remove_dir(dir);
        }
    }
}

impl Slot {
    /// Set the limits and reset the counters (also of a slot that has a process in it).
    pub(crate) fn configure(&mut self, memory_bytes: u64, processes: u32) -> io::Result<()> {
        if self.v2 {
            let dir = &self.dirs[0];
            write(dir, "memory.max", &memory_bytes.to_string())?;
            let _ = write(dir, "memory.swap.max", "0");
            write(dir, "pids.max", &processes.to_string())?;
            self.oom_baseline = read_key(&dir.join("memory.events"), "oom_kill").unwrap_or(0);
            return Ok(());
        }
        let (memory, pids, cpuacct) = (&self.dirs[0], &self.dirs[1], &self.dirs[2]);
        // memsw must stay >= the memory limit: lift it, set memory, then pin memsw to it.
        let has_memsw = memory.join("memory.memsw.limit_in_bytes").exists();
        if has_memsw {
            let _ = write(memory, "memory.memsw.limit_in_bytes", "-1");
        }
        write(memory, "memory.limit_in_bytes", &memory_bytes.to_string())?;
        if has_memsw {
            let _ = write(
                memory,
                "memory.memsw.limit_in_bytes",
                &memory_bytes.to_string(),
            );
        }
        write(memory, "memory.max_usage_in_bytes", "0")?;
        let _ = write(memory, "memory.failcnt", "0");
        write(pids, "pids.max", &processes.to_string())?;
        write(cpuacct, "cpuacct.usage", "0")?;
        self.oom_baseline = read_key(&memory.join("memory.oom_control"), "oom_kill").unwrap_or(0);
        Ok(())
    }

    /// Descriptors a task can use to move itself into the slot, one per hierarchy: the v1
    /// `tasks` files, opened here (the kernel checks the opener's credentials, so an
    /// unprivileged task may use them). A task that writes `0` moves only itself and skips the
    /// kernel's global migration lock, whose RCU grace period makes a move from outside
    /// (`cgroup.procs`) cost about 20 ms. `None` on cgroup v2, where the `cgroup.threads` of a
    /// domain group refuses it: there [`Slot::add`] moves the process.
    pub(crate) fn join_files(&self) -> io::Result<Option<Vec<fs::File>>> {
        if self.v2 {
            return Ok(None);
        }
        self.dirs
            .iter()
            .map(|dir| fs::OpenOptions::new().write(true).open(dir.join("tasks")))
            .collect::<io::Result<Vec<_>>>()
            .map(Some)
    }

    /// Put a process (by host pid) in every hierarchy of the slot.
    pub(crate) fn add(&self, pid: i32) -> io::Result<()> {
        for dir in &self.dirs {
            write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// CPU time used so far, in nanoseconds.
    pub(crate) fn cpu_ns(&self) -> Option<u64> {
        if self.v2 {
            let usec = read_key(&self.dirs[0].join("cpu.stat"), "usage_usec")?;
            return Some(usec * 1000);
        }
        fs::read_to_string(self.dirs[2].join("cpuacct.usage"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Read the totals after the run.
    pub(crate) fn usage(&self) -> Usage {
        let dir = &self.dirs[0];
        let (peak_file, events, key) = if self.v2 {
            ("memory.peak", "memory.events", "oom_kill")
        } else {
            (
                "memory.max_usage_in_bytes",
                "memory.oom_control",
                "oom_kill",
            )
        };
        let peak_bytes = fs::read_to_string(dir.join(peak_file))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let oom = read_key(&dir.join(events), key).unwrap_or(0);
        Usage {
            cpu_ns: self.cpu_ns().unwrap_or(0),
            peak_bytes,
            oom_kills: oom.saturating_sub(self.oom_baseline),
        }
    }

    /// Kill every process still in the slot (belt and braces: the PID namespace's end already
    /// takes them all).
    pub(crate) fn kill_all(&self) {
        if self.v2 {
            let _ = write(&self.dirs[0], "cgroup.kill", "1");
            return;
        }
        for pid in self.pids() {
            // A pid read from our own cgroup; signalling it is the point.
            let _ = kill(pid);
        }
    }

    fn pids(&self) -> Vec<i32> {
        let dir = if self.v2 {
            &self.dirs[0]
        } else {
            &self.dirs[1]
        };
        fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.pids().is_empty()
    }

    fn remove(&self) {
        self.kill_all();
        for dir in &self.dirs {
            for _ in 0..50 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }
}

fn kill(pid: i32) -> io::Result<()> {
    crate::sandbox::sys::kill(pid, libc::SIGKILL)
}

fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    fs::write(dir.join(file), value)
}

fn read_key(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Mount points of cgroup hierarchies: `(fstype, super options, mount root, mount point)`.
fn cgroup_mounts(mountinfo: &str) -> Vec<(String, String, String, PathBuf)> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 || !right[0].starts_with("cgroup") {
            continue;
        }
        out.push((
            right[0].to_owned(),
            right[2].to_owned(),
            left[3].to_owned(),
            PathBuf::from(left[4]),
        ));
    }
    out
}

/// The directory of our own group in a hierarchy.
fn own_dir(mount_root: &str, mount_point: &Path, own_path: &str) -> PathBuf {
    let relative = own_path
        .strip_prefix(mount_root)
        .unwrap_or(own_path)
        .trim_start_matches('/');
    mount_point.join(relative)
}

fn detect_v1(own: &str, mountinfo: &str, name: &str) -> Option<Layout> {
    let mounts = cgroup_mounts(mountinfo);
    let mut dirs = Vec::new();
    for controller in ["memory", "pids", "cpuacct"] {
        let own_path = own.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_owned())
        })?;
        let (_, _, root, point) = mounts.iter().find(|(fstype, opts, _, _)| {
            fstype == "cgroup" && opts.split(',').any(|o| o == controller)
        })?;
        let dir = own_dir(root, point, &own_path).join(name);
        clean_stale(dir.parent()?);
        fs::create_dir(&dir).ok()?;
        dirs.push(dir);
    }
    let [memory, pids, cpuacct]: [PathBuf; 3] = dirs.try_into().ok()?;
    Some(Layout::V1 {
        memory,
        pids,
        cpuacct,
    })
}

fn detect_v2(own: &str, mountinfo: &str, name: &str) -> Option<Layout> {
    let own_path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mounts = cgroup_mounts(mountinfo);
    let (_, _, root, point) = mounts.iter().find(|(fstype, ..)| fstype == "cgroup2")?;
    let parent = own_dir(root, point, own_path);
    let controllers = fs::read_to_string(parent.join("cgroup.controllers")).ok()?;
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    if !(has("memory") && has("pids")) {
        return None;
    }
    clean_stale(&parent);
    let base = parent.join(name);
    fs::create_dir(&base).ok()?;
    let enable = if has("cpu") {
        "+memory +pids +cpu"
    } else {
        "+memory +pids"
    };
    // Fails unless the parent is delegated to us and holds no processes itself.
    if fs::write(parent.join("cgroup.subtree_control"), enable).is_err()
        || fs::write(base.join("cgroup.subtree_control"), enable).is_err()
    {
        let _ = fs::remove_dir(&base);
        return None;
    }
    Some(Layout::V2 { base })
}

/// Remove groups left by executors that died without cleaning up.
fn clean_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("crucible-exec-") else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if pid.is_empty() || Path::new("/proc").join(pid).exists() {
            continue;
        }
        if let Ok(slots) = fs::read_dir(entry.path()) {
            for slot in slots.flatten() {
                if slot.path().is_dir() {
                    let _ = fs::remove_dir(slot.path());
                }
            }
        }
        let _ = fs::remove_dir(entry.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_and_own_paths() {
        let mountinfo = "35 25 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                         36 25 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let mounts = cgroup_mounts(mountinfo);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].1, "rw,memory");
        assert_eq!(
            own_dir("/", &mounts[0].3, "/process_api/x"),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/x")
        );
    }

    #[test]
    fn reads_keyed_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.oom_control");
        fs::write(&path, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").unwrap();
        assert_eq!(read_key(&path, "oom_kill"), Some(3));
        assert_eq!(read_key(&path, "missing"), None);
    }
}
