//! Time limits: the EvalPlus rule (a multiple of the reference solution's CPU time, never below
//! a minimum), the reference timings it needs, measured once per machine and cached under
//! `CRUCIBLE_HOME/cache/reference-times/`, and each task's resulting limits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crucible_exec::{Executor, Limits};
use serde::{Deserialize, Serialize};

use super::run_judge;
use super::verdicts::{FailureKind, failure_kind};
use crate::task::{Benchmark, BenchmarkTask, TestTier};
use crate::{Error, Result};

/// The EvalPlus rule for per-task time limits: `max(minimum, factor x reference CPU time)`,
/// so limits hold on slow machines.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeLimitPolicy {
    /// The smallest limit given to any task; in JSON `minimum_s`, seconds (run directories
    /// written before that hold `minimum` as `{"secs", "nanos"}`, still read).
    #[serde(rename = "minimum_s", alias = "minimum", with = "seconds")]
    pub minimum: Duration,
    /// Multiple of the reference solution's measured CPU time.
    pub factor: f64,
}

/// A duration as seconds (a number) in JSON; the older `{"secs", "nanos"}` object is read too.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value.as_secs_f64())
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Seconds(f64),
        Legacy { secs: u64, nanos: u32 },
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match Given::deserialize(d)? {
            Given::Seconds(secs) if secs.is_finite() && secs >= 0.0 => {
                Ok(Duration::from_secs_f64(secs))
            }
            Given::Seconds(secs) => Err(serde::de::Error::custom(format!(
                "a duration must be a non-negative number of seconds, not {secs}"
            ))),
            Given::Legacy { secs, nanos } => Ok(Duration::new(secs, nanos)),
        }
    }
}

impl TimeLimitPolicy {
    /// The limit for a task whose reference took `reference` CPU time (`None`: no reference, the
    /// minimum applies).
    pub fn limit(&self, reference: Option<Duration>) -> Duration {
        let scaled = reference.map_or(Duration::ZERO, |r| r.mul_f64(self.factor));
        scaled.max(self.minimum)
    }
}

/// Measured CPU time of each task's reference solution on its hidden tests (base and plus
/// together), in milliseconds. Stored as JSON so a run measures once per machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceTimes {
    /// What was measured, e.g. `humaneval-plus/python`.
    pub benchmark: String,
    pub cpu_ms: BTreeMap<String, u64>,
    /// Tasks whose reference solution failed when timed, twice, with the reason: kept so that
    /// later runs neither time them again nor repeat the warning.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed: BTreeMap<String, String>,
}

impl ReferenceTimes {
    /// Read a cache file; `None` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<ReferenceTimes>> {
        crate::run::read_json(path)
    }

    /// Write the cache file (creating its directory).
    pub fn save(&self, path: &Path) -> Result<()> {
        let write_err = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let text = serde_json::to_string_pretty(self).expect("maps of strings serialise");
        std::fs::write(path, text).map_err(write_err)
    }

    /// The measured time of one task.
    pub fn get(&self, task_id: &str) -> Option<Duration> {
        self.cpu_ms
            .get(task_id)
            .map(|ms| Duration::from_millis(*ms))
    }
}

/// Times a reference solution is run before it counts as failing its own tests: the second run
/// rules out a one-off (a machine busy enough to push a quick reference past the generous
/// limit, a worker that died), so a task is not left with the minimum limit for good by chance.
const REFERENCE_ATTEMPTS: usize = 2;

/// Run a task's reference solution on its hidden tests and return the CPU time it used, or
/// `None` when the task has no reference. A reference that fails twice is an error (the harness,
/// not the model, would be at fault); so is a failure of the machine's setup (a missing
/// toolchain), at once.
pub fn measure_reference(
    executor: &Executor,
    task: &BenchmarkTask,
    limits: Limits,
) -> Result<Option<Duration>> {
    if task.reference.is_none() {
        return Ok(None);
    }
    let mut attempt = 1;
    loop {
        match time_reference(executor, task, limits) {
            Ok(time) => return Ok(Some(time)),
            Err(err) if is_setup_error(&err) || attempt == REFERENCE_ATTEMPTS => return Err(err),
            Err(err) => {
                tracing::debug!(task_id = %task.task.id, "the reference failed when timed ({err}); timing it again");
                attempt += 1;
            }
        }
    }
}

/// One timing run of a task's reference: the base tier, then the plus tier if there is one.
fn time_reference(executor: &Executor, task: &BenchmarkTask, limits: Limits) -> Result<Duration> {
    let reference = task.reference.as_ref().expect("checked by the caller");
    let mut cpu_ms = 0;
    let tiers = [
        Some(TestTier::Hidden),
        task.hidden.plus.as_ref().map(|_| TestTier::HiddenPlus),
    ];
    for tier in tiers.into_iter().flatten() {
        let report = run_judge(executor, task, reference, tier, limits)?;
        if !report.status.is_pass() {
            return Err(Error::ReferenceFailed {
                task_id: task.task.id.clone(),
                status: report.status.to_string(),
            });
        }
        cpu_ms += report.cpu_ms;
    }
    Ok(Duration::from_millis(cpu_ms))
}

