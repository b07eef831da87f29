//! A run's chosen metrics over (prediction, references, language) samples and their verdicts: per-sample scores, corpus scores, correlation with the verdicts.
//!
//! This is the one entry point `crucible score --metric` and `crucible eval --metric` are meant
//! to call: the caller hands every sample (with its execution verdict when there is one) and
//! gets a [`MetricSetReport`] that serialises to JSON. Input is checked before anything is
//! computed: no samples, a sample without a reference, a language without a grammar or
//! without CodeBLEU rules are errors that name the sample and the fix.

use std::collections::BTreeMap;

use crucible_syntax::{SyntaxLanguage, SyntaxParser};
use serde::Serialize;

use crate::Error;
use crate::bleu::{Bleu, BleuParams, BleuScore};
use crate::codebleu::{CodeBleu, CodeBleuParams, CodeBleuScore};
use crate::correlation;
use crate::similarity::{self, EditSimilarity, IdentifierMatch};

/// A metric a run can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// sacrebleu BLEU (sentence level per sample, corpus level per language).
    Bleu,
    /// CodeBLEU (per sample, and corpus level per language).
    CodeBleu,
    /// Exact match of comment-stripped lines.
    ExactMatch,
    /// Edit similarity (fuzz ratio, printed; and normalised Levenshtein).
    EditSimilarity,
    /// CrossCodeEval identifier match.
    IdentifierMatch,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 5] = [
        Metric::Bleu,
        Metric::CodeBleu,
        Metric::ExactMatch,
        Metric::EditSimilarity,
        Metric::IdentifierMatch,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Bleu => "bleu",
            Metric::CodeBleu => "codebleu",
            Metric::ExactMatch => "exact_match",
            Metric::EditSimilarity => "edit_similarity",
            Metric::IdentifierMatch => "identifier_match",
        }
    }

    /// The metric called `name` (`-` and `_` interchangeable, any case).
    pub fn from_name(name: &str) -> Result<Metric, Error> {
        let wanted = name.trim().to_ascii_lowercase().replace('-', "_");
        Metric::ALL
            .into_iter()
            .find(|metric| metric.name() == wanted)
            .ok_or_else(|| Error::UnknownMetric {
                given: name.to_string(),
                supported: Metric::ALL.map(Metric::name).join(", "),
            })
    }
}

/// One sample to score.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// What the model wrote.
    pub prediction: &'a str,
    /// One or more reference solutions.
    pub references: &'a [&'a str],
    /// The language's name (any name or alias crucible-syntax accepts).
    pub language: &'a str,
    /// The execution verdict (passed every hidden test), when known.
    pub passed: Option<bool>,
}

/// The scores of one sample; a metric not asked for is absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleScores {
    /// Sentence BLEU (0-100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bleu: Option<f64>,
    /// CodeBLEU and its components.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codebleu: Option<CodeBleuScore>,
    /// Exact match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_match: Option<bool>,
    /// Edit similarity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit_similarity: Option<EditSimilarity>,
    /// Identifier match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier_match: Option<IdentifierMatch>,
}

/// Corpus-level scores of one language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorpusScores {
    /// The language.
    pub language: String,
    /// Samples of this language.
    pub samples: usize,
    /// Corpus BLEU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bleu: Option<BleuScore>,
    /// Corpus CodeBLEU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codebleu: Option<CodeBleuScore>,
    /// Share of exact matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_match: Option<f64>,
    /// Mean fuzz-ratio edit similarity (0-100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit_similarity: Option<f64>,
    /// Mean identifier F1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier_f1: Option<f64>,
}

/// How well one per-sample score predicts the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricCorrelation {
    /// The score (e.g. `codebleu`, `edit_similarity`).
    pub score: String,
    /// Samples with a verdict.
    pub samples: usize,
    /// Point-biserial r, when defined.
    pub point_biserial: Option<f64>,
    /// AUROC, when defined.
    pub auroc: Option<f64>,
    /// Why a statistic is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undefined: Option<String>,
}

/// Everything a metric run produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSetReport {
    /// The metrics computed.
    pub metrics: Vec<Metric>,
    /// BLEU parameters, with the signature in each score.
    pub bleu_params: BleuParams,
    /// CodeBLEU parameters.
    pub codebleu_params: CodeBleuParams,
    /// One entry per sample, in input order.
    pub samples: Vec<SampleScores>,
    /// One entry per language, in name order.
    pub corpus: Vec<CorpusScores>,
    /// One entry per per-sample score, over the samples with a verdict.
    pub correlations: Vec<MetricCorrelation>,
}

/// The metrics of a run and their parameters.
#[derive(Debug, Clone)]
pub struct MetricSet {
    metrics: Vec<Metric>,
    bleu_params: BleuParams,
    codebleu_params: CodeBleuParams,
}

