//! HumanEval-X: HumanEval in C++, Go, Java, JavaScript, Python and Rust. The visible tests are
//! the records' `example_test` (built from the docstring examples); `test` is hidden.

use std::path::Path;

use crucible_types::{Language, Task, TaskKind, TestSuite};
use serde::Deserialize;

use super::{jsonl_records, reject, reject_duplicate_ids};
use crate::judge::declared_function;
use crate::task::{BenchmarkTask, Harness, HiddenTests, HumanEvalXParts, Reject, Solution};

#[derive(Deserialize)]
struct Record {
    task_id: String,
    prompt: String,
    declaration: String,
    canonical_solution: String,
    test: String,
    #[serde(default)]
    example_test: Option<String>,
    #[serde(default)]
    import: String,
    #[serde(default)]
    test_setup: String,
}

/// Records whose `example_test` is not a test: `Python/119`'s holds two indented copies of the
/// reference body before its `check` (it does not parse); `JavaScript/32`'s calls
/// `testfindZero()` but defines `testFindZero`. They get no visible test.
const BROKEN_EXAMPLE_TESTS: &[&str] = &["Python/119", "JavaScript/32"];

pub(super) fn parse(
    _path: &Path,
    text: &str,
    language: Language,
) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    let (records, mut rejects) = jsonl_records::<Record>(text);
    let mut tasks = Vec::new();
    for (line, record) in records {
        let Some(entry_point) = declared_function(language, &record.declaration) else {
            rejects.push(reject(
                &record.task_id,
                line,
                "cannot find the function name in `declaration`",
            ));
            continue;
        };
        let broken = BROKEN_EXAMPLE_TESTS.contains(&record.task_id.as_str());
        let visible = match record.example_test.as_deref().map(str::trim) {
            // Rust records store the string "None": no example test.
            None | Some("" | "None") => TestSuite::None,
            Some(_) if broken => TestSuite::None,
            Some(_) => TestSuite::Code {
                code: record.example_test.unwrap_or_default(),
            },
        };
        let task = Task {
            id: record.task_id,
            language,
            kind: TaskKind::Function {
                prompt: record.prompt,
                entry_point,
            },
            visible,
        };
        let parts = HumanEvalXParts {
            declaration: record.declaration,
            go_import: record.import,
            go_test_setup: record.test_setup,
        };
        let task = BenchmarkTask {
            task,
            hidden: HiddenTests::ready(TestSuite::Code { code: record.test }),
            reference: Some(Solution::Continuation(record.canonical_solution)),
            harness: Harness::HumanEvalX(parts),
        };
        tasks.push((line, task));
    }
    let tasks = reject_duplicate_ids(tasks, &mut rejects);
    (tasks, rejects)
}
