//! Verdicts written by other tools, for `crucible compare`: EvalPlus's `*_eval_results.json`
//! and OpenAI human-eval's `*_results.jsonl`. Each reader returns every sample's pass or fail
//! by task, in the file's sample order; anything it cannot read is an error naming the file,
//! the place and the expected shape.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::{Error, Result};

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
