//! Reading other tools' sample shapes into the JSON Lines that [`super::parse_samples`] reads:
//! human-eval/EvalPlus JSON Lines (gzipped or not), an EvalPlus samples directory, a
//! bigcode-evaluation-harness `generations.json`, LiveCodeBench's output, and a JSON array of
//! sample records. The shape is detected from the file, and named to the user.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

use serde_json::{Value, json};

use super::{SampleProblem, SamplesError};
use crate::BenchmarkName;
use crate::task::Benchmark;

/// The shapes a samples file may have, for the error naming them.
pub const ACCEPTED: &str = "JSON Lines with `task_id` and `completion` (human-eval) or `solution` (EvalPlus), optionally gzipped (.jsonl.gz); \
an EvalPlus samples directory (`<task_id with / replaced by _>/<n>.py`); \
a bigcode-evaluation-harness `generations.json` (a list per task, in benchmark order); \
LiveCodeBench output (a list of objects with `question_id` and `code_list`); \
or a JSON array of sample records";

/// The shape a samples input was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplesFormat {
    /// human-eval or EvalPlus JSON Lines (or a `crucible eval` samples.jsonl).
    JsonLines { gzipped: bool },
    /// EvalPlus's directory of `.py` files, one folder per task.
    EvalPlusDir { tasks: usize },
    /// bigcode-evaluation-harness `generations.json`: one list of programs per task, in the
    /// benchmark's task order.
    Bigcode { tasks: usize, gzipped: bool },
    /// LiveCodeBench's output: objects with `question_id` and `code_list`.
    LiveCodeBench { tasks: usize },
    /// A JSON array of the records JSON Lines would hold.
    JsonArray,
}

impl fmt::Display for SamplesFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gz = |gzipped: bool| if gzipped { ", gzipped" } else { "" };
        match self {
            SamplesFormat::JsonLines { gzipped } => {
                write!(f, "human-eval/EvalPlus JSON Lines{}", gz(*gzipped))
            }
            SamplesFormat::EvalPlusDir { tasks } => {
                write!(f, "EvalPlus samples directory ({tasks} tasks)")
            }
            SamplesFormat::Bigcode { tasks, gzipped } => write!(
                f,
                "bigcode-evaluation-harness generations.json ({tasks} tasks, in benchmark order{})",
                gz(*gzipped)
            ),
            SamplesFormat::LiveCodeBench { tasks } => {
                write!(f, "LiveCodeBench output ({tasks} questions)")
            }
            SamplesFormat::JsonArray => f.write_str("JSON array of sample records"),
        }
    }
}

/// A samples input turned into JSON Lines, with the shape it was found in.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplesInput {
    pub format: SamplesFormat,
    /// JSON Lines in the human-eval/EvalPlus shape.
    pub text: String,
}

/// Read the samples at `path` (a file or an EvalPlus directory) for `bench`.
pub fn read_samples(path: &Path, bench: &Benchmark) -> Result<SamplesInput, SamplesError> {
    let whole = |message: String| SamplesError {
        path: path.to_path_buf(),
        problems: vec![SampleProblem { line: 0, message }],
    };
    if path.is_dir() {
        return read_evalplus_dir(path, bench).map_err(whole);
    }
    let bytes = std::fs::read(path).map_err(|err| whole(format!("cannot read it: {err}")))?;
    let gzipped = bytes.starts_with(&[0x1f, 0x8b]);
    let bytes = if gzipped {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|err| whole(format!("not a valid gzip file: {err}")))?;
        out
    } else {
        bytes
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| whole(format!("not UTF-8 text; accepted shapes: {ACCEPTED}")))?;
    let first = text.trim_start().chars().next();
    match first {
        Some('[') => from_json_array(&text, bench, gzipped).map_err(whole),
        Some('{') | None => Ok(SamplesInput {
            format: SamplesFormat::JsonLines { gzipped },
            text,
        }),
        Some(_) => Err(whole(format!(
            "not a samples file in a shape Crucible reads; accepted: {ACCEPTED}"
        ))),
    }
}

fn line(task_id: &str, sample_idx: usize, solution: &str) -> String {
    json!({"task_id": task_id, "sample_idx": sample_idx, "solution": solution}).to_string()
}

