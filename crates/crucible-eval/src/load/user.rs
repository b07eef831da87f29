//! User task files in the `generate --task` format ([`crucible_types::format`]).
//!
//! Hidden tests come from `hidden_examples` / `hidden_tests`; a task without them is judged on its
//! visible tests (the summary says so).

use std::path::Path;

use crucible_types::format::parse_task_file;
use crucible_types::{Language, TaskKind};

use crate::task::{BenchmarkTask, Harness, HiddenTests, Reject};
use crate::{Error, Result};

pub(super) fn parse(
    path: &Path,
    text: &str,
    default_language: Language,
) -> Result<(Vec<BenchmarkTask>, Vec<Reject>)> {
    let records = parse_task_file(text, default_language).map_err(|source| Error::TaskFile {
        path: path.to_path_buf(),
        source,
    })?;
    let tasks = records
        .into_iter()
        .map(|record| {
            let harness = match record.task.kind {
                TaskKind::Function { .. } => Harness::UserFunction,
                TaskKind::Program { .. } | TaskKind::Freeform { .. } => Harness::Stdio,
            };
            let hidden = record.hidden.unwrap_or_else(|| record.task.visible.clone());
            BenchmarkTask {
                task: record.task,
                hidden: HiddenTests::ready(hidden),
                reference: None,
                harness,
            }
        })
        .collect();
    Ok((tasks, Vec::new()))
}
