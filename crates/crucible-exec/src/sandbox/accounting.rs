//! CPU time of a sandbox's processes read from the host's `/proc`, where no cgroup counts it.
//!
//! `RLIMIT_CPU` bounds each process on its own, so a program that forks busy children would
//! run until the wall-clock backstop (3 x CPU + 2 s). Without a cgroup the supervisor instead
//! walks the sandbox's process tree from its init (`/proc/<pid>/task/<tid>/children`) and sums
//! what every process has used (`utime + stime`) and what it has collected from the children
//! it waited for (`cutime + cstime`). Orphans are reparented to the sandbox's init, which
//! waits for them, so their time stays counted.
//!
//! Not counted: a child reaped without a wait (its parent ignores `SIGCHLD`) that lived and
//! died between two samples. Such programs still meet the per-process `RLIMIT_CPU` and the
//! wall-clock backstop. The total is kept as a running maximum, so a child that disappears
//! uncounted does not lower it.

use std::fs;
use std::time::{Duration, Instant};

/// How often the tree is walked (each walk reads a few small files per process).
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// A bound on the processes read per walk (the process limit is at most 4096).
const MAX_PROCESSES: usize = 8192;

/// The running CPU total of one sandbox.
#[derive(Debug)]
pub(crate) struct TreeCpu {
    root: i32,
    last: Option<Instant>,
    max: Duration,
}

impl TreeCpu {
    /// Account the tree under `root` (the sandbox's init, as the host sees it).
    pub(crate) fn new(root: i32) -> TreeCpu {
        TreeCpu {
            root,
            last: None,
            max: Duration::ZERO,
        }
    }

    /// The highest total seen, walking the tree again when the last walk is old enough.
    pub(crate) fn sample(&mut self) -> Duration {
        let due = self.last.is_none_or(|at| at.elapsed() >= SAMPLE_EVERY);
        if due {
            self.last = Some(Instant::now());
            if let Some(total) = tree_cpu(self.root) {
                self.max = self.max.max(total);
            }
        }
        self.max
    }

    /// The highest total seen so far, without walking.
    pub(crate) fn max(&self) -> Duration {
        self.max
    }
}

/// CPU time of `root` and every descendant, living or waited for; `None` once `root` is gone.
pub(crate) fn tree_cpu(root: i32) -> Option<Duration> {
    let tick = clock_tick();
    let mut ticks = read_ticks(root)?;
    let mut stack = children(root);
    let mut walked = 1;
    while let Some(pid) = stack.pop() {
        if walked >= MAX_PROCESSES {
            break;
        }
        walked += 1;
        // A process may end between listing and reading: it is then in its parent's
        // cutime (if waited for) or gone.
        if let Some(t) = read_ticks(pid) {
            ticks += t;
            stack.extend(children(pid));
        }
    }
    Some(tick * u32::try_from(ticks).unwrap_or(u32::MAX))
}

/// `utime + stime + cutime + cstime` of a process, in clock ticks.
fn read_ticks(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_ticks(&text)
}

/// Fields 14 to 17 of `/proc/<pid>/stat` (the command name, field 2, may hold spaces and
/// parentheses: fields are counted after its last `)`).
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime is field 14.
    let times = fields.get(11..15)?;
    times.iter().map(|f| f.parse::<u64>().ok()).sum()
}

/// Children of every thread of `pid`.
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let Ok(list) = fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        out.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    out
}

#[expect(unsafe_code, reason = "sysconf takes and returns plain integers")]
fn clock_tick() -> Duration {
    // SAFETY: sysconf has no pointer arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Duration::from_nanos(1_000_000_000 / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_read_after_the_command_name() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 11 13 20 0 1 0 5 0 0";
        assert_eq!(parse_stat_ticks(stat), Some(7 + 3 + 11 + 13));
        assert_eq!(parse_stat_ticks("42 (x) S 1"), None);
        assert_eq!(parse_stat_ticks("no parenthesis"), None);
    }

    #[test]
    fn burning_cpu_raises_the_total() {
        let pid = std::process::id() as i32;
        let before = tree_cpu(pid).unwrap();
        let started = Instant::now();
        let mut x = 0u64;
        let mut now = before;
        // Spin until the total moves by 50 ms; a busy machine only makes this take longer.
        while now < before + Duration::from_millis(50)
            && started.elapsed() < Duration::from_secs(60)
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            now = tree_cpu(pid).unwrap();
        }
        assert!(
            now >= before + Duration::from_millis(50),
            "{before:?} -> {now:?}"
        );
        assert!(tree_cpu(-1).is_none());
    }
}
