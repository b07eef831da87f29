//! HumanEval-infilling (fill-in-the-middle tasks cut from HumanEval): each file as a benchmark
//! ([`parse`]: the code before the gap is the prompt, the code after it the harness's suffix,
//! HumanEval's `check` the hidden test), and all four files as plain records for
//! decontamination ([`load_infilling`]).

use std::path::Path;

use crucible_types::{Language, Task, TaskKind};
use serde::Deserialize;

use super::{jsonl_records, reject_duplicate_ids};
use crate::benchmark::{DataDirs, InfillSplit};
use crate::task::{BenchmarkTask, Harness, Reject, Solution};
use crate::{Error, Result};

/// The folder under the data directory and its files.
pub const FOLDER: &str = "humaneval-infilling";
pub const FILES: [&str; 4] = [
    "HumanEval-SingleLineInfilling.jsonl.gz",
    "HumanEval-MultiLineInfilling.jsonl.gz",
    "HumanEval-RandomSpanInfilling.jsonl.gz",
    "HumanEval-RandomSpanInfillingLight.jsonl.gz",
];

/// One infilling record: the code before the hole, the hole's reference text, the code after.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InfillingRecord {
    pub task_id: String,
    pub prompt: String,
    pub suffix: String,
    pub canonical_solution: String,
}

/// Every record of the four files, with the lines that could not be used.
pub fn load_infilling(dirs: &DataDirs) -> Result<(Vec<InfillingRecord>, Vec<Reject>)> {
    let mut records = Vec::new();
    let mut rejects = Vec::new();
    let name = crate::BenchmarkName::TaskFile(FOLDER.into());
    for file in FILES {
        let path = dirs.find(&name, &Path::new(FOLDER).join(file))?;
        let text = super::read_text(&path)?;
        if text.trim().is_empty() {
            return Err(Error::EmptyFile { path });
        }
        let (parsed, bad) = super::jsonl_records::<InfillingRecord>(&text);
        records.extend(parsed.into_iter().map(|(_, record)| record));
        rejects.extend(bad);
    }
    Ok((records, rejects))
}

/// A record as a benchmark task reads it (every field of the upstream files).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskRecord {
    task_id: String,
    entry_point: String,
    prompt: String,
    suffix: String,
    canonical_solution: String,
    test: String,
}

/// The tasks of one file. The visible tests are the docstring examples of the HumanEval
/// problem the gap was cut from (the docstring is in the prompt, before every gap), less the
/// ones HumanEval's loader excludes for contradicting the reference.
pub(super) fn parse(
    _path: &Path,
    text: &str,
    split: InfillSplit,
) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    let (records, mut rejects) = jsonl_records::<TaskRecord>(text);
    let tasks = records
        .into_iter()
        .map(|(line, record)| {
            let problem = humaneval_id(&record.task_id);
            let visible =
                super::humaneval::visible_tests(problem, &record.prompt, &record.entry_point);
            let hidden = super::humaneval::hidden_suite(&record.test, &record.entry_point);
            let task = BenchmarkTask {
                task: Task {
                    id: record.task_id,
                    language: Language::Python,
                    kind: TaskKind::Function {
                        prompt: record.prompt,
                        entry_point: record.entry_point,
                    },
                    visible,
                },
                hidden,
                reference: Some(Solution::Continuation(record.canonical_solution)),
                harness: Harness::Infill {
                    suffix: record.suffix,
                    one_line: split.one_line(),
                },
            };
            (line, task)
        })
        .collect();
    let tasks = reject_duplicate_ids(tasks, &mut rejects);
    (tasks, rejects)
}

/// The HumanEval problem of an infilling task id (`SingleLineInfilling/HumanEval/0/L0` is cut
/// from `HumanEval/0`).
fn humaneval_id(task_id: &str) -> &str {
    let Some(start) = task_id.find("HumanEval/") else {
        return task_id;
    };
    let rest = &task_id[start..];
    let end = rest[10..].find('/').map_or(rest.len(), |at| 10 + at);
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_problem_id_is_cut_from_the_task_id() {
        assert_eq!(
            humaneval_id("SingleLineInfilling/HumanEval/0/L0"),
            "HumanEval/0"
        );
        assert_eq!(
            humaneval_id("RandomSpanInfilling/HumanEval/147/3"),
            "HumanEval/147"
        );
        assert_eq!(
            humaneval_id("RandomSpanInfillingLight/HumanEval/12/1"),
            "HumanEval/12"
        );
        assert_eq!(humaneval_id("x/HumanEval/12"), "HumanEval/12");
        assert_eq!(humaneval_id("other"), "other");
    }
}
