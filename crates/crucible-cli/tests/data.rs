//! `crucible data`: the benchmark list and `show`.

use std::path::{Path, PathBuf};
use std::process::Output;

fn data_dir() -> PathBuf {
    std::env::var_os("CRUCIBLE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn crucible(args: &[&str]) -> Output {
    #[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crucible"))
        .arg("data")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir())
        .output()
        .unwrap();
    out
}

#[test]
fn list_shows_every_benchmark() {
    let out = crucible(&["list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expect in [
        "humaneval       164",
        "mbpp-plus       399",
        "apps            49 (101 records not used)",
        "codenet         3816 (183 records not used)",
    ] {
        assert!(stdout.contains(expect), "missing `{expect}` in:\n{stdout}");
    }
}

#[test]
fn show_prints_only_the_visible_task() {
    let out = crucible(&["show", "humaneval", "HumanEval/2"]);
    let task: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        task["visible"]["code"],
        "assert truncate_number(3.5) == 0.5\n"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("check(candidate)"));
    let missing = crucible(&["show", "humaneval", "HumanEval/999"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no task `HumanEval/999` in `humaneval`")
    );
}
