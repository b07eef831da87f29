//! OpenAI HumanEval: 164 Python function-completion problems.

use std::path::Path;

use crucible_types::{Language, Task, TaskKind, TestSuite};
use serde::Deserialize;

use super::{jsonl_records, reject_duplicate_ids};
use crate::doctest::docstring_tests;
use crate::task::{BenchmarkTask, Harness, HiddenTests, Reject, Solution};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    task_id: String,
    prompt: String,
    entry_point: String,
    canonical_solution: String,
    test: String,
}

/// Docstring examples that the reference solution contradicts (the docstring is wrong or
/// ambiguous). They stay in the prompt, but are not run as visible tests: a visible test that
/// rejects the reference would mislead a strategy. Found by running every canonical solution
/// against its extracted examples (`canonical_solutions_pass_visible_tests`); docs/BENCHMARKS.md
/// lists them with the reason.
pub(crate) const VISIBLE_EXCLUDED: &[(&str, &str)] = &[
    // The docstring's median of an even-length list is wrong (the reference returns 8.0).
    (
        "HumanEval/47",
        "assert median([-10, 4, 6, 1000, 10, 20]) == 15.0",
    ),
    // The docstring's examples contradict its own ordering rule and the reference.
    (
        "HumanEval/116",
        "assert sort_array([1, 5, 2, 3, 4]) == [1, 2, 3, 4, 5]",
    ),
    (
        "HumanEval/116",
        "assert sort_array([-2, -3, -4, -5, -6]) == [-6, -5, -4, -3, -2]",
    ),
    // These lines define sequence terms; the function returns a list.
    ("HumanEval/130", "assert tri(1) == 3"),
    ("HumanEval/130", "assert tri(4) == 3"),
    // `("Venus")` is a string; the function returns the tuple `("Venus",)`.
    (
        "HumanEval/148",
        "assert bf(\"Earth\", \"Mercury\") == (\"Venus\")",
    ),
];

pub(super) fn parse(_path: &Path, text: &str) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    let (records, mut rejects) = jsonl_records::<Record>(text);
    let tasks = records
        .into_iter()
        .map(|(line, record)| {
            let visible = visible_tests(&record.task_id, &record.prompt, &record.entry_point);
            let hidden = hidden_suite(&record.test, &record.entry_point);
            let task = Task {
                id: record.task_id,
                language: Language::Python,
                kind: TaskKind::Function {
                    prompt: record.prompt,
                    entry_point: record.entry_point,
                },
                visible,
            };
            let task = BenchmarkTask {
                task,
                hidden,
                reference: Some(Solution::Continuation(record.canonical_solution)),
                harness: Harness::HumanEval,
            };
            (line, task)
        })
        .collect();
    let tasks = reject_duplicate_ids(tasks, &mut rejects);
    (tasks, rejects)
}

/// A HumanEval-style hidden suite: the record's `test` (which defines `check`), then the call
/// `check(entry_point)` that runs it, as the upstream harness does.
pub(crate) fn hidden_suite(test: &str, entry_point: &str) -> HiddenTests {
    HiddenTests::ready(TestSuite::Code {
        code: format!("{test}\n\ncheck({entry_point})\n"),
    })
}

/// The docstring examples of a HumanEval-style prompt as Python asserts (setup statements from
/// doctests included before the first assert that needs them).
pub(crate) fn visible_tests(task_id: &str, prompt: &str, entry_point: &str) -> TestSuite {
    docstring_tests(prompt, entry_point, |assert| {
        !VISIBLE_EXCLUDED
            .iter()
            .any(|(id, line)| *id == task_id && *line == assert)
    })
}
