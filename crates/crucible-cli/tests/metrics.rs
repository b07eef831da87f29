//! `--metric` and `crucible compare` end to end: `crucible score --metric` compares HumanEval samples with the reference solutions (or the references the samples file gives) into metrics.jsonl, summary.json, the table and report.html; three runs are compared; bad input is a clear error before anything is judged.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn data_dir() -> PathBuf {
    std::env::var_os("CRUCIBLE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn run(home: &Path, args: &[&str]) -> Output {
    #[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .env("CRUCIBLE_HOME", home)
        .env("CRUCIBLE_DATA", data_dir())
        .env_remove("CRUCIBLE_ENDPOINT")
        .env_remove("CRUCIBLE_MODEL")
        .output()
        .unwrap();
    out
}

/// `crucible score --benchmark humaneval SAMPLES --out OUT --k 1 EXTRA...`.
fn score(home: &Path, samples: &Path, out: &Path, extra: &[&str]) -> Output {
    let args = [
        &[
            "score",
            "--benchmark",
            "humaneval",
            samples.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--k",
            "1",
        ][..],
        extra,
    ]
    .concat();
    run(home, &args)
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "crucible failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "crucible succeeded: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The canonical solution of HumanEval/2 and HumanEval/4, and a wrong answer to each.
const RIGHT: [(&str, &str); 2] = [
    ("HumanEval/2", "    return number % 1.0\n"),
    (
        "HumanEval/4",
        "    mean = sum(numbers) / len(numbers)\n    return sum(abs(x - mean) for x in numbers) / len(numbers)\n",
    ),
];
const WRONG: &str = "    return 0.0\n";

fn samples(dir: &Path, name: &str, lines: &[Value]) -> PathBuf {
    let path = dir.join(name);
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&path, text.join("\n")).unwrap();
    path
}

fn completion(task_id: &str, code: &str) -> Value {
    serde_json::json!({"task_id": task_id, "completion": code})
}

