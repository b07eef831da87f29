//! Judging, in one place: from a sample to its verdict on a benchmark's tests.
//!
//! - [`assemble`](mod@assemble) puts a solution and one tier of tests together into the program
//!   the executor runs, by each benchmark's own harness rules;
//! - [`limits`] gives each task its time limit from its reference solution's measured CPU time
//!   (the EvalPlus rule), measured once per machine and cached;
//! - [`pool`] runs judgements concurrently in the sandbox while generation goes on;
//! - [`package`] judges a function body by its package's own tests (function-level
//!   repository completion);
//! - [`verdicts`] turns the executor's reports, or its failures, into result lines: whatever a
//!   model writes ends as a verdict, never as an aborted run.
//!
//! `crucible eval`, `crucible score` and the canonical-solution tests all judge through here;
//! strategies assemble their visible-test programs with [`HarnessAssembly`], which holds no
//! hidden test.

mod assemble;
pub mod limits;
pub mod package;
pub mod pool;
pub mod verdicts;

use crucible_exec::{ExecReport, ExecRequest, Executor, Limits};

pub use assemble::{HarnessAssembly, JudgeProgram, assemble};
pub(crate) use assemble::{declared_function, defines_function};
pub use limits::{ReferenceTimes, TaskLimits, TimeLimitPolicy, measure_reference};
pub use pool::{BaseJudged, JudgeParams, Judging, Pending, StartingExecutor, executor};
pub use verdicts::{
    FailureKind, JudgeRequests, failed_report, failure_kind, judge_requests, report_for_failure,
    result_from_reports,
};

use crate::task::{BenchmarkTask, Solution, TestTier};
use crate::{Error, Result};

/// Assemble and run `solution` on `task` against the tests of `tier`, on the calling thread.
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

/// Run `request` on the calling thread by the judging pool's rule for failures: a run the judge
/// could not make (a worker that did not start on a loaded machine, say) is tried once more,
/// then becomes the sample's `judge_error` report ([`report_for_failure`]); only a failure of the
/// machine's setup is an error. `task_id` names the task in that error.
pub fn run_with_retry(
    executor: &Executor,
    request: &ExecRequest,
    task_id: &str,
) -> Result<ExecReport> {
    settle(executor.run(request), task_id, || executor.run(request))
}

/// The judging rule for a run's outcome: a run the judge could not make is tried once more
/// (`again`); after that, a failure of the machine's setup is an error naming `task_id`, any
/// other failure the sample's report ([`report_for_failure`]). The judging pool and
/// [`run_with_retry`] both judge by it.
pub(crate) fn settle(
    first: std::result::Result<ExecReport, crucible_exec::Error>,
    task_id: &str,
    again: impl FnOnce() -> std::result::Result<ExecReport, crucible_exec::Error>,
) -> Result<ExecReport> {
    let outcome = match first {
        Err(err) if failure_kind(&err) == FailureKind::Judge => {
            tracing::warn!(
                task_id,
                "the judge failed ({err}); running the program once more"
            );
            again()
        }
        other => other,
    };
    match outcome {
        Ok(report) => Ok(report),
        Err(err) if failure_kind(&err) == FailureKind::Setup => Err(Error::Exec {
            task_id: task_id.to_owned(),
            source: Box::new(err),
        }),
        Err(err) => Ok(report_for_failure(&err)),
    }
}
