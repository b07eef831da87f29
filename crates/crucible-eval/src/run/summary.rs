//! `summary.json`: pass@k, n@k, the test-case average and counts, computed from result records.

use std::collections::BTreeMap;

use crucible_types::Status;
use serde::{Deserialize, Serialize};

use super::ResultRecord;
use crate::metrics::{FilterCounts, n_at_k, test_case_fraction};

/// What a summary needs besides the results.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryParams {
    pub benchmark: String,
    pub language: String,
    /// Every task id of the run, in order; a task without results counts as solved by none.
    pub task_ids: Vec<String>,
    /// The k of pass@k (e.g. 1, 10, 100).
    pub ks: Vec<u64>,
    /// `(m, k)` pairs for m@k with the visible-test filter.
    pub n_at_k: Vec<(u64, u64)>,
    /// Whether the benchmark has hidden tests (CodeNet: no, judged on its samples).
    pub hidden_tests: bool,
    pub model_sha256: Option<String>,
    pub wall_time_s: Option<f64>,
    /// The full configuration of the run.
    pub config: serde_json::Value,
    /// Time limits used (policy and per-task values).
    pub time_limits: serde_json::Value,
}

/// The m@k pairs a summary reports: 1@k for every k of pass@k above 1 (one program submitted out
/// of k, chosen by the visible tests: the peer of a strategy that spends k programs' tokens), and
/// the customary 1@10 and 10@100 (each only where the run has enough samples).
pub fn n_at_k_pairs(ks: &[u64]) -> Vec<(u64, u64)> {
    let mut pairs: Vec<(u64, u64)> = ks.iter().filter(|&&k| k > 1).map(|&k| (1, k)).collect();
    for pair in [(1, 10), (10, 100)] {
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    pairs.sort_unstable();
    pairs
}

/// The headline numbers of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub benchmark: String,
    pub language: String,
    pub tasks: usize,
    pub samples: usize,
    /// Fewest samples any task has (pass@k needs k <= this).
    pub min_samples_per_task: usize,
    /// `"pass@1"`, `"pass@10"`, ... (only k <= `min_samples_per_task`).
    #[serde(flatten)]
    pub pass_at_k: BTreeMap<String, f64>,
    /// `"1@10"`, ...: the visible-test-filtered n@k, where visible verdicts exist.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub n_at_k: BTreeMap<String, f64>,
    /// Mean over tasks of the mean fraction of hidden tests passed per sample.
    pub test_case_average: Option<f64>,
    /// Sample counts per hidden verdict.
    pub verdicts: BTreeMap<String, usize>,
    /// EvalPlus sets: the same numbers with the plus tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plus: Option<TierSummary>,
    pub tokens_prompt: u64,
    pub tokens_completion: u64,
    pub wall_time_s: Option<f64>,
    pub model_sha256: Option<String>,
    pub hidden_tests: bool,
    pub time_limits: serde_json::Value,
    pub config: serde_json::Value,
    /// Per-task numbers, in task order.
    pub per_task: Vec<TaskScore>,
}

/// Scores with an extra tier of tests (EvalPlus "plus").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierSummary {
    #[serde(flatten)]
    pub pass_at_k: BTreeMap<String, f64>,
    pub verdicts: BTreeMap<String, usize>,
}

/// One task's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskScore {
    pub task_id: String,
    pub samples: usize,
    pub passed: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plus_passed: Option<usize>,
    /// Hidden verdict of each sample, by sample index.
    pub statuses: Vec<Status>,
}