#[test]
fn scored_samples_get_metrics_and_runs_are_compared() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // One right and one wrong answer: exact match and the verdict agree.
    let mixed = samples(
        dir.path(),
        "mixed.jsonl",
        &[
            completion(RIGHT[0].0, RIGHT[0].1),
            completion(RIGHT[1].0, WRONG),
        ],
    );
    let out = dir.path().join("mixed");
    let stdout = ok(&score(
        &home,
        &mixed,
        &out,
        &["--metric", "bleu,codebleu,em,es,idmatch"],
    ));
    assert!(stdout.contains("pass@1"), "{stdout}");
    assert!(stdout.contains("metrics (python, 2 samples)"), "{stdout}");
    assert!(
        stdout.contains("which score predicts the verdict"),
        "{stdout}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let of = |id: &str| lines.iter().find(|l| l["task_id"] == id).unwrap();
    // The completion after the prompt is the reference solution after the prompt.
    assert_eq!(of("HumanEval/2")["exact_match"], true);
    assert!((of("HumanEval/2")["bleu"].as_f64().unwrap() - 100.0).abs() < 1e-9);
    assert!((of("HumanEval/2")["codebleu"]["codebleu"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(of("HumanEval/4")["exact_match"], false);
    let summary = read_json(&out.join("summary.json"));
    let metrics = &summary["metrics"];
    assert_eq!(metrics, &read_json(&out.join("metrics.json")));
    assert_eq!(metrics["corpus"][0]["exact_match"], 0.5);
    assert!(
        metrics["corpus"][0]["bleu"]["signature"]
            .as_str()
            .unwrap()
            .starts_with("nrefs:1|"),
        "{metrics}"
    );
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("<svg"), "the report plots the AUROCs");
    let outside = report.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!outside.contains("http"), "nothing is fetched");

    // A re-run with another metric adds it; the earlier ones stay.
    let stdout = ok(&score(&home, &mixed, &out, &["--metric", "es"]));
    assert!(stdout.contains("metrics (python, 2 samples)"), "{stdout}");
    let metrics = read_json(&out.join("metrics.json"));
    assert!(metrics["corpus"][0]["codebleu"].is_object(), "{metrics}");

    // References given in the samples file replace the task's: a whole wrong program is its
    // own reference here.
    let program = "def mean_absolute_deviation(numbers):\n    return 0.0\n";
    let given = samples(
        dir.path(),
        "given.jsonl",
        &[serde_json::json!({"task_id": RIGHT[1].0, "solution": program, "reference": program})],
    );
    let given_out = dir.path().join("given");
    ok(&score(&home, &given, &given_out, &["--metric", "em"]));
    let line = read_json_line(&given_out.join("metrics.jsonl"));
    assert_eq!(line["exact_match"], true, "{line}");

    // Three runs whose exact-match rates order them as their pass rates do.
    let right = samples(
        dir.path(),
        "right.jsonl",
        &RIGHT.map(|(id, code)| completion(id, code)),
    );
    let wrong = samples(
        dir.path(),
        "wrong.jsonl",
        &RIGHT.map(|(id, _)| completion(id, WRONG)),
    );
    let (right_out, wrong_out) = (dir.path().join("right"), dir.path().join("wrong"));
    ok(&score(&home, &right, &right_out, &["--metric", "em"]));
    ok(&score(&home, &wrong, &wrong_out, &["--metric", "em"]));
    let html = dir.path().join("compare.html");
    let runs = [
        "compare",
        right_out.to_str().unwrap(),
        out.to_str().unwrap(),
        wrong_out.to_str().unwrap(),
    ];
    let stdout = ok(&run(
        &home,
        &[&runs[..], &["--html", html.to_str().unwrap()]].concat(),
    ));
    assert!(stdout.contains("Kendall's tau-b"), "{stdout}");
    // `--json`: the comparison on stdout instead of the table.
    let stdout = ok(&run(&home, &[&runs[..], &["--json"]].concat()));
    let comparison: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let tau = comparison["metrics"]["agreement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["score"] == "exact_match" && row["group"] == "all")
        .unwrap_or_else(|| panic!("{comparison}"));
    assert_eq!(tau["kendall_tau"], 1.0, "{tau}");
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
    // A run without metrics is compared without the metrics section, and says why.
    let plain = dir.path().join("plain");
    ok(&score(&home, &right, &plain, &[]));
    let stdout = ok(&run(
        &home,
        &[
            "compare",
            right_out.to_str().unwrap(),
            plain.to_str().unwrap(),
        ],
    ));
    assert!(stdout.contains("has no metrics"), "{stdout}");
    assert!(stdout.contains("--metric"), "{stdout}");
    assert!(
        stdout
            .contains("McNemar exact: 0 pass only in the first, 0 only in the second, p = 1.0000"),
        "{stdout}"
    );
}

fn read_json_line(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

#[test]
fn bad_metric_input_is_a_clear_error_before_judging() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let file = samples(dir.path(), "s.jsonl", &[completion(RIGHT[0].0, RIGHT[0].1)]);
    let out = dir.path().join("out");
    let cases: &[(&[&str], &str)] = &[
        (&["--metric", "bleu,rouge"], "unknown metric `rouge`"),
        (&["--metric", "bleu,rouge"], "codebleu"),
        (
            &["--metric", "ppl", "--endpoint", "http://127.0.0.1:9/v1"],
            "perplexity needs a local GGUF model",
        ),
        (
            &[
                "--metric",
                "bleu",
                "--judge-model",
                "qwen2.5-coder-0.5b-instruct",
            ],
            "`--metric judge`",
        ),
        (
            &["--judge-endpoint", "http://127.0.0.1:9/v1"],
            "`--metric judge`",
        ),
        (&["--metric", "bleu", "--model", "x"], "--metric ppl"),
        (
            &["--metric", "judge", "--judge-batch", "0"],
            "--judge-batch",
        ),
    ];
    for (extra, needle) in cases {
        let stderr = failed(&score(&home, &file, &out, extra));
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
        assert!(!out.join("results.jsonl").exists(), "{extra:?} judged");
    }
    // A malformed `reference` is reported with its line.
    let bad = samples(
        dir.path(),
        "bad.jsonl",
        &[serde_json::json!({"task_id": RIGHT[0].0, "completion": RIGHT[0].1, "reference": 7})],
    );
    let stderr = failed(&score(&home, &bad, &out, &["--metric", "bleu"]));
    assert!(stderr.contains("line 1"), "{stderr}");
    assert!(stderr.contains("`reference` must be a string"), "{stderr}");
    // Comparing needs two runs.
    let stderr = failed(&run(&home, &["compare", out.to_str().unwrap()]));
    assert!(stderr.contains("at least two"), "{stderr}");
}
