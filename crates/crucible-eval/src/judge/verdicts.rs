//! From executor reports to result lines: the requests that judge one sample, how their reports
//! combine into a [`ResultRecord`], and what an executor failure means for the sample.
//!
//! Whatever a model writes ends as a verdict (issue 16, section 3). An answer with no code or
//! with a NUL byte is a `compile_error` (there is no program to build); any other failure to
//! judge one program (a crashed worker, an internal error, a benchmark test the harness cannot
//! use) is a `judge_error`, which counts as a failure and carries the error in its feedback.
//! Only failures of the machine's setup (a missing toolchain, provisioning, a limit this machine
//! cannot set) stop a run: every sample would meet them, and a re-run after the fix judges the
//! samples right instead of keeping their `judge_error` for good.

use crucible_exec::{ExecReport, ExecRequest, Failure, Limits};
use crucible_types::Status;

use super::assemble::assemble;
use crate::run::{ResultRecord, SampleRecord, TierResult, Timings};
use crate::task::{BenchmarkTask, TestTier};

/// Longest feedback kept per result line.
const FEEDBACK_BYTES: usize = 1500;

/// The executor requests that judge one sample: hidden base, hidden plus (EvalPlus) and visible
/// (when `with_visible` and the task shows tests).
#[derive(Debug, Clone)]
pub struct JudgeRequests {
    pub base: ExecRequest,
    pub plus: Option<ExecRequest>,
    pub visible: Option<ExecRequest>,
}

/// Build the requests for `sample` on `task`.
pub fn judge_requests(
    task: &BenchmarkTask,
    sample: &SampleRecord,
    limits: Limits,
    with_visible: bool,
) -> crate::Result<JudgeRequests> {
    let base = assemble(task, &sample.solution, TestTier::Hidden)?.to_request(limits);
    let plus = match task.hidden.plus {
        Some(_) => Some(assemble(task, &sample.solution, TestTier::HiddenPlus)?.to_request(limits)),
        None => None,
    };
    let visible = if with_visible && task.task.has_visible_tests() {
        Some(assemble(task, &sample.solution, TestTier::Visible)?.to_request(limits))
    } else {
        None
    };
    Ok(JudgeRequests {
        base,
        plus,
        visible,
    })
}

/// Combine reports into the result line. `plus` is `Some` for sets with plus tests; its report
/// is `None` when it was not run (base failed), and then the plus verdict is the base one.
pub fn result_from_reports(
    sample: &SampleRecord,
    base: &ExecReport,
    plus: Option<Option<&ExecReport>>,
    visible: Option<&ExecReport>,
) -> ResultRecord {
    let plus_report = plus.flatten().filter(|_| base.status.is_pass());
    let mut record = ResultRecord::from_reports(sample, base, plus_report, visible);
    if plus.is_some() && record.plus.is_none() {
        record.plus = Some(TierResult {
            status: base.status,
            tests: Vec::new(),
        });
    }
    record
}

impl ResultRecord {
    /// Build a result from the executor's reports: the hidden base run, the plus run (EvalPlus;
    /// run only when base passed, else `None`), and the visible run if one was made.
    pub fn from_reports(
        sample: &SampleRecord,
        base: &ExecReport,
        plus: Option<&ExecReport>,
        visible: Option<&ExecReport>,
    ) -> ResultRecord {
        let failing = if base.status.is_pass() {
            plus
        } else {
            Some(base)
        };
        let feedback = failing
            .filter(|report| !report.status.is_pass())
            .map(|report| report.render_feedback(FEEDBACK_BYTES));
        let in_process_tests =
            base.in_process_tests || plus.is_some_and(|report| report.in_process_tests);
        let plus = plus.map(|report| TierResult {
            status: report.status,
            tests: report.tests.clone(),
        });
        let (compile_ms, run_ms, cpu_ms) =
            [Some(base), failing.filter(|r| !std::ptr::eq(*r, base))]
                .into_iter()
                .flatten()
                .fold((0, 0, 0), |acc, r| {
                    (acc.0 + r.compile_ms, acc.1 + r.run_ms, acc.2 + r.cpu_ms)
                });
        ResultRecord {
            task_id: sample.task_id.clone(),
            sample_idx: sample.sample_idx,
            status: base.status,
            tests: base.tests.clone(),
            plus,
            visible: visible.map(|report| report.status),
            in_process_tests,
            timings: Timings {
                gen_ms: sample.gen_ms,
                compile_ms,
                run_ms,
                cpu_ms,
            },
            tokens: sample.tokens,
            feedback,
            written_unix_ms: None,
        }
    }
}