/// Whether an error is the machine's setup rather than this task's reference.
fn is_setup_error(err: &Error) -> bool {
    matches!(err, Error::Exec { source, .. } if failure_kind(source) == FailureKind::Setup)
}

/// Where reference timings of a benchmark are cached.
fn reference_times_path(home: &Path, bench: &Benchmark) -> PathBuf {
    home.join("cache/reference-times").join(format!(
        "{}-{}.json",
        bench.name.as_str(),
        bench.language.name()
    ))
}

/// Reference CPU times for the benchmark's tasks, measured once per machine and cached.
fn reference_times(
    executor: &Executor,
    bench: &Benchmark,
    home: &Path,
    memory_bytes: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<ReferenceTimes> {
    let path = reference_times_path(home, bench);
    let mut times = ReferenceTimes::load(&path)?.unwrap_or_else(|| ReferenceTimes {
        benchmark: format!("{}-{}", bench.name.as_str(), bench.language.name()),
        cpu_ms: BTreeMap::new(),
        failed: BTreeMap::new(),
    });
    let missing: Vec<_> = bench
        .tasks
        .iter()
        .filter(|t| {
            t.reference.is_some()
                && !times.cpu_ms.contains_key(&t.task.id)
                && !times.failed.contains_key(&t.task.id)
        })
        .collect();
    if missing.is_empty() {
        let failed = bench
            .tasks
            .iter()
            .filter(|t| times.failed.contains_key(&t.task.id))
            .count();
        if failed > 0 {
            tracing::info!(
                "{failed} reference solutions failed their own tests when timed (listed in {}; delete it to time them again); those tasks get the minimum time limit",
                path.display()
            );
        }
        return Ok(times);
    }
    progress(&format!(
        "measuring {} reference solutions for time limits (once per machine)",
        missing.len()
    ));
    let generous = Limits::new(Duration::from_secs(60), memory_bytes);
    for task in missing {
        match measure_reference(executor, task, generous) {
            Ok(Some(time)) => {
                times
                    .cpu_ms
                    .insert(task.task.id.clone(), time.as_millis() as u64);
            }
            Ok(None) => {}
            // A missing toolchain would fail every task alike: stop, and cache nothing, so
            // that a run after the fix measures them.
            Err(err) if is_setup_error(&err) => {
                times.save(&path)?;
                return Err(err);
            }
            Err(err) => {
                tracing::warn!("{err}; the task gets the minimum time limit");
                times.failed.insert(task.task.id.clone(), err.to_string());
            }
        }
    }
    times.save(&path)?;
    Ok(times)
}

/// Each task's limits for one run: CPU time by the policy, memory alike for all.
#[derive(Debug, Clone)]
pub struct TaskLimits {
    policy: TimeLimitPolicy,
    cpu: BTreeMap<String, Duration>,
    memory_bytes: u64,
}

impl TaskLimits {
    /// The limits of `bench`'s tasks. Reference solutions not yet timed on this machine are
    /// measured once with `executor` and cached under `home`; `progress` hears about it.
    pub fn measure(
        executor: &Executor,
        bench: &Benchmark,
        home: &Path,
        policy: TimeLimitPolicy,
        memory_bytes: u64,
        progress: &mut dyn FnMut(&str),
    ) -> Result<TaskLimits> {
        let times = reference_times(executor, bench, home, memory_bytes, progress)?;
        let cpu = bench
            .tasks
            .iter()
            .map(|task| {
                let limit = policy.limit(times.get(&task.task.id));
                (task.task.id.clone(), limit)
            })
            .collect();
        Ok(TaskLimits {
            policy,
            cpu,
            memory_bytes,
        })
    }

    /// The limits a task's programs run under (a task the run does not know gets the minimum).
    pub fn limits(&self, task_id: &str) -> Limits {
        let cpu = self
            .cpu
            .get(task_id)
            .copied()
            .unwrap_or(self.policy.minimum);
        Limits::new(cpu, self.memory_bytes)
    }

    /// Per-task CPU time limits in milliseconds, for the summary.
    pub fn cpu_ms(&self) -> BTreeMap<String, u64> {
        self.cpu
            .iter()
            .map(|(id, limit)| (id.clone(), limit.as_millis() as u64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limit_rule() {
        let policy = TimeLimitPolicy {
            minimum: Duration::from_secs(1),
            factor: 4.0,
        };
        assert_eq!(policy.limit(None), Duration::from_secs(1));
        assert_eq!(
            policy.limit(Some(Duration::from_millis(100))),
            Duration::from_secs(1)
        );
        assert_eq!(
            policy.limit(Some(Duration::from_millis(500))),
            Duration::from_secs(2)
        );
    }
}
