//! Putting a candidate solution and a task's tests together into the program the executor runs.
//!
//! One function, [`assemble`], per (task, solution, test tier). The per-benchmark rules follow each
//! benchmark's reference harness (HumanEval: `prompt + completion + test + check(entry_point)`;
//! HumanEval-X per language; MultiPL-E with the stop-token cut; MBPP asserts after the solution;
//! EvalPlus calls; stdin/stdout). docs/BENCHMARKS.md states them per benchmark.

mod source;

use crucible_exec::{ExecRequest, LangOptions, Limits};
use crucible_types::{Language, TaskKind, TestSuite};

pub(crate) use source::{declared_function, defines_function};

use crate::task::{BenchmarkTask, Harness, HiddenTests, HumanEvalXParts, Solution, TestTier};
use crate::{Error, Result};

/// A program ready for the executor: source code, the tests to run it against, and the entry
/// point for call-based tests.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeProgram {
    pub language: Language,
    /// The program (for test suites of type `Code`, the tests are appended after it by the
    /// executor).
    pub source: String,
    pub tests: TestSuite,
    /// The function call-based tests call.
    pub entry_point: Option<String>,
    /// The tests are the task's own (a benchmark loader's or the user's task file), not a
    /// model's: [`ExecRequest::trusted_tests`].
    pub trusted_tests: bool,
}

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
            trusted_tests: self.trusted_tests,
        }
    }
}

/// Assembles a candidate with tests that are not the benchmark's hidden ones (a strategy's
/// visible or model-written tests) by the benchmark's harness rules (HumanEval-X headers, Go
/// imports, MultiPL-E cuts...), so a strategy's verdicts agree with the judge's.
///
/// It keeps a copy of the task with the hidden tests and the reference solution removed when it
/// is built: nothing reachable from it holds them.
#[derive(Debug, Clone)]
pub struct HarnessAssembly {
    task: BenchmarkTask,
}

impl HarnessAssembly {
    /// An assembly for `task`'s harness, without its hidden tests and reference.
    pub fn new(task: &BenchmarkTask) -> HarnessAssembly {
        HarnessAssembly {
            task: BenchmarkTask {
                task: task.task.clone(),
                hidden: HiddenTests::ready(TestSuite::None),
                reference: None,
                harness: task.harness.clone(),
            },
        }
    }

    /// The program that runs `code` against `tests`.
    pub fn program(&self, code: &str, tests: &TestSuite) -> Result<JudgeProgram> {
        // The suite to run is given as the visible one, so `assemble` applies the harness's
        // transformation of test code to it, whichever suite it is.
        let mut task = self.task.clone();
        task.task.visible = tests.clone();
        let solution = task.solution_of(code);
        let mut program = assemble(&task, &solution, TestTier::Visible)?;
        // Whoever gave them, these are not the task's own tests (a strategy's, maybe a
        // model's).
        program.trusted_tests = false;
        Ok(program)
    }

    /// Whether this assembly holds any hidden test or reference solution (never, by
    /// construction; for tests that say so).
    pub fn holds_hidden_tests(&self) -> bool {
        !self.task.hidden.base.is_empty()
            || self.task.hidden.plus.is_some()
            || self.task.reference.is_some()
    }
}

/// Assemble the program that judges `solution` on `task` against the tests of `tier`.
pub fn assemble(task: &BenchmarkTask, solution: &Solution, tier: TestTier) -> Result<JudgeProgram> {
    let suite = tests_for(task, tier)?;
    let language = task.task.language;
    let prompt = match &task.task.kind {
        TaskKind::Function { prompt, .. } => prompt.as_str(),
        TaskKind::Program { .. } | TaskKind::Freeform { .. } => "",
    };
    let entry_point = task.task.entry_point().map(str::to_owned);
    let (source, tests) = match &task.harness {
        Harness::HumanEval | Harness::EvalPlus | Harness::Mbpp { .. } => {
            (python_source(prompt, solution), suite)
        }
        Harness::UserFunction if language == Language::Python => {
            (python_source(prompt, solution), suite)
        }
        Harness::UserFunction => (
            match solution {
                Solution::Continuation(body) => format!("{prompt}{body}"),
                Solution::Full(code) => source::strip_main(language, code),
            },
            suite,
        ),
        Harness::HumanEvalX(parts) => humaneval_x(language, prompt, parts, solution, suite),
        Harness::MultiPlE { stop_tokens } => multipl_e(prompt, stop_tokens, solution, suite),
        Harness::Stdio => (solution.code().to_owned(), suite),
        Harness::Infill { .. } => (task.program_of(solution), suite),
    };
    Ok(JudgeProgram {
        language,
        source,
        tests,
        entry_point,
        // The task's own tests, as its loader made them.
        trusted_tests: true,
    })
}

