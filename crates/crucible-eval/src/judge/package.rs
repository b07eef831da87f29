//! Judging a function body by its package's own tests (RepoEval's function-level completion):
//! the body replaces the function's lines in its file, and the tests that pass with the real
//! body and fail without it run with pytest over a copy of the package's tree in the sandbox
//! ([`Executor::run_package_tests`], whose docs say what that boundary holds).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crucible_exec::{Executor, Limits, PackageTestReport, PackageTestRequest, TestResult};

use crate::fetch::sha256_hex;
use crate::{Error, Result};

/// How a function task is judged. It lives in the task file beside what generation sees, and
/// names the tests, never their contents; the tree it points to must not be what retrieval
/// reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageJudge {
    /// The package's whole source tree, tests included.
    pub tree: PathBuf,
    /// The function's file, relative to the tree.
    pub path: String,
    /// The body's first and last lines in the file (1-based, inclusive).
    pub body_lines: (usize, usize),
    /// sha256 of the file as built, so a tree changed since is an error, not a wrong verdict.
    pub file_sha256: String,
    /// Directories of the tree put first on `sys.path`.
    pub python_path: Vec<String>,
    /// pytest node ids that pass with the real body and fail without it.
    pub tests: Vec<String>,
}

/// What the tests said of one body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BodyVerdict {
    /// Every test passed, in a session that finished with exit status 0.
    pub passed: bool,
    pub tests: usize,
    pub tests_passed: usize,
    /// The first test that did not pass, and how (`failed`, `error`, `skipped`, `not run`).
    pub first_failure: Option<String>,
    /// A limit the run hit (`cpu_time`, `wall_time`, `output`, `memory`).
    pub limit: Option<String>,
    pub seconds: f64,
}

/// The limits of one run of a package's tests: two minutes of CPU time, 2 GiB.
pub fn package_limits() -> Limits {
    let mut limits = Limits::new(Duration::from_secs(120), 2 << 30);
    limits.wall_time = Duration::from_secs(300);
    limits.tmp_bytes = 256 << 20;
    limits.processes = 128;
    limits
}

/// The file of `judge` with its body's lines replaced by `body` (a trailing newline added when
/// missing).
pub fn splice(judge: &PackageJudge, body: &str) -> Result<String> {
    let path = judge.tree.join(&judge.path);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    if sha256_hex(text.as_bytes()) != judge.file_sha256 {
        return Err(Error::Malformed {
            path,
            message: "the file changed since the task was built; build the tasks again".into(),
        });
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (first, last) = judge.body_lines;
    if first == 0 || first > last || last > lines.len() {
        return Err(Error::Malformed {
            path,
            message: format!(
                "the body's lines {first}-{last} are not lines of the file ({} lines)",
                lines.len()
            ),
        });
    }
    let mut out: String = lines[..first - 1].concat();
    out.push_str(body);
    if !body.is_empty() && !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&lines[last..].concat());
    Ok(out)
}

/// Run `judge`'s tests with `body` in place of the function's body.
pub fn judge_body(
    executor: &Executor,
    judge: &PackageJudge,
    body: &str,
    limits: Limits,
) -> Result<BodyVerdict> {
    let text = splice(judge, body)?;
    let report = executor
        .run_package_tests(&PackageTestRequest {
            tree: judge.tree.clone(),
            replace: vec![(judge.path.clone(), text)],
            python_path: judge.python_path.clone(),
            tests: judge.tests.clone(),
            limits,
        })
        .map_err(|err| Error::Executor(Box::new(err)))?;
    Ok(verdict(judge, &report))
}

/// The verdict of `report` on `judge`'s tests.
pub fn verdict(judge: &PackageJudge, report: &PackageTestReport) -> BodyVerdict {
    let tests_passed = judge
        .tests
        .iter()
        .filter(|t| report.outcomes.get(*t) == Some(&TestResult::Passed))
        .count();
    let first_failure = judge.tests.iter().find_map(|t| {
        let how = match report.outcomes.get(t) {
            Some(TestResult::Passed) => return None,
            Some(TestResult::Failed) => "failed",
            Some(TestResult::Error) => "error",
            Some(TestResult::Skipped | TestResult::Xfailed) => "skipped",
            None => "not run",
        };
        Some(format!("{t} {how}"))
    });
    BodyVerdict {
        passed: report.all_passed(&judge.tests),
        tests: judge.tests.len(),
        tests_passed,
        first_failure,
        limit: report.limit.clone(),
        seconds: report.wall_ms as f64 / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(dir: &std::path::Path, text: &str) -> PackageJudge {
        std::fs::write(dir.join("m.py"), text).unwrap();
        PackageJudge {
            tree: dir.to_path_buf(),
            path: "m.py".into(),
            body_lines: (2, 3),
            file_sha256: sha256_hex(text.as_bytes()),
            python_path: vec![String::new()],
            tests: vec!["t.py::a".into()],
        }
    }

    #[test]
    fn a_body_replaces_exactly_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let text = "def f(x):\n    y = x\n    return y\n\nZ = 1\n";
        let judge = judge(dir.path(), text);
        assert_eq!(
            splice(&judge, "    return 2 * x").unwrap(),
            "def f(x):\n    return 2 * x\n\nZ = 1\n"
        );
        assert_eq!(splice(&judge, "").unwrap(), "def f(x):\n\nZ = 1\n");
        let mut out_of_range = judge.clone();
        out_of_range.body_lines = (4, 9);
        assert!(splice(&out_of_range, "x").is_err());
        std::fs::write(dir.path().join("m.py"), "changed\n").unwrap();
        let err = splice(&judge, "x").unwrap_err().to_string();
        assert!(err.contains("changed since"), "{err}");
    }

    #[test]
    fn the_verdict_names_the_first_test_that_did_not_pass() {
        let dir = tempfile::tempdir().unwrap();
        let mut judge = judge(dir.path(), "x\n");
        judge.tests = vec!["a".into(), "b".into(), "c".into()];
        let report = PackageTestReport {
            outcomes: [
                ("a".to_string(), TestResult::Passed),
                ("b".to_string(), TestResult::Error),
            ]
            .into(),
            collect_errors: vec![],
            exit_status: Some(1),
            limit: None,
            output_tail: String::new(),
            wall_ms: 1500,
            cpu_ms: 1000,
        };
        let v = verdict(&judge, &report);
        assert!(!v.passed);
        assert_eq!((v.tests, v.tests_passed), (3, 1));
        assert_eq!(v.first_failure.as_deref(), Some("b error"));
        assert_eq!(v.seconds, 1.5);
    }
}
