//! The metrics files of a run directory: `metrics.jsonl` (per-sample scores, the judge's answers) and `metrics.json` (corpus scores, correlations), and their place in `summary.json`, the terminal table and `report.html`.
//!
//! `metrics.jsonl` holds one JSON object per line, `task_id` and `sample_idx` with any of the
//! per-sample scores (`bleu`, `codebleu`, `exact_match`, `edit_similarity`,
//! `identifier_match`, `reference_perplexity` with `perplexity_model`, `judge` with
//! `judge_model`). Scores that need a model are appended as each is computed, so a killed run
//! keeps them; when a metrics run ends the file is rewritten, atomically, with one merged line
//! per sample. Lines of the same sample merge, later fields winning, so a reader may always
//! fold the file by `(task_id, sample_idx)`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crucible_eval::run::{SUMMARY_FILE, Summary, read_records, write_atomic};
use crucible_metrics::judge::{JudgeParams, JudgeResult};
use crucible_metrics::perplexity::WindowRule;
use crucible_metrics::{MetricSetReport, SampleScores, render};

use crate::{Error, Result};

/// Per-sample scores of a run directory.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The metrics' summary of a run directory (also in `summary.json` under `metrics`).
pub const METRICS_SUMMARY_FILE: &str = "metrics.json";

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricRecord {
    pub task_id: String,
    pub sample_idx: usize,
    #[serde(flatten)]
    pub scores: SampleScores,
    /// The model `reference_perplexity` is under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity_model: Option<String>,
    /// The model that judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_model: Option<String>,
}

impl MetricRecord {
    /// `self` with every field `later` has taken from `later`.
    pub(crate) fn merge(mut self, later: MetricRecord) -> MetricRecord {
        let scores = later.scores;
        let mine = &mut self.scores;
        mine.bleu = scores.bleu.or(mine.bleu);
        mine.codebleu = scores.codebleu.or(mine.codebleu.take());
        mine.exact_match = scores.exact_match.or(mine.exact_match);
        mine.edit_similarity = scores.edit_similarity.or(mine.edit_similarity);
        mine.identifier_match = scores.identifier_match.or(mine.identifier_match.take());
        if scores.reference_perplexity.is_some() {
            mine.reference_perplexity = scores.reference_perplexity;
            self.perplexity_model = later.perplexity_model;
        }
        if scores.judge.is_some() {
            mine.judge = scores.judge;
            self.judge_model = later.judge_model;
        }
        self
    }
}

/// What `metrics.json` holds: the report without its per-sample scores, and what the scores
/// that need a model were computed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSummary {
    /// Samples scored.
    pub samples: usize,
    #[serde(flatten)]
    pub report: MetricSetReport,
    /// The model(s) the references' perplexity is under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity_model: Option<String>,
    /// How the references were read for perplexity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity_window: Option<WindowRule>,
    /// The judging model(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_model: Option<String>,
    /// The judge's decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_params: Option<JudgeParams>,
}

/// The records of `metrics.jsonl` in `dir`, folded by sample.
pub(crate) fn load_records(dir: &Path) -> Result<BTreeMap<(String, usize), MetricRecord>> {
    let (lines, _) = read_records::<MetricRecord>(&dir.join(METRICS_FILE))?;
    let mut records: BTreeMap<(String, usize), MetricRecord> = BTreeMap::new();
    for line in lines {
        let key = (line.task_id.clone(), line.sample_idx);
        let merged = match records.remove(&key) {
            Some(earlier) => earlier.merge(line),
            None => line,
        };
        records.insert(key, merged);
    }
    Ok(records)
}

/// Appends records to `metrics.jsonl` as they are computed: the run directory's appender
/// (`crucible_eval::run::Appender`: whole lines, synced at its cadence). Open it after
/// [`load_records`], which repairs a torn last line.
pub(crate) struct Appender(crucible_eval::run::Appender);

impl Appender {
    pub(crate) fn open(dir: &Path) -> Result<Appender> {
        Ok(Appender(crucible_eval::run::Appender::open(
            &dir.join(METRICS_FILE),
        )?))
    }

    pub(crate) fn append(&mut self, record: &MetricRecord) -> Result<()> {
        Ok(self.0.append(record)?)
    }
}

/// Rewrite `metrics.jsonl` with one line per record, atomically.
pub(crate) fn write_records(dir: &Path, records: &[MetricRecord]) -> Result<()> {
    let mut text = String::new();
    for record in records {
        text.push_str(&serde_json::to_string(record).expect("metric records serialise"));
        text.push('\n');
    }
    Ok(write_atomic(&dir.join(METRICS_FILE), &text)?)
}

/// Write `metrics.json`.
pub(crate) fn write_summary(dir: &Path, summary: &MetricsSummary) -> Result<()> {
    let mut text = serde_json::to_string_pretty(summary).expect("the metrics summary serialises");
    text.push('\n');
    Ok(write_atomic(&dir.join(METRICS_SUMMARY_FILE), &text)?)
}

/// `metrics.json` of `dir`, when there is one.
pub fn load_summary(dir: &Path) -> Result<Option<MetricsSummary>> {
    let path = dir.join(METRICS_SUMMARY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Io { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|err| Error::MalformedFile {
            path,
            message: err.to_string(),
        })
}

/// A run's summary read back from `summary.json`.
pub fn load_run_summary(dir: &Path) -> Result<Summary> {
    let path = dir.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|err| Error::MalformedFile {
        path,
        message: err.to_string(),
    })
}

/// What a run directory's metrics add to its outputs.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetricsView {
    /// For `summary.json`'s `metrics`.
    pub(crate) json: Option<serde_json::Value>,
    /// Lines for the terminal table.
    pub(crate) table: String,
    /// The report.html section.
    pub(crate) html: String,
}

/// The metrics of the run directory `dir`, as `summary.json`, the terminal and report.html
/// show them; empty when the run has none. `samples_in_run` is the run's judged samples.
pub(crate) fn view(dir: &Path, samples_in_run: usize) -> Result<MetricsView> {
    let Some(summary) = load_summary(dir)? else {
        return Ok(MetricsView::default());
    };
    let judged: Vec<(String, JudgeResult)> = match summary
        .report
        .metrics
        .contains(&crucible_metrics::Metric::Judge)
    {
        true => load_records(dir)?
            .into_values()
            .filter_map(|r| Some((format!("{}#{}", r.task_id, r.sample_idx), r.scores.judge?)))
            .collect(),
        false => Vec::new(),
    };
    let judged: Vec<(String, &JudgeResult)> = judged.iter().map(|(l, r)| (l.clone(), r)).collect();
    let mut table = render::table(&summary.report, samples_in_run);
    if let Some(model) = &summary.perplexity_model {
        table.push_str(&format!("perplexity under {model}\n"));
    }
    if let Some(model) = &summary.judge_model {
        table.push_str(&format!("judged by {model}\n"));
    }
    let mut html = render::html_section(&summary.report, samples_in_run, &judged);
    let models: Vec<String> = [
        summary
            .perplexity_model
            .as_ref()
            .map(|m| format!("perplexity under {m}")),
        summary
            .judge_model
            .as_ref()
            .map(|m| format!("judged by {m}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !models.is_empty() {
        let at = html.rfind("</section>").unwrap_or(html.len());
        html.insert_str(at, &format!("<p>{}</p>\n", escape(&models.join("; "))));
    }
    Ok(MetricsView {
        json: Some(serde_json::to_value(&summary).expect("the metrics summary serialises")),
        table,
        html,
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
