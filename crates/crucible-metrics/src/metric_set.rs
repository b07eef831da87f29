//! A run's chosen metrics over (prediction, references, language) samples and their verdicts: per-sample scores, corpus scores, correlation with the verdicts.
//!
//! This is the one entry point `crucible score --metric` and `crucible eval --metric` call:
//! the caller hands every sample (with its execution verdicts when there are some, and the
//! scores that need a model, computed by the caller: the reference's perplexity and the
//! judge's grades) and gets a [`MetricSetReport`] that serialises to JSON. Input is checked
//! before anything is computed: no samples, a sample without a reference, a language without a
//! grammar or without CodeBLEU rules are errors that name the sample and the fix.

use std::collections::BTreeMap;

use crucible_syntax::{SyntaxLanguage, SyntaxParser};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::bleu::{Bleu, BleuParams, BleuScore};
use crate::codebleu::{CodeBleu, CodeBleuParams, CodeBleuScore};
use crate::correlation;
use crate::judge::{JudgeResult, JudgeVerdict};
use crate::perplexity::Perplexity;
use crate::similarity::{self, EditSimilarity, IdentifierMatch};

/// A metric a run can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    /// Perplexity and mean token log-probability of the task's reference under a model.
    Perplexity,
    /// ICE-Score-style LLM judge: usefulness and functional correctness, 0-4.
    Judge,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 7] = [
        Metric::Bleu,
        Metric::CodeBleu,
        Metric::ExactMatch,
        Metric::EditSimilarity,
        Metric::IdentifierMatch,
        Metric::Perplexity,
        Metric::Judge,
    ];

    /// The name used in JSON (and accepted on the command line).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Bleu => "bleu",
            Metric::CodeBleu => "codebleu",
            Metric::ExactMatch => "exact_match",
            Metric::EditSimilarity => "edit_similarity",
            Metric::IdentifierMatch => "identifier_match",
            Metric::Perplexity => "perplexity",
            Metric::Judge => "judge",
        }
    }

    /// The short name also accepted on the command line.
    pub fn short_name(self) -> &'static str {
        match self {
            Metric::ExactMatch => "em",
            Metric::EditSimilarity => "es",
            Metric::IdentifierMatch => "idmatch",
            Metric::Perplexity => "ppl",
            other => other.name(),
        }
    }

    /// Whether computing it needs a model (the caller computes it and hands it in).
    pub fn needs_model(self) -> bool {
        matches!(self, Metric::Perplexity | Metric::Judge)
    }

    /// The metric called `name` (its name or short name; `-` and `_` interchangeable, any
    /// case).
    pub fn from_name(name: &str) -> Result<Metric, Error> {
        let wanted = name.trim().to_ascii_lowercase().replace('-', "_");
        Metric::ALL
            .into_iter()
            .find(|metric| metric.name() == wanted || metric.short_name() == wanted)
            .ok_or_else(|| Error::UnknownMetric {
                given: name.trim().to_string(),
                supported: Metric::ALL
                    .map(|metric| match metric.short_name() == metric.name() {
                        true => metric.name().to_string(),
                        false => format!("{} ({})", metric.short_name(), metric.name()),
                    })
                    .join(", "),
            })
    }

    /// A comma-separated list of metrics, deduplicated, in report order.
    pub fn parse_list(list: &str) -> Result<Vec<Metric>, Error> {
        let mut metrics = list
            .split(',')
            .map(Metric::from_name)
            .collect::<Result<Vec<_>, _>>()?;
        metrics.sort();
        metrics.dedup();
        Ok(metrics)
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
    /// The verdict with the extra tests too (EvalPlus "plus"), when there are some.
    pub passed_plus: Option<bool>,
    /// The perplexity of the sample's reference under a model, when computed.
    pub reference_perplexity: Option<Perplexity>,
    /// The judge's grades, when computed.
    pub judge: Option<&'a JudgeResult>,
}

impl<'a> Sample<'a> {
    /// A sample with no verdict and no model-computed score.
    pub fn new(prediction: &'a str, references: &'a [&'a str], language: &'a str) -> Sample<'a> {
        Sample {
            prediction,
            references,
            language,
            passed: None,
            passed_plus: None,
            reference_perplexity: None,
            judge: None,
        }
    }
}

