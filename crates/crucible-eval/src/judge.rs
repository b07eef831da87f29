//! Running assembled programs in the sandbox, reference timings and the EvalPlus time-limit rule.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crucible_exec::{ExecReport, ExecRequest, Executor, LangOptions, Limits};
use serde::{Deserialize, Serialize};

use crate::assemble::{JudgeProgram, assemble};
use crate::task::{BenchmarkTask, Solution, TestTier};
use crate::{Error, Result};

impl JudgeProgram {
    /// The executor request for this program under `limits`.
    pub fn to_request(&self, limits: Limits) -> ExecRequest {
        ExecRequest {
            language: self.language,
            source: self.source.clone(),
            tests: self.tests.clone(),
            entry_point: self.entry_point.clone(),
            limits,
            options: LangOptions::default(),
            fail_fast: false,
            stdin: None,
        }
    }
}

/// Assemble and run `solution` on `task` against the tests of `tier`.
pub fn run_judge(
    executor: &Executor,
    task: &BenchmarkTask,
    solution: &Solution,
    tier: TestTier,
    limits: Limits,
) -> Result<ExecReport> {
    let program = assemble(task, solution, tier)?;
    executor
        .run(&program.to_request(limits))
        .map_err(|source| Error::Exec {
            task_id: task.task.id.clone(),
            source: Box::new(source),
        })
}

/// The EvalPlus rule for per-task time limits: `max(minimum, factor x reference CPU time)`,
/// so limits hold on slow machines.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeLimitPolicy {
    /// The smallest limit given to any task.
    pub minimum: Duration,
    /// Multiple of the reference solution's measured CPU time.
    pub factor: f64,
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
    /// Tasks whose reference solution failed when timed, with the reason: kept so that later
    /// runs neither time them again nor repeat the warning.
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

/// Run a task's reference solution on its hidden tests and return the CPU time it used, or
/// `None` when the task has no reference. A reference that fails is reported as an error: the
/// harness, not the model, would be at fault.
pub fn measure_reference(
    executor: &Executor,
    task: &BenchmarkTask,
    limits: Limits,
) -> Result<Option<Duration>> {
    let Some(reference) = &task.reference else {
        return Ok(None);
    };
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
    Ok(Some(Duration::from_millis(cpu_ms)))
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