/// What an executor failure means for the sample it was judging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The program is not one: no code, or bytes that are not source text. A `compile_error`.
    Program,
    /// The judge failed on this program (a crashed worker, the sandbox, an unusable test): worth
    /// one more try, then a `judge_error`.
    Judge,
    /// The machine's setup (a missing toolchain, provisioning, a limit it cannot set): the run
    /// stops with the error, and nothing is recorded for the sample.
    Setup,
}

/// Classify an executor failure.
pub fn failure_kind(err: &crucible_exec::Error) -> FailureKind {
    use crucible_exec::Error;
    match err {
        Error::NotText { .. } => FailureKind::Program,
        Error::ToolchainMissing { .. } | Error::Provision(_) | Error::LimitOutOfRange { .. } => {
            FailureKind::Setup
        }
        _ => FailureKind::Judge,
    }
}

/// The report standing for a failure that is not the machine's setup: `compile_error` for a
/// program that is not one, `judge_error` otherwise, with the cause as the failure's message.
pub fn report_for_failure(err: &crucible_exec::Error) -> ExecReport {
    let (status, message) = match (failure_kind(err), err) {
        (FailureKind::Program, _) => (
            Status::CompileError,
            format!("the answer is not source text: {err}"),
        ),
        _ => (
            Status::JudgeError,
            format!("the judge could not run this program: {err}"),
        ),
    };
    failed_report(status, message)
}

/// A report for a verdict reached without running anything (`message` says why).
pub fn failed_report(status: Status, message: String) -> ExecReport {
    ExecReport {
        failure: Some(Failure {
            message,
            ..Failure::default()
        }),
        ..ExecReport::new(status, Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Solution;

    fn sample() -> SampleRecord {
        SampleRecord {
            task_id: "t".into(),
            sample_idx: 3,
            completion: String::new(),
            solution: Solution::Full(String::new()),
            tokens: None,
            gen_ms: Some(5),
        }
    }

    #[test]
    fn executor_failures_become_verdicts_except_the_setup_s() {
        use crucible_exec::Error;
        let cases: Vec<(Error, Option<Status>, &str)> = vec![
            (
                Error::NotText { what: "source" },
                Some(Status::CompileError),
                "not source text",
            ),
            (
                Error::Worker("no reply: unexpected end of file".into()),
                Some(Status::JudgeError),
                "no reply",
            ),
            (
                Error::InvalidRequest("the Rust test code has neither `fn main` nor `#[test]`"),
                Some(Status::JudgeError),
                "neither `fn main`",
            ),
            (
                Error::Sandbox("clone failed".into()),
                Some(Status::JudgeError),
                "clone failed",
            ),
            (Error::Provision("no python3".into()), None, ""),
            (
                Error::ToolchainMissing {
                    language: crucible_types::Language::Go,
                    binary: "go".into(),
                    package: "golang-go",
                },
                None,
                "",
            ),
        ];
        for (err, status, text) in cases {
            match status {
                None => assert_eq!(failure_kind(&err), FailureKind::Setup, "{err}"),
                Some(status) => {
                    assert_ne!(failure_kind(&err), FailureKind::Setup, "{err}");
                    let report = report_for_failure(&err);
                    assert_eq!(report.status, status, "{err}");
                    let result = result_from_reports(&sample(), &report, Some(None), None);
                    assert_eq!(result.status, status);
                    assert_eq!(result.plus.as_ref().map(|p| p.status), Some(status));
                    let feedback = result.feedback.unwrap_or_default();
                    assert!(feedback.contains(text), "{feedback}");
                }
            }
        }
    }
}
