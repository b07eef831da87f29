//! Verdicts in other tools' shapes, read and written: EvalPlus's `*_eval_results.json` and
//! OpenAI human-eval's `*_results.jsonl`. Each reader (for `crucible compare`) returns every
//! sample's pass or fail by task, in the file's sample order; anything it cannot read is an
//! error naming the file, the place and the expected shape. The writers put a Crucible run's
//! verdicts in the same shapes, so other tools can read its runs.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::run::{ResultRecord, SampleRecord};
use crate::{Error, Result};

/// The file names a run directory's verdicts are written under in other tools' shapes: what
/// human-eval and EvalPlus name the results of a `samples.jsonl`.
pub const HUMAN_EVAL_RESULTS_FILE: &str = "samples.jsonl_results.jsonl";
pub const EVALPLUS_RESULTS_FILE: &str = "samples_eval_results.json";

/// Each task's samples, pass (`true`) or fail, in sample order.
pub type Passes = BTreeMap<String, Vec<bool>>;

/// EvalPlus's `*_eval_results.json`: `{"eval": {task_id: [{"base_status", "plus_status"}, …]}}`
/// (EvalPlus 0.2 and later), or the older `{"eval": {task_id: {"base": [[status, …], …],
/// "plus": [[status, …], …]}}}`. A sample passes when its base tests pass and its plus tests,
/// when there are any, pass too (as Crucible counts HumanEval+ and MBPP+).
pub fn parse_evalplus_results(path: &Path, text: &str) -> Result<Passes> {
    let bad = |problem: String| Error::PeerResults {
        path: path.to_path_buf(),
        problem,
    };
    let root: Value = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "is not JSON ({e}); expected EvalPlus's eval_results.json"
        ))
    })?;
    let eval = root
        .get("eval")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("has no `eval` object; expected EvalPlus's eval_results.json".into()))?;
    let pass = |v: Option<&Value>| v.and_then(Value::as_str) == Some("pass");
    let mut passes = Passes::new();
    for (task_id, entry) in eval {
        let verdicts: Vec<bool> = match entry {
            Value::Array(samples) => samples
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if s.get("base_status").is_none() {
                        return Err(bad(format!(
                            "task `{task_id}` sample {i} has no `base_status`"
                        )));
                    }
                    let plus = s.get("plus_status").filter(|p| !p.is_null());
                    Ok(pass(s.get("base_status")) && plus.is_none_or(|p| pass(Some(p))))
                })
                .collect::<Result<_>>()?,
            Value::Object(tiers) => {
                let tier = |name: &str| -> Result<Option<Vec<bool>>> {
                    let Some(list) = tiers.get(name).filter(|l| !l.is_null()) else {
                        return Ok(None);
                    };
                    let list = list
                        .as_array()
                        .ok_or_else(|| bad(format!("task `{task_id}`: `{name}` is not a list")))?;
                    Ok(Some(
                        list.iter().map(|s| pass(s.get(0).or(Some(s)))).collect(),
                    ))
                };
                let base = tier("base")?
                    .ok_or_else(|| bad(format!("task `{task_id}` has no `base` verdicts")))?;
                match tier("plus")? {
                    Some(plus) if plus.len() == base.len() => {
                        base.iter().zip(plus).map(|(b, p)| *b && p).collect()
                    }
                    Some(plus) => {
                        return Err(bad(format!(
                            "task `{task_id}` has {} base but {} plus verdicts",
                            base.len(),
                            plus.len()
                        )));
                    }
                    None => base,
                }
            }
            _ => {
                return Err(bad(format!(
                    "task `{task_id}` is neither a list of samples nor an object of tiers"
                )));
            }
        };
        passes.insert(task_id.clone(), verdicts);
    }
    Ok(passes)
}

