//! The record the pipeline moves: a document, and the side record of a dropped or changed one.

use serde::{Deserialize, Serialize};

/// One document: a source file, a JSON Lines record or a Parquet row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Stable identifier: the input's id field, else the file path (directories) or
    /// `file:line` / `file#row` (JSON Lines, Parquet).
    pub id: String,
    /// Where it came from: a path, `file:line` or `file#row`.
    pub source: String,
    /// Language id (`python`, `rust`, ...), given by the input or detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The content.
    pub text: String,
    /// Everything else the input carried (other JSON fields, other Parquet columns).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// A pipeline stage that can drop or change a record, as named in side files and the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reading inputs: binary, undecodable, empty or huge files, malformed lines, bad schemas.
    Read,
    /// Language detection and the language allow-list.
    Language,
    /// Quality filters (line lengths, alphanumeric fraction, generated and minified files).
    Quality,
    /// Decontamination against benchmark prompts and solutions.
    Decontam,
    /// PII redaction (changes records, never drops them).
    Pii,
    /// Exact deduplication by content hash.
    Exact,
    /// Near deduplication by MinHash LSH.
    Near,
}

impl Stage {
    /// The name used in files and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Language => "language",
            Stage::Quality => "quality",
            Stage::Decontam => "decontam",
            Stage::Pii => "pii",
            Stage::Exact => "exact",
            Stage::Near => "near",
        }
    }
}

/// What happened to a record at a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Removed from the output.
    Dropped,
    /// Kept, with its text changed.
    Changed,
}

/// One line of a side file: a record a stage dropped or changed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reject {
    pub stage: Stage,
    pub action: Action,
    /// Short machine-readable reason, e.g. `max_line_length` or `near_duplicate`.
    pub reason: String,
    /// Human-readable detail: the measured value, the matched benchmark, the kept duplicate.
    pub detail: String,
    /// The record's id (`None` when a whole input file could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Where the record came from.
    pub source: String,
}

impl Reject {
    /// A dropped record.
    pub fn dropped(stage: Stage, reason: &str, detail: String, doc: &Document) -> Self {
        Reject {
            stage,
            action: Action::Dropped,
            reason: reason.to_owned(),
            detail,
            id: Some(doc.id.clone()),
            source: doc.source.clone(),
        }
    }
}
