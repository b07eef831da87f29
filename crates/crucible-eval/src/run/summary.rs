//! `summary.json`: pass@k, n@k, the test-case average and counts, computed from result records.
//!
//! Counting rules:
//! - Each sample counts once: a result whose task and sample index an earlier result already
//!   has is left out of every number (and counted in `duplicate_results`).
//! - Only the run's tasks count (`SummaryParams::task_ids`); results of other tasks (left from
//!   a run with another task list and `--force`) are left out.
//! - The test-case average counts a sample that ran none of its tests (a compile or load
//!   error, a crash before the first test) as 0 of them. The denominator of every sample of a
//!   task is the task's number of hidden tests where the suite gives it
//!   (`SummaryParams::test_counts`: stdin and call cases), else the most tests any sample of
//!   that task ran (test code's asserts are counted as they run: a program stopped early
//!   reports only the tests it reached; a passing one reports all). A task none of whose
//!   samples reported a test, and whose count is not known, scores 1 for a passing sample and
//!   0 for the others.
//! - Tasks a scored samples file has no sample for ([`MissingTasks`]) count as failed in
//!   every number, or are left out with the summary saying how many.

use std::collections::{BTreeMap, BTreeSet};

use crucible_types::Status;
use serde::{Deserialize, Serialize};

use super::ResultRecord;
use crate::metrics::{FilterCounts, n_at_k, pass_at_k, test_case_fraction};

/// What a summary needs besides the results.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryParams {
    pub benchmark: String,
    pub language: String,
    /// Every task id of the run, in order. A task without results is reported with zero samples
    /// and leaves pass@k undefined (an unfinished run), unless it is one of the
    /// [`MissingTasks`] of a scored file.
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
    /// Tasks of `task_ids` that have no samples by design (a scored samples file leaves them
    /// out), and how to count them; `None` for a run whose every task is meant to have samples.
    pub missing: Option<MissingTasks>,
    /// The number of hidden (base) tests of each task whose suite says so without running
    /// ([`crucible_types::TestSuite::case_count`]): the test-case average's denominator.
    pub test_counts: BTreeMap<String, usize>,
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
    /// Fewest samples any task has (pass@k needs k <= this); tasks missing from a scored
    /// file are not counted here.
    pub min_samples_per_task: usize,
    /// `"pass@1"`, `"pass@10"`, ... (only k <= `min_samples_per_task`).
    #[serde(flatten)]
    pub pass_at_k: BTreeMap<String, f64>,
    /// `"1@10"`, ...: the visible-test-filtered n@k, where visible verdicts exist.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub n_at_k: BTreeMap<String, f64>,
    /// Mean over tasks of the mean fraction of hidden tests passed per sample (see the module
    /// docs for samples that ran no test).
    pub test_case_average: Option<f64>,
    /// Sample counts per hidden verdict.
    pub verdicts: BTreeMap<String, usize>,
    /// EvalPlus sets: the same numbers with the plus tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plus: Option<TierSummary>,
    /// Tasks of a scored file's benchmark that the file has no sample for, and how they were
    /// counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<MissingTasks>,
    /// Results left out because an earlier result has the same task and sample index.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicate_results: usize,
    /// Samples whose tests ran inside the program's own process
    /// ([`ResultRecord::in_process_tests`]: tests that could not be split from the program, or
    /// a Python signature that cannot be called across the sandbox). A program that reads or
    /// rewrites its own tests can pass those, so their passes are counted apart too.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub in_process_tests: usize,
    /// Of those, the samples that passed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub in_process_passed: usize,
    pub tokens_prompt: u64,
    pub tokens_completion: u64,
    pub wall_time_s: Option<f64>,
    pub model_sha256: Option<String>,
    pub hidden_tests: bool,
    pub time_limits: serde_json::Value,
    pub config: serde_json::Value,
    /// Per-task numbers, in task order.
    pub per_task: Vec<TaskScore>,
    /// The similarity and judge metrics (`crucible eval|score --metric`), when computed: set
    /// by `crucible-core`, which owns them (crucible-metrics' report, per-sample scores left
    /// out: they are in `metrics.jsonl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<serde_json::Value>,
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
    /// The scored file has no sample of this task; it counts as failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

