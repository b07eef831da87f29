//! Benchmark loaders: read the local files of each benchmark into [`BenchmarkTask`]s.
//!
//! Loaders read files only; they never run code. A record that cannot be used becomes a
//! [`Reject`] with its line number and reason, never a silent skip; an unreadable or empty file is
//! an error.

mod evalplus;
mod humaneval;
mod humaneval_x;
pub mod infilling;
mod mbpp;
mod multipl_e;
mod stdio;
mod user;

use std::io::Read as _;
use std::path::Path;

use crucible_types::Language;
use serde::de::DeserializeOwned;

use crate::benchmark::{BenchmarkName, DataDirs};
use crate::task::{Benchmark, BenchmarkTask, Reject};
use crate::{Error, Result};

pub use stdio::html_to_text;

/// What to load.
#[derive(Debug, Clone)]
pub struct LoadParams<'a> {
    /// Where the benchmark files are.
    pub dirs: &'a DataDirs,
    /// The language asked for (`None`: the benchmark's default).
    pub language: Option<Language>,
}

/// Load a benchmark from local files.
pub fn load_benchmark(name: &BenchmarkName, params: &LoadParams<'_>) -> Result<Benchmark> {
    let language = name.language(params.language)?;
    let path = match name {
        BenchmarkName::TaskFile(path) => path.clone(),
        named => {
            let relative = named
                .relative_path(language)
                .expect("named benchmarks have a data file");
            params.dirs.find(named, &relative)?
        }
    };
    let text = read_text(&path)?;
    if text.trim().is_empty() {
        return Err(Error::EmptyFile { path });
    }
    let (tasks, rejects) = match name {
        BenchmarkName::HumanEval => humaneval::parse(&path, &text),
        BenchmarkName::HumanEvalPlus => evalplus::parse_humaneval_plus(&path, &text),
        BenchmarkName::Mbpp => mbpp::parse_sanitized(&path, &text)?,
        BenchmarkName::MbppFull => mbpp::parse_full(&path, &text),
        BenchmarkName::MbppTest => mbpp::parse_test_split(&path, &text),
        BenchmarkName::MbppPlus => evalplus::parse_mbpp_plus(&path, &text),
        BenchmarkName::HumanEvalX => humaneval_x::parse(&path, &text, language),
        BenchmarkName::HumanEvalRs | BenchmarkName::MbppRs => multipl_e::parse(&path, &text),
        BenchmarkName::Apps => stdio::parse_apps(&path, &text, language),
        BenchmarkName::CodeNet => stdio::parse_codenet(&path, &text, language),
        BenchmarkName::HumanEvalInfilling(split) => infilling::parse(&path, &text, *split),
        BenchmarkName::TaskFile(_) => user::parse(&path, &text, language)?,
    };
    tracing::debug!(
        benchmark = %name,
        tasks = tasks.len(),
        rejects = rejects.len(),
        "loaded benchmark"
    );
    Ok(Benchmark {
        name: name.clone(),
        language,
        tasks,
        rejects,
    })
}

/// Read a file as UTF-8 text, gunzipping it when its name ends in `.gz`.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(read_err)?;
    let is_gzip = path.extension().is_some_and(|ext| ext == "gz");
    let mut text = String::new();
    if is_gzip {
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .map_err(read_err)?;
    } else {
        text = String::from_utf8(bytes).map_err(|err| Error::Malformed {
            path: path.to_path_buf(),
            message: format!("not UTF-8: {err}"),
        })?;
    }
    Ok(text)
}

/// Parse each non-blank line of a JSON Lines text as `T`; bad lines become rejects.
pub(crate) fn jsonl_records<T: DeserializeOwned>(text: &str) -> (Vec<(usize, T)>, Vec<Reject>) {
    let mut records = Vec::new();
    let mut rejects = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(line) {
            Ok(record) => records.push((idx + 1, record)),
            Err(err) => rejects.push(Reject {
                id: None,
                line: idx + 1,
                reason: format!("invalid record: {err}"),
            }),
        }
    }
    (records, rejects)
}

/// Rejects for tasks whose id was already used (the later copy is rejected).
pub(crate) fn reject_duplicate_ids(
    tasks: Vec<(usize, BenchmarkTask)>,
    rejects: &mut Vec<Reject>,
) -> Vec<BenchmarkTask> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut kept = Vec::with_capacity(tasks.len());
    for (line, task) in tasks {
        if let Some(first) = seen.get(&task.task.id) {
            rejects.push(Reject {
                id: Some(task.task.id.clone()),
                line,
                reason: format!("duplicate task id, first seen on line {first}"),
            });
            continue;
        }
        seen.insert(task.task.id.clone(), line);
        kept.push(task);
    }
    kept
}

/// A reject for a record that parsed but cannot be used.
pub(crate) fn reject(id: &str, line: usize, reason: impl Into<String>) -> Reject {
    Reject {
        id: Some(id.to_owned()),
        line,
        reason: reason.into(),
    }
}
