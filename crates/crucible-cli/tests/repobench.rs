//! `crucible data repobench` and `crucible repobench` on a tiny Python package and Rust crate:
//! the task file and manifest, a scored run with scripted answers, resuming, and bad input.

use std::path::Path;
use std::process::Output;

#[cfg(feature = "embeddings")]
#[path = "support/embedding_model.rs"]
mod embedding_model;

fn crucible(home: &Path, args: &[&str]) -> Output {
    #[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .env("CRUCIBLE_HOME", home)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    out
}

fn ok(out: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    (stdout, stderr)
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn build_then_evaluate_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let py = dir.path().join("geo-1.0");
    write(&py, "geo/__init__.py", "");
    write(
        &py,
        "geo/shapes.py",
        "class Circle:\n    def __init__(self, r):\n        self.r = r\n",
    );
    write(
        &py,
        "geo/report.py",
        "import os\nfrom .shapes import Circle\n\n\ndef build(radius):\n    scale = os.sep\n    c = Circle(radius)\n    again = Circle(radius + 1)\n    return [c.r, again.r, scale]\n",
    );
    let rs = dir.path().join("kit-0.1.0");
    write(&rs, "src/lib.rs", "pub mod util;\npub mod report;\n");
    write(
        &rs,
        "src/util.rs",
        "pub fn parse_line(s: &str) -> usize {\n    s.len()\n}\n",
    );
    write(
        &rs,
        "src/report.rs",
        "use crate::util::parse_line;\n\n\n\npub fn render(lines: &[&str]) -> usize {\n    let total: usize = lines.iter().map(|l| parse_line(l)).sum();\n    let again = parse_line(\"x\");\n    total + again\n}\n",
    );
    let out = dir.path().join("rb");
    let (stdout, stderr) = ok(&crucible(
        &home,
        &[
            "data",
            "repobench",
            "--from",
            py.to_str().unwrap(),
            "--from",
            rs.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--per-setting",
            "2",
            "--json",
        ],
    ));
    let manifest: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(manifest["repos"][0]["name"], "geo");
    assert_eq!(manifest["repos"][1]["version"], "0.1.0");
    assert!(stderr.contains("wrote"), "{stderr}");
    let tasks = std::fs::read_to_string(out.join("tasks.jsonl")).unwrap();
    let n = tasks.lines().count();
    assert!(n >= 4, "{tasks}");
    assert!(tasks.contains("\"cross_file_first\"") && tasks.contains("\"in_file\""));

    let answers = dir.path().join("answers.json");
    std::fs::write(&answers, r#"["    c = Circle(radius)"]"#).unwrap();
    let run = dir.path().join("run");
    let args = |context: &'static str| -> Vec<String> {
        [
            "repobench",
            "--tasks",
            out.join("tasks.jsonl").to_str().unwrap(),
            "--run",
            run.to_str().unwrap(),
            "--context",
            context,
            "--scripted-answers",
            answers.to_str().unwrap(),
        ]
        .map(str::to_string)
        .to_vec()
    };
    let bm25 = args("bm25");
    let bm25: Vec<&str> = bm25.iter().map(String::as_str).collect();
    let (stdout, stderr) = ok(&crucible(&home, &bm25));
    assert!(
        stderr.contains(&format!("0 tasks done before, {n} to do")),
        "{stderr}"
    );
    assert!(
        stdout.contains("bm25") && stdout.contains("EM%"),
        "{stdout}"
    );
    let results = std::fs::read_to_string(run.join("bm25.jsonl")).unwrap();
    assert_eq!(results.lines().count(), n);
    assert!(run.join("index/geo-1.0").is_dir());
    // Again: nothing is predicted twice.
    let (_, stderr) = ok(&crucible(&home, &bm25));
    assert!(
        stderr.contains(&format!("{n} tasks done before, 0 to do")),
        "{stderr}"
    );
    // The summary alone.
    let (stdout, _) = ok(&crucible(
        &home,
        &["repobench", "--run", run.to_str().unwrap(), "--json"],
    ));
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(rows.as_array().unwrap().iter().all(|r| r["mode"] == "bm25"));
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("against_in_file").is_none()),
        "no in-file run to pair with: {stdout}"
    );
    // With in-file context too, each setting's row says what BM25 gained and lost against it.
    let in_file = args("in-file");
    let in_file: Vec<&str> = in_file.iter().map(String::as_str).collect();
    let (stdout, _) = ok(&crucible(&home, &in_file));
    assert!(stdout.contains("vs in-file (EM/pass)"), "{stdout}");
    let bm25_row = stdout
        .lines()
        .find(|line| line.starts_with("bm25 "))
        .expect("a bm25 row");
    assert!(
        bm25_row.contains(" p=") || bm25_row.contains(" p<"),
        "{stdout}"
    );

    // Bad input names the problem.
    let bad = crucible(
        &home,
        &[
            "data",
            "repobench",
            "--from",
            dir.path().join("nope").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("nope"), "{stderr}");
}

