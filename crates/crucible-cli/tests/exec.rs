//! `crucible exec` end to end: verdicts, JSON shape, exit codes and bad input.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// A scratch directory for one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("crucible-cli-exec-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiled programs are shared between tests through one cache directory.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exec-cli-cache")
}

fn crucible(args: &[&str]) -> Output {
    #[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crucible"))
        .arg("exec")
        .args(args)
        .arg("--cache-dir")
        .arg(cache_dir())
        .output()
        .unwrap();
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn stdin_and_expected_output() {
    let s = Scratch::new("io");
    let program = s.file(
        "sum.py",
        b"a, b = map(int, input().split())\nprint(a + b)\n",
    );
    let input = s.file("in.txt", b"2 3\n");
    let good = s.file("good.txt", b"5\n");
    let bad = s.file("bad.txt", b"6\n");
    let out = crucible(&[
        path(&program),
        "--stdin",
        path(&input),
        "--expect",
        path(&good),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(report["status"], "passed");
    assert_eq!(report["sandboxed"], true);
    for key in ["tests", "compile_ms", "run_ms", "peak_memory_kb"] {
        assert!(report.get(key).is_some(), "missing {key}: {report}");
    }
    let out = crucible(&[
        path(&program),
        "--stdin",
        path(&input),
        "--expect",
        path(&bad),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let report = json(&out);
    assert_eq!(report["status"], "wrong_answer");
    assert_eq!(report["failure"]["line"], 1);
    assert_eq!(report["failure"]["expected"], "6\n");
    assert_eq!(report["failure"]["actual"], "5\n");
}

#[test]
fn test_code_gives_per_test_outcomes() {
    let s = Scratch::new("tests");
    let program = s.file(
        "add.py",
        b"def add(a, b):\n    return a + b if a < 5 else 0\n",
    );
    let tests = s.file(
        "test.py",
        b"def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(5, 5) == 10\n",
    );
    let out = crucible(&[
        path(&program),
        "--tests",
        path(&tests),
        "--entry-point",
        "add",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let report = json(&out);
    assert_eq!(report["status"], "wrong_answer");
    let statuses: Vec<&str> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["passed", "wrong_answer"]);
}

#[test]
fn compiled_language_and_plain_text_output() {
    let s = Scratch::new("c");
    let program = s.file(
        "hello.c",
        b"#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
    );
    let out = crucible(&[path(&program)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("verdict: passed"), "{text}");
    assert!(text.contains("hi"), "{text}");
    let broken = s.file("broken.c", b"int main(void) { return x; }\n");
    let out = crucible(&[path(&broken), "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let report = json(&out);
    assert_eq!(report["status"], "compile_error");
    assert!(
        report["failure"]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("error")
    );
}

#[test]
fn no_sandbox_is_reported_and_leaves_the_host_tmp_alone() {
    let s = Scratch::new("nosandbox");
    // Regression: the unsandboxed Python worker once wiped its TMPDIR, which was the host's
    // /tmp. Files of others in the temporary directory must survive.
    let bystander = s.file("bystander.txt", b"keep me");
    let program = s.file("p.py", b"print('x')\n");
    let out = crucible(&[path(&program), "--no-sandbox", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["sandboxed"], false);
    assert_eq!(std::fs::read(&bystander).unwrap(), b"keep me");
}

#[test]
fn bad_input_is_a_clear_error() {
    let s = Scratch::new("bad");
    let empty = s.file("empty.py", b"");
    let binary = s.file("binary.py", &[0xff, 0xfe, 0x00, 0x9c, 0x80]);
    let ok = s.file("ok.py", b"print(1)\n");
    let missing = s.0.join("missing.py");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![path(&empty)], "the source is empty"),
        (vec![path(&binary)], "not UTF-8 text"),
        (vec![path(&missing)], "cannot read the program file"),
        (
            vec!["--lang", "cobol", path(&ok)],
            "unknown language `cobol`",
        ),
        (
            vec![path(&ok), "--time-limit", "0"],
            "--time-limit must be a positive",
        ),
        (vec![path(&ok), "--memory-limit", "1"], "out of range"),
        (vec![path(&ok), "--time-limit", "100000"], "out of range"),
    ];
    for (args, message) in cases {
        let out = crucible(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