/// Compute the summary of `results`.
pub fn summarize(results: &[ResultRecord], params: &SummaryParams) -> Summary {
    let mut by_task: BTreeMap<&str, Vec<&ResultRecord>> = BTreeMap::new();
    for result in results {
        by_task
            .entry(result.task_id.as_str())
            .or_default()
            .push(result);
    }
    let per_task: Vec<TaskScore> = params
        .task_ids
        .iter()
        .map(|id| task_score(id, by_task.get(id.as_str()).map_or(&[][..], Vec::as_slice)))
        .collect();
    let min_samples = per_task.iter().map(|t| t.samples).min().unwrap_or(0);
    let has_plus = results.iter().any(|r| r.plus.is_some());
    let base_counts: Vec<(u64, u64)> = per_task
        .iter()
        .map(|t| (t.samples as u64, t.passed as u64))
        .collect();
    let plus = has_plus.then(|| {
        let counts: Vec<(u64, u64)> = per_task
            .iter()
            .map(|t| (t.samples as u64, t.plus_passed.unwrap_or(0) as u64))
            .collect();
        TierSummary {
            pass_at_k: pass_at_ks(&counts, &params.ks),
            verdicts: verdict_counts(results.iter().filter_map(ResultRecord::plus_status)),
        }
    });
    Summary {
        benchmark: params.benchmark.clone(),
        language: params.language.clone(),
        tasks: per_task.len(),
        samples: results.len(),
        min_samples_per_task: min_samples,
        pass_at_k: pass_at_ks(&base_counts, &params.ks),
        n_at_k: n_at_ks(&by_task, &params.task_ids, &params.n_at_k),
        test_case_average: test_case_average(&by_task),
        verdicts: verdict_counts(results.iter().map(|r| r.status)),
        plus,
        tokens_prompt: results
            .iter()
            .filter_map(|r| r.tokens)
            .map(|t| t.prompt)
            .sum(),
        tokens_completion: results
            .iter()
            .filter_map(|r| r.tokens)
            .map(|t| t.completion)
            .sum(),
        wall_time_s: params.wall_time_s,
        model_sha256: params.model_sha256.clone(),
        hidden_tests: params.hidden_tests,
        time_limits: params.time_limits.clone(),
        config: params.config.clone(),
        per_task,
    }
}

fn task_score(task_id: &str, results: &[&ResultRecord]) -> TaskScore {
    let mut sorted: Vec<&ResultRecord> = results.to_vec();
    sorted.sort_by_key(|r| r.sample_idx);
    sorted.dedup_by_key(|r| r.sample_idx);
    let has_plus = sorted.iter().any(|r| r.plus.is_some());
    TaskScore {
        task_id: task_id.to_owned(),
        samples: sorted.len(),
        passed: sorted.iter().filter(|r| r.status.is_pass()).count(),
        plus_passed: has_plus.then(|| {
            sorted
                .iter()
                .filter(|r| r.plus_status().is_some_and(Status::is_pass))
                .count()
        }),
        statuses: sorted.iter().map(|r| r.status).collect(),
    }
}

/// Mean pass@k over tasks for each k that every task has enough samples for. A task with no
/// samples at all makes every k undefined (it is reported with zero samples instead).
fn pass_at_ks(counts: &[(u64, u64)], ks: &[u64]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for &k in ks {
        if let Some(value) = crate::metrics::mean_pass_at_k(counts, k) {
            out.insert(format!("pass@{k}"), value);
        }
    }
    out
}

fn n_at_ks(
    by_task: &BTreeMap<&str, Vec<&ResultRecord>>,
    task_ids: &[String],
    pairs: &[(u64, u64)],
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    // Only runs judged with the visible tests have the filter. Within such a run, a task that
    // shows no tests has no visible verdicts: nothing filters its samples, so all of them count
    // as passing the filter and the choice among them is at random.
    let judged_visible = by_task.values().flatten().any(|r| r.visible.is_some());
    if !judged_visible || task_ids.is_empty() {
        return out;
    }
    'pairs: for &(m, k) in pairs {
        let mut sum = 0.0;
        for id in task_ids {
            let mut counts = FilterCounts::default();
            for r in by_task.get(id.as_str()).map_or(&[][..], Vec::as_slice) {
                let visible = r.visible.is_none_or(Status::is_pass);
                match (visible, r.status.is_pass()) {
                    (true, true) => counts.visible_pass_hidden_pass += 1,
                    (true, false) => counts.visible_pass_hidden_fail += 1,
                    (false, true) => counts.visible_fail_hidden_pass += 1,
                    (false, false) => counts.visible_fail_hidden_fail += 1,
                }
            }
            let Some(value) = n_at_k(counts, m, k) else {
                continue 'pairs;
            };
            sum += value;
        }
        out.insert(format!("{m}@{k}"), sum / task_ids.len() as f64);
    }
    out
}

fn test_case_average(by_task: &BTreeMap<&str, Vec<&ResultRecord>>) -> Option<f64> {
    let per_task: Vec<f64> = by_task
        .values()
        .filter_map(|results| {
            let fractions: Vec<f64> = results
                .iter()
                .filter_map(|r| {
                    let passed = r.tests.iter().filter(|t| t.status.is_pass()).count();
                    test_case_fraction(passed, r.tests.len())
                })
                .collect();
            (!fractions.is_empty()).then(|| fractions.iter().sum::<f64>() / fractions.len() as f64)
        })
        .collect();
    (!per_task.is_empty()).then(|| per_task.iter().sum::<f64>() / per_task.len() as f64)
}

fn verdict_counts(statuses: impl Iterator<Item = Status>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for status in statuses {
        *out.entry(status.name().to_owned()).or_insert(0) += 1;
    }
    out
}