/// OpenAI human-eval's `*_results.jsonl`: one line per sample with `task_id` and `passed` (a
/// boolean); a task's samples are in line order.
pub fn parse_human_eval_results(path: &Path, text: &str) -> Result<Passes> {
    let mut passes = Passes::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |problem: &str| Error::PeerResults {
            path: path.to_path_buf(),
            problem: format!("line {}: {problem}", i + 1),
        };
        let value: Value = serde_json::from_str(line).map_err(|_| bad("is not JSON"))?;
        let task_id = value
            .get("task_id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("has no `task_id` string"))?;
        let passed = value
            .get("passed")
            .and_then(Value::as_bool)
            .ok_or_else(|| bad("has no `passed` boolean; expected human-eval's results.jsonl (samples need judging first: `crucible score`)"))?;
        passes.entry(task_id.to_owned()).or_default().push(passed);
    }
    Ok(passes)
}

/// Each judged sample with its verdict, in the samples' order (samples not judged yet are left
/// out, as the other tools' files hold judged samples only).
fn judged<'a>(
    samples: &'a [SampleRecord],
    results: &'a [ResultRecord],
) -> impl Iterator<Item = (&'a SampleRecord, &'a ResultRecord)> {
    let by_key: BTreeMap<(&str, usize), &ResultRecord> = results
        .iter()
        .map(|r| ((r.task_id.as_str(), r.sample_idx), r))
        .collect();
    samples.iter().filter_map(move |sample| {
        by_key
            .get(&(sample.task_id.as_str(), sample.sample_idx))
            .map(|&result| (sample, result))
    })
}

