//! Several runs compared: does a metric rank models or strategies as their pass rates do (Kendall's tau-b across runs)?
//!
//! Each run contributes its pass rate and its corpus scores ([`RunScores::from_report`]);
//! for every score that all runs have, Kendall's tau-b between the score and the pass rate
//! over the runs says how often the score orders two runs as execution does (1: always, -1:
//! always the other way, 0: no better than chance). Perplexity enters as the references' mean
//! log-probability, so that for every score higher is meant to be better. Runs of different
//! benchmarks differ in difficulty as well as in model, so the tau is also given within each
//! benchmark that has at least [`MIN_RUNS`] runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::correlation;
use crate::metric_set::MetricSetReport;

/// Fewest runs a tau is computed over (with two, tau-b is always -1 or 1).
pub const MIN_RUNS: usize = 3;

/// One run's headline numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunScores {
    /// How the run is named in tables (e.g. its directory).
    pub name: String,
    /// The benchmark (and language) runs are grouped by.
    pub benchmark: String,
    /// pass@1 (share of samples passing), 0-1.
    pub pass_rate: f64,
    /// Samples scored.
    pub samples: usize,
    /// Corpus value of each score, by name (the names of [`corpus_values`]).
    pub scores: BTreeMap<String, f64>,
    /// AUROC of each per-sample score against the verdicts within the run, by name.
    pub auroc: BTreeMap<String, f64>,
}

/// Kendall's tau-b of one score against the pass rate over a set of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankAgreement {
    /// The score.
    pub score: String,
    /// The runs' group: `all`, or a benchmark.
    pub group: String,
    /// Runs compared.
    pub runs: usize,
    /// Tau-b, when defined.
    pub kendall_tau: Option<f64>,
    /// Why it is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undefined: Option<String>,
}

/// Runs side by side and how each score ranks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The runs, in the order given.
    pub runs: Vec<RunScores>,
    /// One entry per score and group.
    pub agreement: Vec<RankAgreement>,
}

impl RunScores {
    /// A run's numbers from its metric report. A run of several languages has no single
    /// corpus value per score and is refused by the caller; here the first language's corpus
    /// is used.
    pub fn from_report(
        name: &str,
        benchmark: &str,
        pass_rate: f64,
        report: &MetricSetReport,
    ) -> RunScores {
        RunScores {
            name: name.to_string(),
            benchmark: benchmark.to_string(),
            pass_rate,
            samples: report.corpus.iter().map(|c| c.samples).sum(),
            scores: corpus_values(report),
            auroc: report
                .correlations
                .iter()
                .filter_map(|c| Some((c.score.clone(), c.auroc?)))
                .collect(),
        }
    }
}

/// The corpus values a run is compared by: corpus BLEU and CodeBLEU (and its parts), mean
/// exact match, edit similarities and identifier F1, the references' mean log-probability,
/// the judge's mean grades.
pub fn corpus_values(report: &MetricSetReport) -> BTreeMap<String, f64> {
    let mut values = BTreeMap::new();
    let Some(corpus) = report.corpus.first() else {
        return values;
    };
    let mut put = |name: &str, value: Option<f64>| {
        if let Some(value) = value {
            values.insert(name.to_string(), value);
        }
    };
    put("bleu", corpus.bleu.as_ref().map(|b| b.score));
    put("codebleu", corpus.codebleu.as_ref().map(|c| c.codebleu));
    put(
        "codebleu_syntax",
        corpus.codebleu.as_ref().map(|c| c.syntax_match),
    );
    put(
        "codebleu_dataflow",
        corpus.codebleu.as_ref().map(|c| c.dataflow_match),
    );
    put("exact_match", corpus.exact_match);
    put("edit_similarity", corpus.edit_similarity);
    put(
        "edit_similarity_levenshtein",
        corpus.edit_similarity_levenshtein,
    );
    put("identifier_f1", corpus.identifier_f1);
    put(
        "reference_logprob",
        corpus.reference_perplexity.map(|p| p.mean_logprob),
    );
    put(
        "judge_functional_correctness",
        corpus.judge.as_ref().and_then(|j| j.functional_correctness),
    );
    put(
        "judge_usefulness",
        corpus.judge.as_ref().and_then(|j| j.usefulness),
    );
    values
}