fn from_json_array(text: &str, bench: &Benchmark, gzipped: bool) -> Result<SamplesInput, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|err| format!("a JSON array that does not parse: {err}"))?;
    let Value::Array(items) = value else {
        unreachable!("the text starts with `[`")
    };
    let unknown = || format!("a JSON array in no shape Crucible reads; accepted: {ACCEPTED}");
    let mut lines = Vec::new();
    let format = match items.first() {
        None => return Err("the file has no samples (an empty list)".into()),
        Some(Value::Array(_)) => {
            if items.len() > bench.tasks.len() {
                let hint = if Some(items.len())
                    == BenchmarkName::MbppTest.info().map(|info| info.tasks)
                {
                    "bigcode's `mbpp` is the 500-task test split of full MBPP: score it with `--benchmark mbpp-test`"
                } else {
                    "bigcode's `mbpp` is `--benchmark mbpp-test`; its `multiple-<lang>` are MultiPL-E, of which Crucible has `multiple-rs`"
                };
                return Err(format!(
                    "bigcode generations.json has {} task lists but `{}` has {} tasks: it was made for another benchmark ({hint})",
                    items.len(),
                    bench.name,
                    bench.tasks.len()
                ));
            }
            for (task_idx, (item, task)) in items.iter().zip(&bench.tasks).enumerate() {
                let programs = item
                    .as_array()
                    .ok_or_else(|| format!("task list {task_idx} is not a list of strings"))?;
                for (idx, program) in programs.iter().enumerate() {
                    let program = program.as_str().ok_or_else(|| {
                        format!("task list {task_idx}, item {idx} is not a string")
                    })?;
                    lines.push(line(&task.task.id, idx, program));
                }
            }
            SamplesFormat::Bigcode {
                tasks: items.len(),
                gzipped,
            }
        }
        Some(Value::Object(first)) if first.contains_key("code_list") => {
            for (n, item) in items.iter().enumerate() {
                let id = item
                    .get("question_id")
                    .and_then(|id| {
                        id.as_str()
                            .map(str::to_owned)
                            .or_else(|| Some(id.to_string()))
                    })
                    .filter(|id| id != "null")
                    .ok_or_else(|| format!("LiveCodeBench item {n} has no `question_id`"))?;
                let codes = item
                    .get("code_list")
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("LiveCodeBench item {n}: `code_list` is not a list"))?;
                for (idx, code) in codes.iter().enumerate() {
                    let code = code.as_str().ok_or_else(|| {
                        format!("LiveCodeBench item {n}: `code_list` item {idx} is not a string")
                    })?;
                    lines.push(line(&id, idx, code));
                }
            }
            SamplesFormat::LiveCodeBench { tasks: items.len() }
        }
        Some(Value::Object(first)) if first.contains_key("task_id") => {
            for item in &items {
                lines.push(item.to_string());
            }
            SamplesFormat::JsonArray
        }
        Some(_) => return Err(unknown()),
    };
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(SamplesInput { format, text })
}

/// EvalPlus's layout: `<dir>/<task_id with / replaced by _>/<n>.py`.
fn read_evalplus_dir(dir: &Path, bench: &Benchmark) -> Result<SamplesInput, String> {
    let folder_of = |id: &str| id.replace('/', "_");
    let mut folders: Vec<_> = std::fs::read_dir(dir)
        .map_err(|err| format!("cannot read the directory: {err}"))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    if folders.is_empty() {
        return Err(format!(
            "a directory with no task folders; accepted shapes: {ACCEPTED}"
        ));
    }
    let mut lines = Vec::new();
    let mut tasks = 0;
    for task in &bench.tasks {
        let name = folder_of(&task.task.id);
        if !folders.contains(&name) {
            continue;
        }
        tasks += 1;
        let mut files: Vec<(usize, std::path::PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir.join(&name))
            .map_err(|err| format!("cannot read `{name}`: {err}"))?
            .filter_map(|entry| entry.ok())
        {
            let path = entry.path();
            let Some(stem) = path
                .extension()
                .filter(|ext| *ext == "py")
                .and(path.file_stem())
                .and_then(|stem| stem.to_str())
            else {
                continue;
            };
            let idx = stem.parse::<usize>().map_err(|_| {
                format!(
                    "`{name}/{}`: EvalPlus sample files are named `<n>.py`",
                    path.file_name().unwrap_or_default().to_string_lossy()
                )
            })?;
            files.push((idx, path));
        }
        files.sort();
        for (idx, path) in files {
            let code = std::fs::read_to_string(&path)
                .map_err(|err| format!("cannot read `{}`: {err}", path.display()))?;
            lines.push(line(&task.task.id, idx, &code));
        }
    }
    let known: Vec<String> = bench.tasks.iter().map(|t| folder_of(&t.task.id)).collect();
    if let Some(stray) = folders.iter().find(|f| !known.contains(f)) {
        return Err(format!(
            "folder `{stray}` is no task of `{}` (EvalPlus folders are task ids with `/` replaced by `_`, e.g. `{}`)",
            bench.name,
            known.first().map_or("HumanEval_0", String::as_str)
        ));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(SamplesInput {
        format: SamplesFormat::EvalPlusDir { tasks },
        text,
    })
}
