//! Verdict names shared by the executor, evaluation and strategies.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The outcome of running a program against its tests.
///
/// The order is from best to worst in the sense strategies use when they rank candidates with
/// otherwise equal test results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    WrongAnswer,
    RuntimeError,
    Timeout,
    MemoryLimit,
    OutputLimit,
    CompileError,
    /// The judge itself failed on this sample (a worker crash, an internal error): the sample
    /// is recorded as a failure with the cause, never retried forever, and shown in summaries.
    JudgeError,
}

impl Status {
    /// Every status, in declaration order.
    pub const ALL: [Status; 8] = [
        Status::Passed,
        Status::WrongAnswer,
        Status::RuntimeError,
        Status::Timeout,
        Status::MemoryLimit,
        Status::OutputLimit,
        Status::CompileError,
        Status::JudgeError,
    ];

    /// The snake_case name used in JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::WrongAnswer => "wrong_answer",
            Status::RuntimeError => "runtime_error",
            Status::Timeout => "timeout",
            Status::MemoryLimit => "memory_limit",
            Status::OutputLimit => "output_limit",
            Status::CompileError => "compile_error",
            Status::JudgeError => "judge_error",
        }
    }

    /// Whether this is a pass.
    pub fn is_pass(self) -> bool {
        self == Status::Passed
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of one test inside a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// A short name: `case 3`, the assert's source line, or the test function.
    pub name: String,
    pub status: Status,
    /// What went wrong, when it did (kept short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde() {
        for status in Status::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.name()));
        }
    }
}