impl MetricSet {
    /// The given metrics (deduplicated, in report order) with sacrebleu's sentence defaults
    /// and the paper's CodeBLEU.
    pub fn new(metrics: &[Metric]) -> MetricSet {
        let mut metrics = metrics.to_vec();
        metrics.sort();
        metrics.dedup();
        MetricSet {
            metrics,
            bleu_params: BleuParams::sentence(),
            codebleu_params: CodeBleuParams::paper(),
        }
    }

    /// Use other BLEU parameters.
    pub fn with_bleu(mut self, params: BleuParams) -> MetricSet {
        self.bleu_params = params;
        self
    }

    /// Use other CodeBLEU parameters.
    pub fn with_codebleu(mut self, params: CodeBleuParams) -> MetricSet {
        self.codebleu_params = params;
        self
    }

    fn wants(&self, metric: Metric) -> bool {
        self.metrics.contains(&metric)
    }

    /// Score every sample; see the module docs for what is checked first.
    pub fn score(&self, samples: &[Sample<'_>]) -> Result<MetricSetReport, Error> {
        if samples.is_empty() {
            return Err(Error::EmptyCorpus);
        }
        let languages = self.check(samples)?;
        let mut parser = SyntaxParser::new();
        let mut codebleu: BTreeMap<SyntaxLanguage, CodeBleu> = BTreeMap::new();
        if self.wants(Metric::CodeBleu) {
            for language in &languages {
                codebleu.insert(*language, CodeBleu::new(*language, self.codebleu_params)?);
            }
        }
        let bleu = Bleu::new(self.bleu_params);
        let mut scores = Vec::with_capacity(samples.len());
        for (sample, language) in samples.iter().zip(&languages) {
            let reference = sample.references[0];
            scores.push(SampleScores {
                bleu: match self.wants(Metric::Bleu) {
                    true => Some(bleu.sentence(sample.prediction, sample.references)?.score),
                    false => None,
                },
                codebleu: match codebleu.get_mut(language) {
                    Some(scorer) => Some(
                        scorer.score_corpus(&[sample.prediction], &[sample.references.to_vec()])?,
                    ),
                    None => None,
                },
                exact_match: match self.wants(Metric::ExactMatch) {
                    true => Some(similarity::exact_match(
                        &mut parser,
                        *language,
                        sample.prediction,
                        reference,
                    )?),
                    false => None,
                },
                edit_similarity: self
                    .wants(Metric::EditSimilarity)
                    .then(|| similarity::edit_similarity(sample.prediction, reference)),
                identifier_match: self
                    .wants(Metric::IdentifierMatch)
                    .then(|| similarity::identifier_match(*language, sample.prediction, reference)),
            });
        }
        let corpus = self.corpus(samples, &languages, &scores, &mut codebleu)?;
        let correlations = correlations(samples, &scores);
        Ok(MetricSetReport {
            metrics: self.metrics.clone(),
            bleu_params: self.bleu_params,
            codebleu_params: self.codebleu_params,
            samples: scores,
            corpus,
            correlations,
        })
    }

    /// Every sample's language, or the first problem found.
    fn check(&self, samples: &[Sample<'_>]) -> Result<Vec<SyntaxLanguage>, Error> {
        let mut languages = Vec::with_capacity(samples.len());
        for (index, sample) in samples.iter().enumerate() {
            let no_reference = sample.references.is_empty()
                || sample
                    .references
                    .iter()
                    .all(|reference| reference.trim().is_empty());
            if no_reference {
                return Err(Error::MissingReference { index: Some(index) });
            }
            let language = SyntaxLanguage::from_name(sample.language)?;
            if self.wants(Metric::CodeBleu) && !CodeBleu::LANGUAGES.contains(&language) {
                return Err(Error::UnsupportedLanguage {
                    metric: "codebleu",
                    language: language.name().to_string(),
                    supported: CodeBleu::LANGUAGES.map(SyntaxLanguage::name).join(", "),
                });
            }
            languages.push(language);
        }
        Ok(languages)
    }

    fn corpus(
        &self,
        samples: &[Sample<'_>],
        languages: &[SyntaxLanguage],
        scores: &[SampleScores],
        codebleu: &mut BTreeMap<SyntaxLanguage, CodeBleu>,
    ) -> Result<Vec<CorpusScores>, Error> {
        let mut by_language: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, language) in languages.iter().enumerate() {
            by_language.entry(language.name()).or_default().push(index);
        }
        let corpus_bleu = Bleu::new(BleuParams {
            effective_order: false,
            ..self.bleu_params
        });
        let mut out = Vec::new();
        for (name, indices) in by_language {
            let language = languages[indices[0]];
            let predictions: Vec<&str> = indices.iter().map(|i| samples[*i].prediction).collect();
            let references: Vec<Vec<&str>> = indices
                .iter()
                .map(|i| samples[*i].references.to_vec())
                .collect();
            let mean = |value: &dyn Fn(&SampleScores) -> Option<f64>| -> Option<f64> {
                let values: Vec<f64> = indices.iter().filter_map(|i| value(&scores[*i])).collect();
                (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
            };
            out.push(CorpusScores {
                language: name.to_string(),
                samples: indices.len(),
                bleu: match self.wants(Metric::Bleu) {
                    true => Some(corpus_bleu.corpus(&predictions, &references)?),
                    false => None,
                },
                codebleu: match codebleu.get_mut(&language) {
                    Some(scorer) => Some(scorer.score_corpus(&predictions, &references)?),
                    None => None,
                },
                exact_match: mean(&|s| s.exact_match.map(|em| f64::from(u8::from(em)))),
                edit_similarity: mean(&|s| s.edit_similarity.map(|es| es.fuzz_ratio)),
                identifier_f1: mean(&|s| s.identifier_match.as_ref().map(|id| id.f1)),
            });
        }
        Ok(out)
    }
}

/// Point-biserial r and AUROC of every per-sample score against the verdicts.
fn correlations(samples: &[Sample<'_>], scores: &[SampleScores]) -> Vec<MetricCorrelation> {
    type Getter = fn(&SampleScores) -> Option<f64>;
    let getters: [(&str, Getter); 5] = [
        ("bleu", |s| s.bleu),
        ("codebleu", |s| s.codebleu.as_ref().map(|c| c.codebleu)),
        ("exact_match", |s| {
            s.exact_match.map(|em| f64::from(u8::from(em)))
        }),
        ("edit_similarity", |s| {
            s.edit_similarity.map(|es| es.fuzz_ratio)
        }),
        ("identifier_f1", |s| {
            s.identifier_match.as_ref().map(|id| id.f1)
        }),
    ];
    let mut out = Vec::new();
    for (name, get) in getters {
        let mut values = Vec::new();
        let mut passed = Vec::new();
        for (sample, score) in samples.iter().zip(scores) {
            if let (Some(value), Some(verdict)) = (get(score), sample.passed) {
                values.push(value);
                passed.push(verdict);
            }
        }
        if values.is_empty() && scores.iter().all(|score| get(score).is_none()) {
            continue; // metric not asked for
        }
        let point_biserial = correlation::point_biserial(&values, &passed);
        let auroc = correlation::auroc(&values, &passed);
        let undefined = match (&point_biserial, &auroc) {
            (Err(err), _) | (_, Err(err)) => Some(err.to_string()),
            _ => None,
        };
        out.push(MetricCorrelation {
            score: name.to_string(),
            samples: values.len(),
            point_biserial: point_biserial.ok(),
            auroc: auroc.ok(),
            undefined,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(
        prediction: &'a str,
        references: &'a [&'a str],
        language: &'a str,
        passed: bool,
    ) -> Sample<'a> {
        Sample {
            prediction,
            references,
            language,
            passed: Some(passed),
        }
    }

    #[test]
    fn scores_samples_corpus_and_correlations() {
        let reference = ["def add(a, b):\n    return a + b\n"];
        let samples = [
            sample(
                "def add(a, b):\n    return a + b\n",
                &reference,
                "python",
                true,
            ),
            sample("def add(x, y):\n    return x + y\n", &reference, "py", true),
            sample(
                "def add(a, b):\n    return a - b\n",
                &reference,
                "python",
                false,
            ),
            sample("", &reference, "python", false),
        ];
        let report = MetricSet::new(&Metric::ALL).score(&samples).unwrap();
        assert_eq!(report.samples.len(), 4);
        assert_eq!(report.samples[0].exact_match, Some(true));
        assert_eq!(report.samples[3].exact_match, Some(false));
        assert_eq!(report.corpus.len(), 1);
        assert_eq!(report.corpus[0].language, "python");
        assert_eq!(report.correlations.len(), 5);
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["samples"][0]["codebleu"]["codebleu"].as_f64().unwrap() > 0.99);
        assert!(
            json["corpus"][0]["bleu"]["signature"]
                .as_str()
                .unwrap()
                .contains("tok:13a")
        );
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let set = MetricSet::new(&[Metric::CodeBleu]);
        assert!(matches!(set.score(&[]), Err(Error::EmptyCorpus)));
        let err = set.score(&[sample("x", &[], "python", true)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sample 0 has no reference; every prediction needs a non-empty reference"
        );
        let err = set
            .score(&[sample("x", &["y"], "cobol", true)])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("no grammar for language `cobol`; supported: python"),
            "{err}"
        );
        let err = set.score(&[sample("x", &["y"], "ts", true)]).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "codebleu has no rules for language `typescript`; supported: python, c"
            ),
            "{err}"
        );
        // TypeScript is fine for metrics that need no CodeBLEU rules.
        let report = MetricSet::new(&[Metric::ExactMatch])
            .score(&[sample("let x = 1;", &["let x = 1; // one"], "ts", true)])
            .unwrap();
        assert_eq!(report.samples[0].exact_match, Some(true));
        let err = Metric::from_name("rouge").unwrap_err();
        assert!(
            err.to_string().contains("supported: bleu, codebleu"),
            "{err}"
        );
    }
}
