//! The record of a strategy run: every model call (its prompt and answers), every candidate's
//! verdict and feedback, and notes on decisions (fallbacks, budget stops, the final choice).

use serde::{Deserialize, Serialize};

use crucible_infer::Prompt;
use crucible_types::Status;

/// Which tests a verdict is based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestSource {
    /// The tests the task shows.
    Visible,
    /// Tests the model wrote (the task shows none, or in addition to them).
    ModelWritten,
    /// No tests at all: the program only had to compile and exit cleanly.
    CleanRun,
}

/// A candidate's result on one set of tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub tests: TestSource,
    pub status: Status,
    /// Tests passed and tests run (a clean run counts as one test).
    pub passed: usize,
    pub total: usize,
}

/// What a model call was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Programs written from the task alone.
    Sample,
    /// Programs rewritten after failing tests (Self-Debugging).
    Repair,
    /// The model explains its failing program before repairing it.
    Explain,
    /// Tests written by the model (CodeT, AgentCoder's test designer).
    Tests,
    /// A verbal reflection on a failure, kept in memory (Reflexion).
    Reflect,
    /// A new attempt that sees the memory of reflections (Reflexion).
    Retry,
}

impl Stage {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Sample => "sample",
            Stage::Repair => "repair",
            Stage::Explain => "explain",
            Stage::Tests => "tests",
            Stage::Reflect => "reflect",
            Stage::Retry => "retry",
        }
    }

    /// Whether the answers are programs.
    pub fn writes_code(self) -> bool {
        matches!(self, Stage::Sample | Stage::Repair | Stage::Retry)
    }
}

/// One model call and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based, in call order.
    pub index: usize,
    pub stage: Stage,
    pub prompt: Prompt,
    /// One per generated sequence.
    pub outputs: Vec<Output>,
    /// Generated tokens over all sequences.
    pub tokens: usize,
    pub prompt_tokens: usize,
    pub seconds: f64,
    /// Speculative decoding's draft and acceptance counts for this call, when the backend
    /// speculated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculation: Option<crucible_infer::SpecStats>,
}

/// One generated sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// The model's text (after the prefill).
    pub text: String,
    /// Generated tokens.
    #[serde(default)]
    pub tokens: usize,
    /// Sum of the tokens' log-probabilities, when the backend reports it (the local model does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprob: Option<f64>,
    /// The program extracted from it, for stages that write code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Results on each set of tests the program was run against, in run order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<Verdict>,
    /// The compact failure report shown to the model, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
}

/// Everything a run did, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub attempts: Vec<Attempt>,
    /// Decisions worth knowing: fallbacks, budget stops, what was chosen and why.
    pub notes: Vec<String>,
}

impl Trace {
    /// The output `seq` of attempt `index` (1-based), if it exists.
    pub fn output_mut(&mut self, index: usize, seq: usize) -> Option<&mut Output> {
        self.attempts
            .get_mut(index.checked_sub(1)?)
            .and_then(|a| a.outputs.get_mut(seq))
    }
}

impl Verdict {
    /// `passed 2/3 visible tests` style text for progress lines.
    pub fn describe(&self) -> String {
        let tests = match self.tests {
            TestSource::Visible => "visible tests",
            TestSource::ModelWritten => "model-written tests",
            TestSource::CleanRun => "clean run",
        };
        if self.tests == TestSource::CleanRun {
            return format!("{} ({tests})", self.status);
        }
        format!("{} ({}/{} {tests})", self.status, self.passed, self.total)
    }
}
