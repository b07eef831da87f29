//! MultiPL-E Rust (HumanEval-rs, MBPP-rs). For evaluation only: the MultiPL-E license forbids
//! using its contents as training data. There are no reference solutions and no visible tests
//! (the doc comment's examples are left to the prompt).

use std::path::Path;

use crucible_types::{Language, Task, TaskKind, TestSuite};
use serde::Deserialize;

use super::{jsonl_records, reject_duplicate_ids};
use crate::task::{BenchmarkTask, Harness, HiddenTests, Reject};

#[derive(Deserialize)]
struct Record {
    name: String,
    prompt: String,
    entry_point: String,
    test: String,
    stop_tokens: Vec<String>,
}

pub(super) fn parse(_path: &Path, text: &str) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    let (records, mut rejects) = jsonl_records::<Record>(text);
    let tasks = records
        .into_iter()
        .map(|(line, record)| {
            let task = BenchmarkTask {
                task: Task {
                    id: record.name,
                    language: Language::Rust,
                    kind: TaskKind::Function {
                        prompt: record.prompt,
                        entry_point: record.entry_point,
                    },
                    visible: TestSuite::None,
                },
                hidden: HiddenTests::ready(TestSuite::Code { code: record.test }),
                reference: None,
                harness: Harness::MultiPlE {
                    stop_tokens: record.stop_tokens,
                },
            };
            (line, task)
        })
        .collect();
    let tasks = reject_duplicate_ids(tasks, &mut rejects);
    (tasks, rejects)
}