/// human-eval's `*_results.jsonl`: one line per judged sample with `task_id`, `completion` (the
/// code as judged), `result` (`passed`, `timed out`, or `failed: ` and what failed) and
/// `passed`. Where a sample has plus tests (HumanEval+, MBPP+), `passed` needs them too, as
/// Crucible counts it.
pub fn write_human_eval_results(samples: &[SampleRecord], results: &[ResultRecord]) -> String {
    let mut out = String::new();
    for (sample, result) in judged(samples, results) {
        let status = result.plus_status().unwrap_or(result.status);
        let text = match status {
            s if s.is_pass() => "passed".to_owned(),
            crucible_types::Status::Timeout => "timed out".to_owned(),
            other => match result.feedback.as_deref().and_then(|f| f.lines().next()) {
                Some(line) => format!("failed: {other}: {line}"),
                None => format!("failed: {other}"),
            },
        };
        let line = json!({
            "task_id": sample.task_id,
            "completion": sample.solution.code(),
            "result": text,
            "passed": status.is_pass(),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// EvalPlus's `*_eval_results.json` (the shape of EvalPlus 0.2 and later): `{"eval": {task_id:
/// [{"task_id", "solution", "base_status", "plus_status", "base_fail_tests",
/// "plus_fail_tests"}, …]}}`, statuses `pass` or `fail`, `plus_status` null where the
/// benchmark has no plus tests. The fail lists hold Crucible's names of the failing tests
/// (EvalPlus puts the failing inputs there).
pub fn write_evalplus_results(samples: &[SampleRecord], results: &[ResultRecord]) -> String {
    let status = |pass: bool| if pass { "pass" } else { "fail" };
    let failing = |tests: &[crucible_types::TestOutcome]| -> Vec<String> {
        tests
            .iter()
            .filter(|t| !t.status.is_pass())
            .map(|t| t.name.clone())
            .collect()
    };
    let mut eval: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (sample, result) in judged(samples, results) {
        let plus = result.plus.as_ref();
        eval.entry(sample.task_id.as_str())
            .or_default()
            .push(json!({
                "task_id": sample.task_id,
                "solution": sample.solution.code(),
                "base_status": status(result.status.is_pass()),
                "plus_status": plus.map(|p| status(p.status.is_pass())),
                "base_fail_tests": failing(&result.tests),
                "plus_fail_tests": plus.map_or_else(Vec::new, |p| failing(&p.tests)),
            }));
    }
    let mut text = serde_json::to_string_pretty(&json!({ "eval": eval }))
        .expect("JSON values always serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evalplus_results_in_both_shapes() {
        let path = Path::new("x_eval_results.json");
        let new = r#"{"date": "2024", "eval": {
            "HumanEval/0": [{"base_status": "pass", "plus_status": "pass"},
                            {"base_status": "pass", "plus_status": "fail"}],
            "HumanEval/1": [{"base_status": "fail", "plus_status": null}]}}"#;
        let passes = parse_evalplus_results(path, new).unwrap();
        assert_eq!(passes["HumanEval/0"], vec![true, false]);
        assert_eq!(passes["HumanEval/1"], vec![false]);
        let old = r#"{"eval": {"HumanEval/0": {"nfiles": 2,
            "base": [["pass", []], ["fail", [1]]], "plus": [["pass", []], ["pass", []]]}}}"#;
        let passes = parse_evalplus_results(path, old).unwrap();
        assert_eq!(passes["HumanEval/0"], vec![true, false]);
        let err = parse_evalplus_results(path, r#"{"results": {}}"#).unwrap_err();
        assert!(err.to_string().contains("has no `eval` object"), "{err}");
    }

    #[test]
    fn a_run_s_verdicts_written_in_both_shapes_read_back() {
        use crate::run::TierResult;
        use crate::run::tests::{result, sample};
        use crucible_types::{Status, TestOutcome};
        let samples = vec![
            sample("T/0", 0),
            sample("T/0", 1),
            sample("T/1", 0),
            sample("T/2", 0),
        ];
        let mut plus_fails = result("T/0", 1, Status::Passed, None);
        plus_fails.plus = Some(TierResult {
            status: Status::WrongAnswer,
            tests: vec![TestOutcome {
                name: "plus 3".into(),
                status: Status::WrongAnswer,
                detail: None,
            }],
        });
        let mut slow = result("T/1", 0, Status::Timeout, None);
        slow.feedback = Some("ran past 1 s".into());
        // T/2 is not judged yet: neither file has it.
        let results = vec![result("T/0", 0, Status::Passed, None), plus_fails, slow];

        let human = write_human_eval_results(&samples, &results);
        let lines: Vec<Value> = human
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["result"], "passed");
        assert_eq!(lines[1]["result"], "failed: wrong_answer");
        assert_eq!(lines[2]["result"], "timed out");
        assert_eq!(lines[0]["completion"], "    return 1\n");
        let passes = parse_human_eval_results(Path::new("r.jsonl"), &human).unwrap();
        assert_eq!(passes["T/0"], vec![true, false]);
        assert_eq!(passes["T/1"], vec![false]);
        assert!(!passes.contains_key("T/2"));

        let evalplus = write_evalplus_results(&samples, &results);
        let root: Value = serde_json::from_str(&evalplus).unwrap();
        assert_eq!(root["eval"]["T/0"][1]["base_status"], "pass");
        assert_eq!(root["eval"]["T/0"][1]["plus_status"], "fail");
        assert_eq!(root["eval"]["T/0"][1]["plus_fail_tests"], json!(["plus 3"]));
        assert_eq!(root["eval"]["T/1"][0]["plus_status"], Value::Null);
        assert_eq!(root["eval"]["T/1"][0]["base_fail_tests"], json!(["t"]));
        let again = parse_evalplus_results(Path::new("e.json"), &evalplus).unwrap();
        assert_eq!(again, passes);
    }

    #[test]
    fn human_eval_results_by_line() {
        let path = Path::new("s.jsonl_results.jsonl");
        let text = "{\"task_id\": \"HumanEval/0\", \"completion\": \"\", \"result\": \"passed\", \"passed\": true}\n\
                    {\"task_id\": \"HumanEval/0\", \"result\": \"failed: \", \"passed\": false}\n";
        let passes = parse_human_eval_results(path, text).unwrap();
        assert_eq!(passes["HumanEval/0"], vec![true, false]);
        let err = parse_human_eval_results(
            path,
            "{\"task_id\": \"HumanEval/0\", \"completion\": \"x\"}\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("line 1: has no `passed` boolean"),
            "{err}"
        );
    }
}