/// The test suite of `tier` for `task`.
fn tests_for(task: &BenchmarkTask, tier: TestTier) -> Result<TestSuite> {
    let suite = match tier {
        TestTier::Visible => return Ok(task.task.visible.clone()),
        TestTier::Hidden => &task.hidden.base,
        TestTier::HiddenPlus => task.hidden.plus.as_ref().ok_or_else(|| Error::NoSuchTier {
            task_id: task.task.id.clone(),
            tier: "plus",
        })?,
    };
    Ok(suite.clone())
}

/// Python: the prompt (imports, helpers, signature and docstring), then the completion. A full
/// solution follows the prompt on a new line and redefines the function; the prompt's imports and
/// helper functions stay available to it.
fn python_source(prompt: &str, solution: &Solution) -> String {
    match solution {
        Solution::Continuation(body) => format!("{prompt}{body}"),
        Solution::Full(code) => {
            let code = source::strip_main(Language::Python, code);
            if prompt.is_empty() {
                code
            } else {
                format!("{prompt}\n{code}")
            }
        }
    }
}

/// Headers the upstream C++ harness adds to every program (the prompts omit some of them).
const CPP_PRELUDE: &str = "#include<stdlib.h>\n#include<algorithm>\n#include<math.h>\n#include<stdio.h>\n#include<vector>\n#include<string>\n#include<climits>\n#include<cstring>\n#include<iostream>\n";

fn humaneval_x(
    language: Language,
    prompt: &str,
    parts: &HumanEvalXParts,
    solution: &Solution,
    suite: TestSuite,
) -> (String, TestSuite) {
    let tests = |f: &dyn Fn(&str) -> String| match &suite {
        TestSuite::Code { code } => TestSuite::Code { code: f(code) },
        other => other.clone(),
    };
    match language {
        Language::Cpp | Language::C => {
            let body = match solution {
                Solution::Continuation(body) => format!("{prompt}{body}"),
                Solution::Full(code) => format!(
                    "{}{}",
                    source::header_lines(&parts.declaration),
                    source::strip_main(language, code)
                ),
            };
            (
                format!("{CPP_PRELUDE}{body}"),
                tests(&|code| format!("\n{code}")),
            )
        }
        Language::Java => {
            let body = match solution {
                Solution::Continuation(body) => format!("{prompt}{body}"),
                Solution::Full(code) => source::java_full(&parts.declaration, code),
            };
            (body, tests(&|code| format!("\n{code}")))
        }
        Language::JavaScript => {
            let body = match solution {
                Solution::Continuation(body) => format!("{prompt}{body}"),
                Solution::Full(code) => source::strip_main(language, code),
            };
            // The executor's JavaScript harness makes failed `console.assert` calls count.
            (body, tests(&|code| format!("\n{code}")))
        }
        Language::Go => {
            let body = match solution {
                Solution::Continuation(body) => {
                    format!("{}{body}", prompt.replacen(&parts.go_import, "", 1))
                }
                Solution::Full(code) => source::strip_main(language, code),
            };
            let program = source::go_program(&body);
            // The tests become their own file: `test_setup` is its package clause and imports.
            (
                program,
                tests(&|code| format!("{}\n{code}", parts.go_test_setup)),
            )
        }
        Language::Rust => {
            let body = match solution {
                Solution::Continuation(body) => format!("{}{prompt}{body}", parts.declaration),
                Solution::Full(code) => format!(
                    "{}{}",
                    source::header_lines(&parts.declaration),
                    source::strip_main(language, code)
                ),
            };
            (body, tests(&|code| source::rust_tests(code)))
        }
        Language::Python => (python_source(prompt, solution), suite),
    }
}

/// MultiPL-E: the completion is cut at the first stop token, the function is closed, and the test
/// (`fn main` with asserts) follows. MBPP-rs tests start with the `}` that closes the function;
/// it is dropped and the brace added uniformly.
fn multipl_e(
    prompt: &str,
    stop_tokens: &[String],
    solution: &Solution,
    suite: TestSuite,
) -> (String, TestSuite) {
    let suite = match suite {
        TestSuite::Code { code } => {
            let trimmed = code.trim_start();
            let rest = trimmed.strip_prefix('}').unwrap_or(&code);
            TestSuite::Code {
                code: rest.to_owned(),
            }
        }
        other => other,
    };
    let source = match solution {
        Solution::Continuation(body) => {
            let cut = stop_tokens
                .iter()
                .filter_map(|stop| body.find(stop.as_str()))
                .min()
                .unwrap_or(body.len());
            format!("{prompt}{}\n}}\n", &body[..cut])
        }
        Solution::Full(code) => source::strip_main(Language::Rust, code),
    };
    (source, suite)
}

#[cfg(test)]
mod tests;
