//! Similarity and judge metrics for code, checked against the reference implementations, and how well each predicts correctness.
//!
//! - [`bleu`]: BLEU as sacrebleu computes it (corpus and sentence level, 13a or no
//!   tokenisation, exp/floor/add-k/no smoothing, with a signature naming them), and
//!   CodeXGLUE's smoothed sentence BLEU.
//! - [`codebleu`]: CodeBLEU with its four components for Python, C, C++, Java, JavaScript, Go,
//!   Rust, C# and PHP, agreeing with the `codebleu` package (or with the paper where the
//!   package departs from it).
//! - [`similarity`]: exact match on comment-stripped lines, edit similarity (normalised
//!   Levenshtein and fuzzywuzzy's ratio), identifier match as CrossCodeEval defines it.
//! - [`correlation`]: point-biserial correlation, AUROC and Kendall's tau-b, to measure which
//!   metric predicts the execution verdict.
//! - [`judge`]: LLM-as-a-judge (ICE-Score style) over any [`crucible_infer::Generator`].
//! - [`perplexity`]: perplexity and mean log-probability from per-token log-probabilities.
//! - [`MetricSet`]: the metrics chosen for a run over (prediction, reference, language)
//!   samples and their verdicts, with per-sample and corpus scores, correlations with the
//!   verdicts and the judge's agreement with execution (serialisable).
//! - [`render`]: the terminal table and the report.html section (inline SVG plot) of a
//!   [`MetricSetReport`], and of several runs compared.
//!
//! The reference implementations, their pinned versions and the vectors derived from them
//! live under `bench/metrics/`; the tests compare against those vectors.

#![warn(missing_docs)]

pub mod bleu;
pub mod codebleu;
pub mod comparison;
pub mod correlation;
pub mod judge;
mod metric_set;
pub mod perplexity;
mod pytext;
pub mod render;
pub mod similarity;

pub use metric_set::{
    CorpusScores, JUDGE_PASS_THRESHOLD, JudgeAgreement, JudgeCorpus, Metric, MetricCorrelation,
    MetricSet, MetricSetReport, Sample, SampleScores,
};

/// What can go wrong computing a metric.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A metric asked for a language it has no rules for.
    #[error("{metric} has no rules for language `{language}`; supported: {supported}")]
    UnsupportedLanguage {
        /// The metric.
        metric: &'static str,
        /// The language asked for.
        language: String,
        /// The languages it supports, comma-separated.
        supported: String,
    },
    /// A language name no grammar knows.
    #[error(transparent)]
    Syntax(#[from] crucible_syntax::Error),
    /// Predictions and references of different lengths.
    #[error(
        "{predictions} predictions but {references} references; give one reference (or list of references) per prediction"
    )]
    CountMismatch {
        /// Number of predictions.
        predictions: usize,
        /// Number of references.
        references: usize,
    },
    /// A metric name no metric has.
    #[error("unknown metric `{given}`; supported: {supported}")]
    UnknownMetric {
        /// The name given.
        given: String,
        /// The metric names, comma-separated.
        supported: String,
    },
    /// Nothing to score.
    #[error("no samples to score; give at least one prediction with its reference")]
    EmptyCorpus,
    /// A prediction without a reference (an empty reference list or an empty reference).
    #[error("{} has no reference; every prediction needs a non-empty reference", match index { Some(index) => format!("sample {index}"), None => "a prediction".to_string() })]
    MissingReference {
        /// The sample, when known.
        index: Option<usize>,
    },
    /// Weights that are negative or not numbers.
    #[error("weights must be finite and non-negative, got {weights:?}")]
    BadWeights {
        /// The weights given.
        weights: Vec<f64>,
    },
    /// A correlation over too few or degenerate values.
    #[error("cannot compute {statistic}: {reason}")]
    Degenerate {
        /// The statistic.
        statistic: &'static str,
        /// Why (e.g. all verdicts equal).
        reason: String,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn check_corpus(predictions: usize, references: usize) -> Result<()> {
    if predictions != references {
        return Err(Error::CountMismatch {
            predictions,
            references,
        });
    }
    if predictions == 0 {
        return Err(Error::EmptyCorpus);
    }
    Ok(())
}