/// The scores of one sample; a metric not asked for is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleScores {
    /// Sentence BLEU (0-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bleu: Option<f64>,
    /// CodeBLEU and its components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codebleu: Option<CodeBleuScore>,
    /// Exact match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_match: Option<bool>,
    /// Edit similarity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_similarity: Option<EditSimilarity>,
    /// Identifier match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_match: Option<IdentifierMatch>,
    /// Perplexity of the sample's reference (the same for every sample of a task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_perplexity: Option<Perplexity>,
    /// The judge's grades and reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeResult>,
}

/// Corpus-level scores of one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusScores {
    /// The language.
    pub language: String,
    /// Samples of this language.
    pub samples: usize,
    /// Corpus BLEU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bleu: Option<BleuScore>,
    /// Corpus CodeBLEU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codebleu: Option<CodeBleuScore>,
    /// Share of exact matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_match: Option<f64>,
    /// Mean fuzz-ratio edit similarity (0-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_similarity: Option<f64>,
    /// Mean normalised-Levenshtein edit similarity (0-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_similarity_levenshtein: Option<f64>,
    /// Mean identifier F1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_f1: Option<f64>,
    /// Perplexity over the samples' references, token-weighted: `exp(-Σ logprob / Σ tokens)`
    /// (each sample counts its task's reference once, so tasks weigh by their samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_perplexity: Option<Perplexity>,
    /// The judge's mean grades and how many answers had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeCorpus>,
}

/// The judge's grades over a corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeCorpus {
    /// Mean usefulness (0-4) over the samples it graded.
    pub usefulness: Option<f64>,
    /// Mean functional correctness (0-4) over the samples it graded.
    pub functional_correctness: Option<f64>,
    /// Grades given (both aspects counted).
    pub scored: usize,
    /// Of those, grades asked for after an answer that gave none.
    #[serde(default)]
    pub asked: usize,
    /// Answers with no readable grade.
    pub unparsed: usize,
    /// Requests the backend failed.
    pub failed: usize,
}

/// How well one per-sample score predicts the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricCorrelation {
    /// The score (e.g. `codebleu`, `edit_similarity`).
    pub score: String,
    /// Samples with both the score and a verdict.
    pub samples: usize,
    /// Of those, how many passed.
    pub passed: usize,
    /// Point-biserial r, when defined.
    pub point_biserial: Option<f64>,
    /// AUROC, when defined.
    pub auroc: Option<f64>,
    /// Why a statistic is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undefined: Option<String>,
}

/// How often the judge's functional-correctness grade agrees with execution: a grade at or
/// above `threshold` counts as "the judge says it passes".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeAgreement {
    /// The grade from which the judge counts as saying "correct".
    pub threshold: f64,
    /// Samples with a verdict and a functional-correctness grade.
    pub samples: usize,
    /// Samples with a verdict but no grade (unparsed answer or failed request).
    pub ungraded: usize,
    /// Judge says correct, execution passed.
    pub true_positive: usize,
    /// Judge says correct, execution failed.
    pub false_positive: usize,
    /// Judge says wrong, execution failed.
    pub true_negative: usize,
    /// Judge says wrong, execution passed.
    pub false_negative: usize,
    /// Share of samples where the two agree.
    pub accuracy: Option<f64>,
    /// Cohen's kappa: agreement beyond what the two rates give by chance (undefined when
    /// either side says the same for every sample).
    pub cohen_kappa: Option<f64>,
}

/// Everything a metric run produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSetReport {
    /// The metrics computed.
    pub metrics: Vec<Metric>,
    /// BLEU parameters, with the signature in each score.
    pub bleu_params: BleuParams,
    /// CodeBLEU parameters.
    pub codebleu_params: CodeBleuParams,
    /// One entry per sample, in input order (left out of a summary that keeps them
    /// elsewhere: then empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<SampleScores>,
    /// One entry per language, in name order.
    pub corpus: Vec<CorpusScores>,
    /// One entry per per-sample score, over the samples with a verdict.
    pub correlations: Vec<MetricCorrelation>,
    /// The same against the verdict with the extra tests, when samples have one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub correlations_plus: Vec<MetricCorrelation>,
    /// The judge against execution, when the judge was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_agreement: Option<JudgeAgreement>,
}

