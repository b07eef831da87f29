//! The curation configuration: one section per stage, each with BigCode-style defaults and an
//! `enabled` switch. Read from TOML; recorded in the output directory so that every shard and
//! every re-run uses the same one.

use serde::{Deserialize, Serialize};

use crate::decontam::DecontamConfig;
use crate::minhash::Banding;
use crate::pii::PiiConfig;
use crate::quality::QualityConfig;
use crate::walk::WalkConfig;
use crate::{Error, Result};

/// Everything that decides what a run outputs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CurateConfig {
    pub input: InputConfig,
    pub walk: WalkConfig,
    pub language: LanguageConfig,
    pub quality: QualityConfig,
    pub decontam: DecontamConfig,
    pub pii: PiiConfig,
    pub exact: ExactConfig,
    pub near: NearConfig,
    pub output: OutputConfig,
}

/// How inputs are read and cut into work units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// Fields (JSON Lines) or columns (Parquet) holding the text; the first present is used.
    pub text_fields: Vec<String>,
    /// Field or column holding the id (absent: `file:line` or `file#row`).
    pub id_field: String,
    /// Fields or columns holding the language.
    pub language_fields: Vec<String>,
    /// A work unit holds about this many input bytes ...
    pub unit_bytes: u64,
    /// ... or this many files, whichever comes first (directories).
    pub unit_files: usize,
    /// Larger documents are skipped (The Stack: 1 MiB).
    pub max_doc_bytes: u64,
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            text_fields: ["text", "content", "code"].map(str::to_owned).to_vec(),
            id_field: "id".to_owned(),
            language_fields: ["language", "lang"].map(str::to_owned).to_vec(),
            unit_bytes: 64 << 20,
            unit_files: 20_000,
            max_doc_bytes: 1 << 20,
        }
    }
}

/// Language detection and the allow-list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanguageConfig {
    /// Run the stage (detect missing languages, apply the allow-list).
    pub enabled: bool,
    /// Keep only these languages (empty: keep all).
    pub allow: Vec<String>,
    /// With an allow-list, also keep documents whose language is unknown.
    pub keep_unknown: bool,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        LanguageConfig {
            enabled: true,
            allow: Vec::new(),
            keep_unknown: false,
        }
    }
}

/// Exact deduplication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExactConfig {
    pub enabled: bool,
}

impl Default for ExactConfig {
    fn default() -> Self {
        ExactConfig { enabled: true }
    }
}

/// Near deduplication by MinHash LSH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NearConfig {
    pub enabled: bool,
    /// Tokens per shingle.
    pub ngram: usize,
    /// Jaccard similarity at or above which two documents are near duplicates.
    pub threshold: f64,
    /// Weights of the FP/FN-weighted rule that picks bands and rows.
    pub fp_weight: f64,
    pub fn_weight: f64,
    /// Override the rule's bands and rows (both or neither).
    pub bands: Option<usize>,
    pub rows: Option<usize>,
    /// Keep a candidate pair only if its full-signature estimate reaches the threshold.
    pub verify: bool,
    /// Seed of the permutations.
    pub seed: u64,
    /// Each band's bucket matching is split into this many items (more: more fan-out).
    pub partitions: usize,
}

impl Default for NearConfig {
    fn default() -> Self {
        NearConfig {
            enabled: true,
            ngram: 5,
            threshold: 0.7,
            fp_weight: 0.5,
            fn_weight: 0.5,
            bands: None,
            rows: None,
            verify: true,
            seed: 1,
            partitions: 1,
        }
    }
}

impl NearConfig {
    /// Bands and rows: the override, else the FP/FN-weighted rule.
    pub fn banding(&self) -> Result<Banding> {
        match (self.bands, self.rows) {
            (Some(bands), Some(rows)) => {
                if bands == 0 || rows == 0 || bands * rows > crate::minhash::PERMUTATIONS {
                    return Err(Error::Config(format!(
                        "near.bands * near.rows must be between 1 and {}; got {bands} * {rows}",
                        crate::minhash::PERMUTATIONS
                    )));
                }
                Ok(Banding { bands, rows })
            }
            (None, None) => Ok(Banding::optimal(
                self.threshold,
                crate::minhash::PERMUTATIONS,
                self.fp_weight,
                self.fn_weight,
            )),
            _ => Err(Error::Config(
                "set both near.bands and near.rows, or neither (the FP/FN rule picks them)".into(),
            )),
        }
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Jsonl,
    Parquet,
}

/// Where and how results are written.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    pub format: Format,
}

impl CurateConfig {
    /// Parse TOML.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml_de(text)
    }

    /// Check values that serde cannot.
    pub fn validate(&self) -> Result<()> {
        let near = &self.near;
        if !(0.0..=1.0).contains(&near.threshold) || near.threshold == 0.0 {
            return Err(Error::Config(format!(
                "near.threshold must be in (0, 1]; got {}",
                near.threshold
            )));
        }
        if near.ngram == 0 || near.partitions == 0 {
            return Err(Error::Config(
                "near.ngram and near.partitions must be at least 1".into(),
            ));
        }
        near.banding()?;
        if self.decontam.ngram_size == 0 {
            return Err(Error::Config(
                "decontam.ngram_size must be at least 1".into(),
            ));
        }
        if self.input.unit_bytes == 0 || self.input.unit_files == 0 {
            return Err(Error::Config(
                "input.unit_bytes and input.unit_files must be at least 1".into(),
            ));
        }
        if self.input.text_fields.is_empty() {
            return Err(Error::Config(
                "input.text_fields must name at least one field".into(),
            ));
        }
        Ok(())
    }

    /// The walker's settings: the walk section with the document size limit applied.
    pub fn walk_config(&self) -> WalkConfig {
        WalkConfig {
            max_file_bytes: self.input.max_doc_bytes,
            ..self.walk.clone()
        }
    }
}

fn toml_de(text: &str) -> Result<CurateConfig> {
    toml::from_str(text).map_err(|err| Error::Config(err.to_string()))
}
