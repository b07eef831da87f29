//! Inputs: planning them into work units, and reading a unit into documents.
//!
//! A unit is the smallest piece of input a shard owns: a batch of files from a directory, a
//! byte range of a JSON Lines file (a line belongs to the range it starts in), a whole gzipped
//! JSON Lines file, or a run of Parquet row groups. The plan lists the units in a fixed order
//! (inputs as given, directories sorted by path), so a document's position `(unit, index)` is
//! the same in every run with the same inputs, however many shards there are.

mod jsonl;
mod parquet;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{CurateConfig, InputConfig};
use crate::doc::{Document, Reject, Stage};
use crate::walk::{self, Entry};

/// One work unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unit {
    /// Source files under `root` (ids are `ROOTNAME/relative/path`).
    Files { root: PathBuf, files: Vec<PathBuf> },
    /// Lines of a JSON Lines file starting in bytes `[start, end)`; the first is line
    /// `first_line` (1-based).
    Jsonl {
        path: PathBuf,
        start: u64,
        end: u64,
        first_line: u64,
    },
    /// A whole gzipped JSON Lines file.
    JsonlGz { path: PathBuf },
    /// Row groups of a Parquet file; the first row is `first_row` (0-based) of the file.
    Parquet {
        path: PathBuf,
        row_groups: Vec<usize>,
        first_row: u64,
    },
    /// An input that could not be opened when planned; reading it records the problem.
    Broken { path: PathBuf, problem: String },
}

/// The plan: units in order, and what the walk skipped.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub units: Vec<Unit>,
    pub skipped: Vec<Reject>,
}

/// Plan `inputs` (directories, `.jsonl`, `.jsonl.gz`, `.parquet` files).
pub fn plan(inputs: &[PathBuf], config: &CurateConfig) -> crate::Result<Plan> {
    let mut plan = Plan::default();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|err| crate::Error::Input {
            path: input.clone(),
            problem: format!("{err}; check the path"),
        })?;
        if meta.is_dir() {
            plan_dir(input, config, &mut plan);
            continue;
        }
        let name = input.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".jsonl.gz") || name.ends_with(".json.gz") {
            plan.units.push(Unit::JsonlGz {
                path: input.clone(),
            });
        } else if name.ends_with(".jsonl") || name.ends_with(".json") || name.ends_with(".ndjson") {
            jsonl::plan(input, meta.len(), &config.input, &mut plan.units)?;
        } else if name.ends_with(".parquet") {
            parquet::plan(input, &config.input, &mut plan.units);
        } else {
            return Err(crate::Error::Input {
                path: input.clone(),
                problem: "not a directory, .jsonl, .jsonl.gz or .parquet file".into(),
            });
        }
    }
    Ok(plan)
}

fn plan_dir(root: &Path, config: &CurateConfig, plan: &mut Plan) {
    let walk_config = config.walk_config();
    let mut batch: Vec<PathBuf> = Vec::new();
    let mut batch_bytes = 0u64;
    for entry in walk::walk(root, &walk_config) {
        match entry {
            Entry::File { path, bytes } => {
                batch_bytes += bytes.min(config.input.max_doc_bytes);
                batch.push(path);
                if batch.len() >= config.input.unit_files || batch_bytes >= config.input.unit_bytes
                {
                    plan.units.push(Unit::Files {
                        root: root.to_path_buf(),
                        files: std::mem::take(&mut batch),
                    });
                    batch_bytes = 0;
                }
            }
            Entry::Skipped { path, skip } => plan.skipped.push(Reject {
                stage: Stage::Read,
                action: crate::doc::Action::Dropped,
                reason: skip.reason().to_owned(),
                detail: skip.detail(),
                id: None,
                source: path.display().to_string(),
            }),
        }
    }
    if !batch.is_empty() {
        plan.units.push(Unit::Files {
            root: root.to_path_buf(),
            files: batch,
        });
    }
}