/// The metrics of a run and their parameters.
#[derive(Debug, Clone)]
pub struct MetricSet {
    metrics: Vec<Metric>,
    bleu_params: BleuParams,
    codebleu_params: CodeBleuParams,
}

/// The functional-correctness grade from which the judge counts as saying "correct": 3 is
/// "right for common inputs, wrong for some edge cases" on the 0-4 scale.
pub const JUDGE_PASS_THRESHOLD: f64 = 3.0;

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

    /// The metrics asked for.
    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
    }

    fn wants(&self, metric: Metric) -> bool {
        self.metrics.contains(&metric)
    }

    /// Check the samples without scoring them: each has a reference, and a language every
    /// metric asked for has rules for. Returns the samples' languages.
    pub fn check(&self, samples: &[Sample<'_>]) -> Result<Vec<SyntaxLanguage>, Error> {
        if samples.is_empty() {
            return Err(Error::EmptyCorpus);
        }
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
            languages.push(self.check_language(sample.language)?);
        }
        Ok(languages)
    }

    /// The language called `name`, if it has a grammar and every metric asked for has rules
    /// for it; else an error listing the languages that do.
    pub fn check_language(&self, name: &str) -> Result<SyntaxLanguage, Error> {
        let language = SyntaxLanguage::from_name(name)?;
        if self.wants(Metric::CodeBleu) && !CodeBleu::LANGUAGES.contains(&language) {
            return Err(Error::UnsupportedLanguage {
                metric: "codebleu",
                language: language.name().to_string(),
                supported: CodeBleu::LANGUAGES.map(SyntaxLanguage::name).join(", "),
            });
        }
        Ok(language)
    }

    /// Score every sample; see the module docs for what is checked first.
    pub fn score(&self, samples: &[Sample<'_>]) -> Result<MetricSetReport, Error> {
        let languages = self.check(samples)?;
        let mut by_language: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, language) in languages.iter().enumerate() {
            by_language.entry(language.name()).or_default().push(index);
        }
        let mut scores = vec![SampleScores::default(); samples.len()];
        let mut corpus = Vec::new();
        let mut parser = SyntaxParser::new();
        for indices in by_language.values() {
            let language = languages[indices[0]];
            corpus.push(self.score_language(
                samples,
                indices,
                language,
                &mut parser,
                &mut scores,
            )?);
        }
        let correlations_plus = match samples.iter().any(|s| s.passed_plus.is_some()) {
            true => correlations(samples, &scores, |sample| sample.passed_plus),
            false => Vec::new(),
        };
        let correlations = correlations(samples, &scores, |sample| sample.passed);
        let judge_agreement = self
            .wants(Metric::Judge)
            .then(|| judge_agreement(samples, &scores));
        Ok(MetricSetReport {
            metrics: self.metrics.clone(),
            bleu_params: self.bleu_params,
            codebleu_params: self.codebleu_params,
            samples: scores,
            corpus,
            correlations,
            correlations_plus,
            judge_agreement,
        })
    }

    /// The samples of one language (`indices`): their scores into `scores`, and the corpus
    /// scores.
    fn score_language(
        &self,
        samples: &[Sample<'_>],
        indices: &[usize],
        language: SyntaxLanguage,
        parser: &mut SyntaxParser,
        scores: &mut [SampleScores],
    ) -> Result<CorpusScores, Error> {
        let predictions: Vec<&str> = indices.iter().map(|i| samples[*i].prediction).collect();
        let references: Vec<Vec<&str>> = indices
            .iter()
            .map(|i| samples[*i].references.to_vec())
            .collect();
        let corpus_codebleu = match self.wants(Metric::CodeBleu) {
            true => {
                let mut scorer = CodeBleu::new(language, self.codebleu_params)?;
                let (each, corpus) = scorer.score_each(&predictions, &references)?;
                for (index, score) in indices.iter().zip(each) {
                    scores[*index].codebleu = Some(score);
                }
                Some(corpus)
            }
            false => None,
        };
        let bleu = Bleu::new(self.bleu_params);
        for index in indices {
            let sample = &samples[*index];
            let reference = sample.references[0];
            let score = &mut scores[*index];
            if self.wants(Metric::Bleu) {
                score.bleu = Some(bleu.sentence(sample.prediction, sample.references)?.score);
            }
            if self.wants(Metric::ExactMatch) {
                score.exact_match = Some(similarity::exact_match(
                    parser,
                    language,
                    sample.prediction,
                    reference,
                )?);
            }
            if self.wants(Metric::EditSimilarity) {
                score.edit_similarity =
                    Some(similarity::edit_similarity(sample.prediction, reference));
            }
            if self.wants(Metric::IdentifierMatch) {
                score.identifier_match = Some(similarity::identifier_match(
                    language,
                    sample.prediction,
                    reference,
                ));
            }
            if self.wants(Metric::Perplexity) {
                score.reference_perplexity = sample.reference_perplexity;
            }
            if self.wants(Metric::Judge) {
                score.judge = sample.judge.cloned();
            }
        }
        let corpus_bleu = Bleu::new(BleuParams {
            effective_order: false,
            ..self.bleu_params
        });
        let mean = |value: &dyn Fn(&SampleScores) -> Option<f64>| -> Option<f64> {
            mean(indices.iter().filter_map(|i| value(&scores[*i])))
        };
        Ok(CorpusScores {
            language: language.name().to_string(),
            samples: indices.len(),
            bleu: match self.wants(Metric::Bleu) {
                true => Some(corpus_bleu.corpus(&predictions, &references)?),
                false => None,
            },
            codebleu: corpus_codebleu,
            exact_match: mean(&|s| s.exact_match.map(|em| f64::from(u8::from(em)))),
            edit_similarity: mean(&|s| s.edit_similarity.map(|es| es.fuzz_ratio)),
            edit_similarity_levenshtein: mean(&|s| s.edit_similarity.map(|es| es.levenshtein)),
            identifier_f1: mean(&|s| s.identifier_match.as_ref().map(|id| id.f1)),
            reference_perplexity: corpus_perplexity(
                indices
                    .iter()
                    .filter_map(|i| scores[*i].reference_perplexity),
            ),
            judge: self
                .wants(Metric::Judge)
                .then(|| judge_corpus(indices.iter().filter_map(|i| scores[*i].judge.as_ref()))),
        })
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(sum, count), v| (sum + v, count + 1));
    (count > 0).then(|| sum / count as f64)
}

