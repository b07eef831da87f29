//! `crucible eval` end to end with the real default model: a small HumanEval run judged in the
//! sandbox writes its run directory and resumes, a strategy run keeps its traces, and bad input
//! is a clear error.
//!
//! These tests need the default model (`scripts/test.sh` pulls it) and read the benchmark files
//! in `../shared/data` (found from the working directory, as `crucible eval` does).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn crucible(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("CRUCIBLE_MODEL")
        .stdin(Stdio::null())
        .output()
        .expect("the crucible binary runs")
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "crucible failed: {stderr}");
    stderr
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn humaneval_subset_is_judged_and_a_rerun_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("run");
    let args = [
        "eval",
        "--benchmark",
        "humaneval",
        "--tasks",
        "HumanEval/0,HumanEval/2",
        "--max-new-tokens",
        "384",
        "--out",
        out.to_str().unwrap(),
    ];
    let first = crucible(&args);
    ok(&first);
    let table = String::from_utf8_lossy(&first.stdout);
    assert!(table.contains("pass@1"), "{table}");
    let summary = read_json(&out.join("summary.json"));
    let pass1 = summary["pass@1"].as_f64().unwrap();
    let results = lines(&out.join("results.jsonl"));
    assert_eq!(results.len(), 2);
    // The summary is the mean of the verdicts it was made from.
    let passed = results.iter().filter(|r| r["status"] == "passed").count();
    assert!((pass1 - passed as f64 / 2.0).abs() < 1e-9, "{summary}");
    assert!(out.join("report.html").is_file());
    // eval runs the default model with its Q5_0 weights widened, and says so in the config.
    assert_eq!(
        summary["config"]["model"]["weights"], "q5_0 widened to q8_0",
        "{summary}"
    );

    let again = ok(&crucible(&args));
    assert!(
        again.contains("2 already done, 0 samples to generate"),
        "{again}"
    );
    assert_eq!(lines(&out.join("results.jsonl")).len(), 2);

    // Metrics added to the finished run: nothing is generated again; the references'
    // perplexity is measured under the run's model.
    let with_metrics = crucible(&[&args[..], &["--metric", "bleu,codebleu,em,ppl"]].concat());
    let stderr = ok(&with_metrics);
    assert!(stderr.contains("0 samples to generate"), "{stderr}");
    let table = String::from_utf8_lossy(&with_metrics.stdout);
    assert!(table.contains("metrics (python, 2 samples)"), "{table}");
    assert!(
        table.contains("perplexity under qwen2.5-coder-0.5b-instruct"),
        "{table}"
    );
    let metrics = lines(&out.join("metrics.jsonl"));
    assert_eq!(metrics.len(), 2);
    for line in &metrics {
        let ppl = line["reference_perplexity"]["perplexity"].as_f64().unwrap();
        assert!(ppl > 1.0 && ppl < 100.0, "{line}");
        assert!(line["codebleu"]["codebleu"].as_f64().is_some(), "{line}");
    }
    assert!(read_json(&out.join("summary.json"))["metrics"]["corpus"].is_array());

    // The weights are part of the configuration: samples of the file as it is do not mix in.
    let as_is = crucible(&[&args[..], &["--weights", "as-is"]].concat());
    assert!(!as_is.status.success());
    let stderr = String::from_utf8_lossy(&as_is.stderr);
    assert!(stderr.contains("different configuration"), "{stderr}");
}

/// Tasks decoded together (continuous batching), each with n sequences that share their prompt
/// through a copied KV stream, and a prompt prefix reused from the previous task. With top-k 1
/// every sequence is the greedy one, so a sequence decoded without its full prompt would stand
/// out as different from its siblings.
#[test]
fn batched_tasks_with_shared_prompts_decode_like_one_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&crucible(&[
        "eval",
        "--benchmark",
        "humaneval",
        "--tasks",
        "HumanEval/2,HumanEval/7,HumanEval/0",
        "--n",
        "3",
        "--k",
        "1",
        "--temperature",
        "1",
        "--top-k",
        "1",
        "--max-new-tokens",
        "160",
        "--out",
        out.to_str().unwrap(),
    ]));
    let samples = lines(&out.join("samples.jsonl"));
    assert_eq!(samples.len(), 9);
    for task in ["HumanEval/2", "HumanEval/7", "HumanEval/0"] {
        let texts: Vec<&Value> = samples
            .iter()
            .filter(|s| s["task_id"] == task)
            .map(|s| &s["completion"])
            .collect();
        assert_eq!(texts.len(), 3, "{task}");
        assert!(
            texts[0].as_str().is_some_and(|t| t.contains("def ")),
            "{task}: {}",
            texts[0]
        );
        assert!(texts.iter().all(|t| *t == texts[0]), "{task}: {texts:?}");
    }
    assert_eq!(lines(&out.join("results.jsonl")).len(), 9);
}