/// Read a unit, calling `sink` with each document or the reason it could not be read, in input
/// order. Returns `false` if `sink` asked to stop.
pub fn read_unit(
    unit: &Unit,
    config: &CurateConfig,
    sink: &mut dyn FnMut(Result<Document, Reject>) -> bool,
) {
    match unit {
        Unit::Files { root, files } => read_files(root, files, config, sink),
        Unit::Jsonl {
            path,
            start,
            end,
            first_line,
        } => {
            jsonl::read_range(path, *start, *end, *first_line, &config.input, sink);
        }
        Unit::JsonlGz { path } => jsonl::read_gz(path, &config.input, sink),
        Unit::Parquet {
            path,
            row_groups,
            first_row,
        } => {
            parquet::read(path, row_groups, *first_row, &config.input, sink);
        }
        Unit::Broken { path, problem } => {
            sink(Err(file_reject(path, "unreadable", problem.clone())));
        }
    }
}

fn read_files(
    root: &Path,
    files: &[PathBuf],
    config: &CurateConfig,
    sink: &mut dyn FnMut(Result<Document, Reject>) -> bool,
) {
    let walk_config = config.walk_config();
    let root_name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for path in files {
        let relative = path.strip_prefix(root).unwrap_or(path);
        let id = if root_name.is_empty() {
            relative.display().to_string()
        } else {
            format!("{root_name}/{}", relative.display())
        };
        let source = path.display().to_string();
        let item = match walk::read_source(path, &walk_config) {
            Ok(text) => Ok(Document {
                id,
                source,
                language: None,
                text,
                metadata: serde_json::Map::new(),
            }),
            Err(skip) => Err(Reject {
                stage: Stage::Read,
                action: crate::doc::Action::Dropped,
                reason: skip.reason().to_owned(),
                detail: skip.detail(),
                id: Some(id),
                source,
            }),
        };
        if !sink(item) {
            return;
        }
    }
}

/// A reject for a whole input file (or part of one) that could not be read.
pub(crate) fn file_reject(path: &Path, reason: &str, detail: String) -> Reject {
    Reject {
        stage: Stage::Read,
        action: crate::doc::Action::Dropped,
        reason: reason.to_owned(),
        detail,
        id: None,
        source: path.display().to_string(),
    }
}

/// Build a document from a JSON object (a JSON Lines record or a converted Parquet row):
/// text, id and language from the configured fields, everything else into `metadata`.
pub(crate) fn document_from_object(
    mut object: serde_json::Map<String, serde_json::Value>,
    fallback_id: String,
    source: String,
    config: &InputConfig,
) -> Result<Document, (&'static str, String)> {
    let Some(text_field) = config
        .text_fields
        .iter()
        .find(|f| object.contains_key(f.as_str()))
    else {
        return Err((
            "no_text_field",
            format!(
                "no text field (looked for {})",
                config.text_fields.join(", ")
            ),
        ));
    };
    let text = match object.remove(text_field.as_str()) {
        Some(serde_json::Value::String(text)) => text,
        Some(other) => {
            return Err((
                "text_not_a_string",
                format!(
                    "field `{text_field}` is {}, not a string",
                    json_type(&other)
                ),
            ));
        }
        None => unreachable_text(),
    };
    let id = match object.remove(config.id_field.as_str()) {
        Some(serde_json::Value::String(id)) => id,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(other) => {
            // Keep an id of another type in the metadata rather than lose it.
            object.insert(config.id_field.clone(), other);
            fallback_id
        }
        None => fallback_id,
    };
    let mut language = None;
    for field in &config.language_fields {
        if let Some(serde_json::Value::String(lang)) = object.get(field.as_str()) {
            language = Some(lang.to_ascii_lowercase());
            object.remove(field.as_str());
            break;
        }
    }
    if text.trim().is_empty() {
        return Err(("empty", "empty or only whitespace".to_owned()));
    }
    if text.len() as u64 > config.max_doc_bytes {
        return Err((
            "too_large",
            format!("{} bytes > limit {}", text.len(), config.max_doc_bytes),
        ));
    }
    Ok(Document {
        id,
        source,
        language,
        text,
        metadata: object,
    })
}

fn unreachable_text() -> String {
    // `find` above saw the key; `remove` of a present key never returns `None`.
    String::new()
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
