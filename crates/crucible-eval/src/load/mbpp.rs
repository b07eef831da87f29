//! MBPP: the sanitized set (427, headline) and the full set (974).
//!
//! The prompt follows EvalPlus's MBPP+ convention: the task sentence and the first test assert in
//! a docstring. That first assert is the visible test; all asserts are the hidden tests.

use std::path::Path;

use crucible_types::{Language, Task, TaskKind, TestSuite};
use serde::Deserialize;

use super::{jsonl_records, reject, reject_duplicate_ids};
use crate::task::{BenchmarkTask, Harness, HiddenTests, Reject, Solution};
use crate::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SanitizedRecord {
    #[allow(dead_code, reason = "kept for deny_unknown_fields; not used")]
    source_file: String,
    task_id: u64,
    prompt: String,
    code: String,
    test_imports: Vec<String>,
    test_list: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullRecord {
    text: String,
    code: String,
    task_id: u64,
    test_setup_code: String,
    test_list: Vec<String>,
    /// Extra asserts some records carry; like the original paper's evaluation, they are not used.
    #[allow(dead_code, reason = "kept for deny_unknown_fields; not used")]
    challenge_test_list: Vec<String>,
}

/// The sanitized file is one JSON array, not JSON Lines.
pub(super) fn parse_sanitized(
    path: &Path,
    text: &str,
) -> Result<(Vec<BenchmarkTask>, Vec<Reject>)> {
    let values: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|err| Error::Malformed {
            path: path.to_path_buf(),
            message: format!("expected a JSON array of problems: {err}"),
        })?;
    let mut rejects = Vec::new();
    let mut tasks = Vec::new();
    for (idx, value) in values.into_iter().enumerate() {
        let number = idx + 1;
        let record: SanitizedRecord = match serde_json::from_value(value) {
            Ok(record) => record,
            Err(err) => {
                rejects.push(Reject {
                    id: None,
                    line: number,
                    reason: format!("invalid record {number}: {err}"),
                });
                continue;
            }
        };
        let setup = join_lines(&record.test_imports);
        let problem = Problem {
            id: format!("Mbpp/{}", record.task_id),
            description: &record.prompt,
            code: &record.code,
            setup: &setup,
            asserts: &record.test_list,
        };
        match problem.build() {
            Ok(task) => tasks.push((number, task)),
            Err(reason) => rejects.push(reject(&problem.id, number, reason)),
        }
    }
    let tasks = reject_duplicate_ids(tasks, &mut rejects);
    Ok((tasks, rejects))
}

pub(super) fn parse_full(_path: &Path, text: &str) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    let (records, mut rejects) = jsonl_records::<FullRecord>(text);
    let mut tasks = Vec::new();
    for (line, record) in records {
        let code = record.code.replace("\r\n", "\n");
        let setup = if record.test_setup_code.trim().is_empty() {
            String::new()
        } else {
            format!(
                "{}\n",
                record.test_setup_code.replace("\r\n", "\n").trim_end()
            )
        };
        let problem = Problem {
            id: format!("Mbpp/{}", record.task_id),
            description: &record.text,
            code: &code,
            setup: &setup,
            asserts: &record.test_list,
        };
        match problem.build() {
            Ok(task) => tasks.push((line, task)),
            Err(reason) => rejects.push(reject(&problem.id, line, reason)),
        }
    }
    let tasks = reject_duplicate_ids(tasks, &mut rejects);
    (tasks, rejects)
}

/// The task ids of full MBPP's conventional test split (google-research's README; the split
/// bigcode-evaluation-harness evaluates as `mbpp`).
const TEST_SPLIT: std::ops::RangeInclusive<u32> = 11..=510;

/// Full MBPP restricted to its test split ([`TEST_SPLIT`]), in task-id order.
pub(super) fn parse_test_split(path: &Path, text: &str) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    let (mut tasks, rejects) = parse_full(path, text);
    let number = |id: &str| id.strip_prefix("Mbpp/").and_then(|n| n.parse::<u32>().ok());
    tasks.retain(|task| number(&task.task.id).is_some_and(|n| TEST_SPLIT.contains(&n)));
    // A rejected record whose id cannot be read may belong to the split: keep it reported.
    let rejects = rejects
        .into_iter()
        .filter(|reject| {
            reject
                .id
                .as_deref()
                .and_then(number)
                .is_none_or(|n| TEST_SPLIT.contains(&n))
        })
        .collect();
    (tasks, rejects)
}

struct Problem<'a> {
    id: String,
    description: &'a str,
    code: &'a str,
    setup: &'a str,
    asserts: &'a [String],
}

impl Problem<'_> {
    fn build(&self) -> Result<BenchmarkTask, String> {
        let first = self
            .asserts
            .first()
            .ok_or_else(|| "no test asserts".to_owned())?;
        let entry_point = entry_point(self.code, first)
            .ok_or_else(|| "cannot tell which function the asserts call".to_owned())?;
        let prompt = format!("\"\"\"\n{}\n{first}\n\"\"\"\n", self.description.trim());
        let visible = TestSuite::Code {
            code: format!("{}{first}\n", self.setup),
        };
        let hidden = TestSuite::Code {
            code: format!("{}{}", self.setup, join_lines(self.asserts)),
        };
        Ok(BenchmarkTask {
            task: Task {
                id: self.id.clone(),
                language: Language::Python,
                kind: TaskKind::Function {
                    prompt,
                    entry_point,
                },
                visible,
            },
            hidden: HiddenTests::ready(hidden),
            reference: Some(Solution::Full(self.code.to_owned())),
            harness: Harness::Mbpp {
                test_setup: self.setup.to_owned(),
            },
        })
    }
}

/// The function the first assert calls: the first name defined by `def` in the reference code
/// that the assert calls.
fn entry_point(code: &str, assert: &str) -> Option<String> {
    code.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("def ")?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            Some(name)
        })
        .find(|name| !name.is_empty() && calls(assert, name))
}

fn calls(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].trim_start();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            && after.starts_with('(')
    })
}

fn join_lines(lines: &[String]) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_entry_point() {
        let code = "def helper(x):\n  return x\ndef similar_elements(a, b):\n  return helper(a)\n";
        assert_eq!(
            entry_point(
                code,
                "assert set(similar_elements((3, 4),(5, 4))) == set((4,))"
            ),
            Some("similar_elements".to_owned())
        );
        assert_eq!(entry_point(code, "assert other(1) == 2"), None);
    }
}