/// Compare `runs`: tau-b of every score all runs have against their pass rates, over all
/// runs and within each benchmark with at least [`MIN_RUNS`] runs.
pub fn compare(runs: Vec<RunScores>) -> Comparison {
    let mut names: Vec<&String> = runs.iter().flat_map(|run| run.scores.keys()).collect();
    names.sort();
    names.dedup();
    let mut groups: BTreeMap<&str, Vec<&RunScores>> = BTreeMap::new();
    for run in &runs {
        groups.entry(run.benchmark.as_str()).or_default().push(run);
    }
    let mut agreement = Vec::new();
    for name in names {
        agreement.push(rank_agreement(
            name,
            "all",
            &runs.iter().collect::<Vec<_>>(),
        ));
        for (benchmark, members) in &groups {
            if members.len() >= MIN_RUNS && members.len() < runs.len() {
                agreement.push(rank_agreement(name, benchmark, members));
            }
        }
    }
    Comparison { runs, agreement }
}

fn rank_agreement(score: &str, group: &str, runs: &[&RunScores]) -> RankAgreement {
    let with: Vec<&&RunScores> = runs
        .iter()
        .filter(|r| r.scores.contains_key(score))
        .collect();
    let mut result = RankAgreement {
        score: score.to_string(),
        group: group.to_string(),
        runs: with.len(),
        kendall_tau: None,
        undefined: None,
    };
    if with.len() < runs.len() {
        result.undefined = Some(format!(
            "only {} of the {} runs have this score",
            with.len(),
            runs.len()
        ));
        return result;
    }
    if with.len() < MIN_RUNS {
        result.undefined = Some(format!("needs at least {MIN_RUNS} runs"));
        return result;
    }
    let values: Vec<f64> = with.iter().map(|r| r.scores[score]).collect();
    let pass: Vec<f64> = with.iter().map(|r| r.pass_rate).collect();
    match correlation::kendall_tau_b(&values, &pass) {
        Ok(tau) => result.kendall_tau = Some(tau),
        Err(err) => result.undefined = Some(err.to_string()),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, benchmark: &str, pass_rate: f64, scores: &[(&str, f64)]) -> RunScores {
        RunScores {
            name: name.to_string(),
            benchmark: benchmark.to_string(),
            pass_rate,
            samples: 10,
            scores: scores.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            auroc: BTreeMap::new(),
        }
    }

    #[test]
    fn tau_over_all_runs_and_within_benchmarks() {
        let runs = vec![
            run("a", "he", 0.2, &[("bleu", 10.0), ("codebleu", 0.3)]),
            run("b", "he", 0.5, &[("bleu", 20.0), ("codebleu", 0.2)]),
            run("c", "he", 0.7, &[("bleu", 30.0), ("codebleu", 0.1)]),
            run("d", "mbpp", 0.4, &[("bleu", 5.0)]),
        ];
        let comparison = compare(runs);
        let find = |score: &str, group: &str| {
            comparison
                .agreement
                .iter()
                .find(|a| a.score == score && a.group == group)
                .unwrap()
                .clone()
        };
        // Over all four: pairs (a,d) and (b,d),(c,d) — d has the lowest bleu but not the
        // lowest pass rate: 5 concordant, 1 discordant of 6.
        let all = find("bleu", "all");
        assert_eq!(all.runs, 4);
        assert!((all.kendall_tau.unwrap() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(find("bleu", "he").kendall_tau, Some(1.0));
        assert_eq!(find("codebleu", "he").kendall_tau, Some(-1.0));
        let partial = find("codebleu", "all");
        assert_eq!(partial.kendall_tau, None);
        assert_eq!(
            partial.undefined.as_deref(),
            Some("only 3 of the 4 runs have this score")
        );
        // A benchmark with fewer than three runs gets no group of its own.
        assert!(comparison.agreement.iter().all(|a| a.group != "mbpp"));
    }
}