/// Tasks that a scored samples file has no sample for (`crucible score`), and how the
/// summary counts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingTasks {
    /// Their ids, in task order.
    pub task_ids: Vec<String>,
    pub policy: MissingPolicy,
}

/// How a summary counts [`MissingTasks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Each is a task that no sample solved: 0 in pass@k, n@k and the test-case average
    /// (the default of `crucible score`).
    CountedAsFailed,
    /// Left out of every number (`crucible score --allow-missing`); the summary lists them.
    LeftOut,
}

/// Compute the summary of `results` by the counting rules of the module docs.
pub fn summarize(results: &[ResultRecord], params: &SummaryParams) -> Summary {
    let missing = params.missing.as_ref().filter(|m| !m.task_ids.is_empty());
    let missing_ids: BTreeSet<&str> = missing
        .iter()
        .flat_map(|m| m.task_ids.iter().map(String::as_str))
        .collect();
    let left_out = missing.is_some_and(|m| m.policy == MissingPolicy::LeftOut);
    let task_ids: Vec<&String> = params
        .task_ids
        .iter()
        .filter(|id| !(left_out && missing_ids.contains(id.as_str())))
        .collect();
    let (by_task, duplicate_results) = unique_by_task(results, &task_ids);
    let counted: Vec<&ResultRecord> = by_task.values().flatten().copied().collect();
    let per_task: Vec<TaskScore> = task_ids
        .iter()
        .map(|id| {
            let results = by_task.get(id.as_str()).map_or(&[][..], Vec::as_slice);
            task_score(id, results, missing_ids.contains(id.as_str()))
        })
        .collect();
    let min_samples = per_task
        .iter()
        .filter(|t| !t.missing)
        .map(|t| t.samples)
        .min()
        .unwrap_or(0);
    let has_plus = counted.iter().any(|r| r.plus.is_some());
    let plus = has_plus.then(|| TierSummary {
        pass_at_k: pass_at_ks(&per_task, &params.ks, |t| t.plus_passed.unwrap_or(0)),
        verdicts: verdict_counts(counted.iter().filter_map(|r| r.plus_status())),
    });
    Summary {
        benchmark: params.benchmark.clone(),
        language: params.language.clone(),
        tasks: per_task.len(),
        samples: counted.len(),
        min_samples_per_task: min_samples,
        pass_at_k: pass_at_ks(&per_task, &params.ks, |t| t.passed),
        n_at_k: n_at_ks(&by_task, &per_task, &params.n_at_k),
        test_case_average: test_case_average(&by_task, &per_task, &params.test_counts),
        verdicts: verdict_counts(counted.iter().map(|r| r.status)),
        plus,
        missing: missing.cloned(),
        duplicate_results,
        in_process_tests: counted.iter().filter(|r| r.in_process_tests).count(),
        in_process_passed: counted
            .iter()
            .filter(|r| r.in_process_tests && r.status.is_pass())
            .count(),
        tokens_prompt: counted
            .iter()
            .filter_map(|r| r.tokens)
            .map(|t| t.prompt)
            .sum(),
        tokens_completion: counted
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
        metrics: None,
    }
}

/// The results of `task_ids`, grouped by task and sorted by sample index, each sample once (the
/// first result written for it); also the number of duplicates left out.
pub(crate) fn unique_by_task<'a>(
    results: &'a [ResultRecord],
    task_ids: &[&String],
) -> (BTreeMap<&'a str, Vec<&'a ResultRecord>>, usize) {
    let wanted: BTreeSet<&str> = task_ids.iter().map(|id| id.as_str()).collect();
    let mut seen: BTreeSet<(&str, usize)> = BTreeSet::new();
    let mut duplicates = 0;
    let mut by_task: BTreeMap<&str, Vec<&ResultRecord>> = BTreeMap::new();
    for result in results {
        let id = result.task_id.as_str();
        if !wanted.contains(id) {
            continue;
        }
        if !seen.insert((id, result.sample_idx)) {
            duplicates += 1;
            continue;
        }
        by_task.entry(id).or_default().push(result);
    }
    for results in by_task.values_mut() {
        results.sort_by_key(|r| r.sample_idx);
    }
    (by_task, duplicates)
}