/// Token-weighted perplexity of several texts' scores.
fn corpus_perplexity(scores: impl Iterator<Item = Perplexity>) -> Option<Perplexity> {
    let (logprob, tokens) = scores.fold((0.0, 0usize), |(logprob, tokens), p| {
        (
            logprob + p.mean_logprob * p.tokens as f64,
            tokens + p.tokens,
        )
    });
    (tokens > 0).then(|| {
        let mean_logprob = logprob / tokens as f64;
        Perplexity {
            tokens,
            mean_logprob,
            perplexity: (-mean_logprob).exp(),
        }
    })
}

fn judge_corpus<'a>(results: impl Iterator<Item = &'a JudgeResult>) -> JudgeCorpus {
    let results: Vec<&JudgeResult> = results.collect();
    let verdicts = || {
        results
            .iter()
            .flat_map(|r| [&r.usefulness, &r.functional_correctness])
    };
    let count = |wanted: fn(&JudgeVerdict) -> bool| verdicts().filter(|v| wanted(v)).count();
    JudgeCorpus {
        usefulness: mean(results.iter().filter_map(|r| r.usefulness.score())),
        functional_correctness: mean(
            results
                .iter()
                .filter_map(|r| r.functional_correctness.score()),
        ),
        scored: count(|v| matches!(v, JudgeVerdict::Scored { .. })),
        asked: count(|v| matches!(v, JudgeVerdict::Scored { asked: true, .. })),
        unparsed: count(|v| matches!(v, JudgeVerdict::Unparsed { .. })),
        failed: count(|v| matches!(v, JudgeVerdict::Failed { .. })),
    }
}

type Getter = fn(&SampleScores) -> Option<f64>;