#[test]
fn a_strategy_run_writes_one_trace_per_sample() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = dir.path().join("tasks.jsonl");
    std::fs::write(
        &tasks,
        r#"{"id": "square", "language": "python", "description": "Read an integer n from standard input and print n squared.", "examples": [{"input": "3\n", "output": "9\n"}], "hidden_examples": [{"input": "12\n", "output": "144\n"}]}
{"id": "double", "language": "python", "description": "Read an integer n from standard input and print 2 * n.", "examples": [{"input": "3\n", "output": "6\n"}], "hidden_examples": [{"input": "12\n", "output": "24\n"}]}"#,
    )
    .unwrap();
    let out = dir.path().join("run");
    // Both tasks' strategies run at once, their model calls decoded together.
    ok(&crucible(&[
        "eval",
        "--benchmark",
        tasks.to_str().unwrap(),
        "--strategy",
        "repair",
        "--tasks-in-flight",
        "2",
        "--rounds",
        "1",
        "--max-new-tokens",
        "256",
        "--out",
        out.to_str().unwrap(),
    ]));
    let traces = lines(&out.join("traces.jsonl"));
    assert_eq!(traces.len(), 2);
    let config = read_json(&out.join("config.json"));
    assert_eq!(
        config["config"]["strategy"]["strategy"]["kind"], "repair",
        "{config}"
    );
    // Each judged sample is its strategy run's final program.
    let samples = lines(&out.join("samples.jsonl"));
    assert_eq!(samples.len(), 2);
    for trace in &traces {
        let outcome = &trace["outcome"];
        assert_eq!(outcome["strategy"], "repair");
        assert!(
            outcome["usage"]["model_calls"].as_u64().unwrap() >= 1,
            "{outcome}"
        );
        assert!(
            samples.iter().any(|s| s["completion"] == outcome["code"]),
            "{outcome}"
        );
    }
    let results = lines(&out.join("results.jsonl"));
    let mut judged: Vec<&str> = results
        .iter()
        .map(|r| r["task_id"].as_str().unwrap())
        .collect();
    judged.sort_unstable();
    assert_eq!(judged, ["double", "square"]);
}

#[test]
fn bad_input_is_a_clear_error() {
    let cases: &[(&[&str], &str)] = &[
        (&["eval", "--benchmark", "no-such-bench"], "humaneval"),
        (&["eval", "--benchmark", "humaneval", "--n", "0"], "--n"),
        (
            &["eval", "--benchmark", "humaneval", "--strategy", "magic"],
            "rerank+repair",
        ),
        (
            &["eval", "--benchmark", "humaneval", "--time-limit", "0"],
            "--time-limit",
        ),
        (
            &["eval", "--benchmark", "humaneval", "--tasks-in-flight", "2"],
            "--strategy",
        ),
        (
            &["eval", "--benchmark", "humaneval", "--metric", "bleu,rouge"],
            "unknown metric `rouge`",
        ),
        (
            &[
                "eval",
                "--benchmark",
                "humaneval",
                "--metric",
                "ppl",
                "--endpoint",
                "http://127.0.0.1:9/v1",
            ],
            "perplexity needs a local GGUF model",
        ),
        (
            &[
                "eval",
                "--benchmark",
                "humaneval",
                "--strategy",
                "repair",
                "--tasks-in-flight",
                "0",
            ],
            "--tasks-in-flight must be at least 1",
        ),
        (
            &[
                "eval",
                "--benchmark",
                "humaneval",
                "--strategy",
                "repair",
                "--repairs",
                "0",
            ],
            "repairs",
        ),
    ];
    for (args, needle) in cases {
        let out = crucible(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn zero_counts_are_usage_errors_like_k_zero() {
    // README's exit codes: 2 is a usage error. `--limit 0` and `--n 0` are caught before
    // anything loads, as `--k 0` is.
    for (flag, value) in [
        ("--limit", "0"),
        ("--n", "0"),
        ("--k", "0"),
        ("--limit", "x"),
    ] {
        let out = crucible(&["eval", "--benchmark", "humaneval", flag, value]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
    }
}