fn task_score(task_id: &str, results: &[&ResultRecord], missing: bool) -> TaskScore {
    let has_plus = results.iter().any(|r| r.plus.is_some());
    TaskScore {
        task_id: task_id.to_owned(),
        samples: results.len(),
        passed: results.iter().filter(|r| r.status.is_pass()).count(),
        plus_passed: has_plus.then(|| {
            results
                .iter()
                .filter(|r| r.plus_status().is_some_and(Status::is_pass))
                .count()
        }),
        statuses: results.iter().map(|r| r.status).collect(),
        missing,
    }
}

/// Mean pass@k over tasks for each k that every task has enough samples for; a missing task
/// counted as failed scores 0. A task with no samples at all (not missing by design) makes
/// every k undefined (it is reported with zero samples instead).
fn pass_at_ks(
    per_task: &[TaskScore],
    ks: &[u64],
    passed: impl Fn(&TaskScore) -> usize,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if per_task.is_empty() {
        return out;
    }
    'ks: for &k in ks {
        let mut sum = 0.0;
        for task in per_task.iter().filter(|t| !t.missing) {
            let Some(value) = pass_at_k(task.samples as u64, passed(task) as u64, k) else {
                continue 'ks;
            };
            sum += value;
        }
        out.insert(format!("pass@{k}"), sum / per_task.len() as f64);
    }
    out
}

fn n_at_ks(
    by_task: &BTreeMap<&str, Vec<&ResultRecord>>,
    per_task: &[TaskScore],
    pairs: &[(u64, u64)],
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    // Only runs judged with the visible tests have the filter. Within such a run, a task that
    // shows no tests has no visible verdicts: nothing filters its samples, so all of them count
    // as passing the filter and the choice among them is at random.
    let judged_visible = by_task.values().flatten().any(|r| r.visible.is_some());
    if !judged_visible || per_task.is_empty() {
        return out;
    }
    'pairs: for &(m, k) in pairs {
        let mut sum = 0.0;
        for task in per_task.iter().filter(|t| !t.missing) {
            let mut counts = FilterCounts::default();
            for r in by_task
                .get(task.task_id.as_str())
                .map_or(&[][..], Vec::as_slice)
            {
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
        out.insert(format!("{m}@{k}"), sum / per_task.len() as f64);
    }
    out
}

/// The mean over tasks (those with results, and missing ones counted as failed) of each task's
/// mean fraction of tests passed per sample, by the rules in the module docs.
fn test_case_average(
    by_task: &BTreeMap<&str, Vec<&ResultRecord>>,
    per_task: &[TaskScore],
    test_counts: &BTreeMap<String, usize>,
) -> Option<f64> {
    let per_task: Vec<f64> = per_task
        .iter()
        .filter_map(|task| {
            if task.missing {
                return Some(0.0);
            }
            let results = by_task.get(task.task_id.as_str())?;
            let most_ran = results.iter().map(|r| r.tests.len()).max().unwrap_or(0);
            // A sample cannot report more tests than the suite has; if one did (a suite
            // changed under a resumed run), its count is the honest denominator.
            let most_tests = test_counts
                .get(task.task_id.as_str())
                .map_or(most_ran, |&known| known.max(most_ran));
            let fractions = results.iter().map(|r| {
                let passed = r.tests.iter().filter(|t| t.status.is_pass()).count();
                let ran_none = if r.status.is_pass() { 1.0 } else { 0.0 };
                test_case_fraction(passed, most_tests).unwrap_or(ran_none)
            });
            Some(fractions.sum::<f64>() / results.len() as f64)
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

fn is_zero(n: &usize) -> bool {
    *n == 0
}