/// The per-sample scores correlated with the verdicts, by name.
const SCORES: [(&str, Getter); 13] = [
    ("bleu", |s| s.bleu),
    ("codebleu", |s| s.codebleu.as_ref().map(|c| c.codebleu)),
    ("codebleu_ngram", |s| {
        s.codebleu.as_ref().map(|c| c.ngram_match)
    }),
    ("codebleu_weighted_ngram", |s| {
        s.codebleu.as_ref().map(|c| c.weighted_ngram_match)
    }),
    ("codebleu_syntax", |s| {
        s.codebleu.as_ref().map(|c| c.syntax_match)
    }),
    ("codebleu_dataflow", |s| {
        s.codebleu.as_ref().map(|c| c.dataflow_match)
    }),
    ("exact_match", |s| {
        s.exact_match.map(|em| f64::from(u8::from(em)))
    }),
    ("edit_similarity", |s| {
        s.edit_similarity.map(|es| es.fuzz_ratio)
    }),
    ("edit_similarity_levenshtein", |s| {
        s.edit_similarity.map(|es| es.levenshtein)
    }),
    ("identifier_f1", |s| {
        s.identifier_match.as_ref().map(|id| id.f1)
    }),
    ("reference_logprob", |s| {
        s.reference_perplexity.map(|p| p.mean_logprob)
    }),
    ("judge_usefulness", |s| {
        s.judge.as_ref().and_then(|j| j.usefulness.score())
    }),
    ("judge_functional_correctness", |s| {
        s.judge
            .as_ref()
            .and_then(|j| j.functional_correctness.score())
    }),
];

/// Point-biserial r and AUROC of every per-sample score against the verdicts (`verdict` of
/// each sample).
fn correlations(
    samples: &[Sample<'_>],
    scores: &[SampleScores],
    verdict: fn(&Sample<'_>) -> Option<bool>,
) -> Vec<MetricCorrelation> {
    let mut out = Vec::new();
    for (name, get) in SCORES {
        if scores.iter().all(|score| get(score).is_none()) {
            continue; // not asked for, or never given
        }
        let mut values = Vec::new();
        let mut passed = Vec::new();
        for (sample, score) in samples.iter().zip(scores) {
            if let (Some(value), Some(verdict)) = (get(score), verdict(sample)) {
                values.push(value);
                passed.push(verdict);
            }
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
            passed: passed.iter().filter(|p| **p).count(),
            point_biserial: point_biserial.ok(),
            auroc: auroc.ok(),
            undefined,
        });
    }
    out
}

fn judge_agreement(samples: &[Sample<'_>], scores: &[SampleScores]) -> JudgeAgreement {
    let mut agreement = JudgeAgreement {
        threshold: JUDGE_PASS_THRESHOLD,
        samples: 0,
        ungraded: 0,
        true_positive: 0,
        false_positive: 0,
        true_negative: 0,
        false_negative: 0,
        accuracy: None,
        cohen_kappa: None,
    };
    for (sample, score) in samples.iter().zip(scores) {
        let Some(passed) = sample.passed else {
            continue;
        };
        let grade = score
            .judge
            .as_ref()
            .and_then(|judge| judge.functional_correctness.score());
        let Some(grade) = grade else {
            agreement.ungraded += 1;
            continue;
        };
        agreement.samples += 1;
        match (grade >= JUDGE_PASS_THRESHOLD, passed) {
            (true, true) => agreement.true_positive += 1,
            (true, false) => agreement.false_positive += 1,
            (false, false) => agreement.true_negative += 1,
            (false, true) => agreement.false_negative += 1,
        }
    }
    let n = agreement.samples as f64;
    if agreement.samples > 0 {
        let agree = (agreement.true_positive + agreement.true_negative) as f64 / n;
        let judge_yes = (agreement.true_positive + agreement.false_positive) as f64 / n;
        let exec_yes = (agreement.true_positive + agreement.false_negative) as f64 / n;
        let chance = judge_yes * exec_yes + (1.0 - judge_yes) * (1.0 - exec_yes);
        agreement.accuracy = Some(agree);
        agreement.cohen_kappa = (chance < 1.0).then(|| (agree - chance) / (1.0 - chance));
    }
    agreement
}

#[cfg(test)]
mod tests;