#[test]
fn function_tasks_are_judged_by_the_package_tests() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let py = dir.path().join("calc-2.0");
    write(&py, "calc/__init__.py", "");
    write(
        &py,
        "calc/stats.py",
        "def mean(xs):\n    \"\"\"The mean of a non-empty list.\"\"\"\n    total = sum(xs)\n    count = len(xs)\n    return total / count\n",
    );
    write(
        &py,
        "tests/test_stats.py",
        "from calc.stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n",
    );
    let out = dir.path().join("rb");
    let (stdout, stderr) = ok(&crucible(
        &home,
        &[
            "data",
            "repobench",
            "--from",
            py.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--per-setting",
            "1",
            "--functions",
            "3",
            "--json",
        ],
    ));
    assert!(
        stderr.contains("calc-2.0: 1 tests pass with the real code"),
        "{stderr}"
    );
    assert!(stderr.contains("[1/3] calc-2.0 mean: 1 tests"), "{stderr}");
    let manifest: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(manifest["tasks"]["function"], 1);
    assert_eq!(manifest["functions"][0]["baseline_passed"], 1);
    assert!(out.join("context/calc-2.0/calc/stats.py").is_file());
    assert!(!out.join("context/calc-2.0/tests").exists());

    let answers = dir.path().join("answers.json");
    std::fs::write(&answers, r#"["    return sum(xs) / len(xs)\n"]"#).unwrap();
    let run = dir.path().join("run");
    let (stdout, stderr) = ok(&crucible(
        &home,
        &[
            "repobench",
            "--tasks",
            out.join("tasks.jsonl").to_str().unwrap(),
            "--run",
            run.to_str().unwrap(),
            "--context",
            "bm25",
            "--scripted-answers",
            answers.to_str().unwrap(),
        ],
    ));
    assert!(
        stderr.contains("calc-2.0/calc/stats.py:3::mean PASS (1/1 tests)"),
        "{stderr}"
    );
    let row = stdout
        .lines()
        .find(|line| line.starts_with("bm25") && line.contains("function"))
        .unwrap_or_else(|| panic!("a function row: {stdout}"));
    assert!(row.contains(" 100.0 "), "{row}");
}

/// A task file of one small Python package: a next line that calls an imported function.
#[cfg(feature = "embeddings")]
fn one_package(dir: &Path, home: &Path) -> std::path::PathBuf {
    let py = dir.join("geo-1.0");
    write(&py, "geo/__init__.py", "");
    write(
        &py,
        "geo/shapes.py",
        "def circle_area(radius):\n    \"\"\"The area of a circle.\"\"\"\n    return 3.14159 * radius * radius\n",
    );
    write(
        &py,
        "geo/units.py",
        "def inches_to_cm(inches):\n    return inches * 2.54\n",
    );
    write(
        &py,
        "geo/report.py",
        "from .shapes import circle_area\n\n\ndef build(radius):\n    area = circle_area(radius)\n    again = circle_area(radius + 1)\n    return [area, again]\n",
    );
    let out = dir.join("rb");
    ok(&crucible(
        home,
        &[
            "data",
            "repobench",
            "--from",
            py.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--per-setting",
            "1",
        ],
    ));
    out.join("tasks.jsonl")
}

#[cfg(feature = "embeddings")]
#[test]
fn hybrid_context_embeds_the_repository_and_reports_its_own_rows() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let tasks = one_package(dir.path(), &home);
    let answers = dir.path().join("answers.json");
    std::fs::write(&answers, r#"["    area = circle_area(radius)"]"#).unwrap();
    let run = dir.path().join("run");
    let args = |context: &'static str| -> Vec<String> {
        [
            "repobench",
            "--tasks",
            tasks.to_str().unwrap(),
            "--run",
            run.to_str().unwrap(),
            "--context",
            context,
            "--scripted-answers",
            answers.to_str().unwrap(),
        ]
        .map(str::to_string)
        .to_vec()
    };
    // Without the model: the error says how to install it, and nothing is predicted.
    let hybrid = args("hybrid");
    let hybrid: Vec<&str> = hybrid.iter().map(String::as_str).collect();
    let out = crucible(&home, &hybrid);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scripts/embedding-model.sh"), "{stderr}");
    assert!(!run.join("hybrid.jsonl").exists());

    embedding_model::link_embedding_model(&home);
    for context in ["hybrid", "hybrid-iterative"] {
        let args = args(context);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&crucible(&home, &args));
    }
    assert!(run.join("index/geo-1.0/vectors.bin").is_file());
    let results = std::fs::read_to_string(run.join("hybrid.jsonl")).unwrap();
    let results: Vec<serde_json::Value> = results
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(results.iter().all(|r| r["mode"] == "hybrid"));
    // A task after `from .shapes import circle_area` has its definition, and every task what
    // the hybrid search ranked (units.py shares no word with the code before the line: the
    // embedding ranking brings it).
    let contexts: Vec<&str> = results
        .iter()
        .flat_map(|r| r["context"].as_array().unwrap())
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        contexts.contains(&"geo/shapes.py:1-3 (Definition)"),
        "{contexts:?}"
    );
    assert!(
        contexts.contains(&"geo/units.py:1-2 (Hybrid)"),
        "{contexts:?}"
    );
    let iterative = std::fs::read_to_string(run.join("hybrid_iterative.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(iterative.lines().next().unwrap()).unwrap();
    assert!(first["draft"].is_string(), "{first}");
    let (stdout, _) = ok(&crucible(
        &home,
        &["repobench", "--run", run.to_str().unwrap()],
    ));
    assert!(
        stdout.contains("hybrid ") && stdout.contains("hybrid_iterative "),
        "{stdout}"
    );
}
