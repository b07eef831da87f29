//! A package's own test suite, run with pytest over a copy of its source tree in the sandbox:
//! the judge of function-level completion, where a model's function body is tested by the
//! tests its repository ships (RepoEval's recipe).
//!
//! The tree is copied into a run directory with the request's files replaced (a model's
//! version of one module), and bound read-only at `/repo`; the interpreter's own packages
//! (`/usr`, where Debian's `python3-pytest` lives) are read-only as always. Nothing is written
//! back: no bytecode (`PYTHONDONTWRITEBYTECODE`), no pytest cache, and `/tmp` is the sandbox's
//! own. A plugin of ours, loaded before pytest starts capturing output, writes each test's
//! outcome as one JSON line on a private copy of the standard output, and a last line when
//! the session finishes, so the trusted parent reads outcomes per test rather than parsing
//! pytest's text.
//!
//! **Trust.** Unlike the Python harness of function tasks, the package's tests run in the same
//! interpreter as the code under test: they call it directly, with the package's own objects,
//! which no process boundary could carry. The sandbox contains whatever that code does (no
//! network, a read-only tree, the limits), and a test counts as passed only when the plugin
//! saw its setup, call and teardown pass and the session finished with pytest's exit code 0,
//! so a body that exits the interpreter, kills pytest or stops reporting fails. A body written
//! to forge the plugin's lines could still fake a pass; any judge that runs a repository's
//! tests in-process shares that limit.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::runner::{base_env, bind, ms};
use crate::sandbox::{Command, Exit, Kill, Sandbox, Stdin};
use crate::{Error, Result};

/// Where the tree copy is bound inside the sandbox.
const REPO: &str = "/repo";
/// Where the plugin is bound inside the sandbox.
const PLUGIN_DIR: &str = "/opt/crucible-pytest";
const PLUGIN_MODULE: &str = "crucible_pytest_report";
/// Starts every line the plugin writes.
const MARK: &str = "\u{1e}crucible-pytest ";
/// Bytes of a tree copied at most.
const MAX_TREE_BYTES: u64 = 512 << 20;
/// Directories never copied: version control, caches, environments.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".tox",
    ".nox",
    ".venv",
    "node_modules",
];

/// The plugin: one JSON line per test (its worst phase) and one when the session ends.
const PLUGIN: &str = r#""""Crucible's pytest plugin: each test's outcome on a private copy of stdout."""
import json
import os

_MARK = "\x1ecrucible-pytest "
# Imported through `-p` before pytest captures output, so fd 1 is still the real stdout.
_FD = os.dup(1)
_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "failed": 2, "error": 3}
_seen = {}


def _emit(entry):
    # pytest's progress shares the stream: a line of our own, whatever came before.
    data = ("\n" + _MARK + json.dumps(entry) + "\n").encode()
    while data:
        data = data[os.write(_FD, data):]


def pytest_runtest_logreport(report):
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
    else:
        outcome = "passed"
    worst = _seen.get(report.nodeid, "passed")
    if _RANK[outcome] > _RANK[worst]:
        worst = outcome
    _seen[report.nodeid] = worst
    if report.when == "teardown":
        _emit({"test": report.nodeid, "outcome": _seen.pop(report.nodeid)})


def pytest_collectreport(report):
    if report.failed:
        _emit({"collect_error": report.nodeid})


def pytest_sessionfinish(session, exitstatus):
    _emit({"finished": int(exitstatus)})
"#;

/// One run of a package's tests.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageTestRequest {
    /// The package's source tree on the host (read, never written).
    pub tree: PathBuf,
    /// Files of the tree whose text is replaced in the copy: `(path relative to the tree,
    /// text)`. Each must exist in the tree.
    pub replace: Vec<(String, String)>,
    /// Directories of the tree put first on `sys.path` (`"src"` for a src layout, `""` for the
    /// root), so the package is imported from the copy and never from an installed version.
    pub python_path: Vec<String>,
    /// Test selectors handed to pytest (node ids such as `tests/test_a.py::test_b`, or paths);
    /// empty runs every test pytest finds.
    pub tests: Vec<String>,
    pub limits: Limits,
}

/// A test's outcome: its worst phase (setup, call, teardown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestResult {
    Passed,
    Skipped,
    /// An expected failure (`xfail`) that failed.
    Xfailed,
    Failed,
    /// Its setup or teardown failed.
    Error,
}

/// What a run of a package's tests did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageTestReport {
    /// Every test pytest reported, by node id.
    pub outcomes: BTreeMap<String, TestResult>,
    /// Test files or modules pytest could not collect.
    pub collect_errors: Vec<String>,
    /// pytest's exit status, when the session reached its end (`None`: the run ended before,
    /// killed, crashed, or a program in it exited the interpreter).
    pub exit_status: Option<i32>,
    /// The limit the supervisor stopped the run at, if any: `cpu_time`, `wall_time`,
    /// `output` or `memory`.
    pub limit: Option<String>,
    /// The end of pytest's own output (its failure reports), without the plugin's lines.
    pub output_tail: String,
    pub wall_ms: u64,
    pub cpu_ms: u64,
}

impl PackageTestReport {
    /// Whether every one of `tests` (node ids) passed, in a session that finished with exit
    /// status 0. An empty list is never a pass.
    pub fn all_passed(&self, tests: &[String]) -> bool {
        self.exit_status == Some(0)
            && !tests.is_empty()
            && tests
                .iter()
                .all(|t| self.outcomes.get(t) == Some(&TestResult::Passed))
    }

    /// Node ids that passed.
    pub fn passed(&self) -> impl Iterator<Item = &str> {
        self.outcomes
            .iter()
            .filter(|(_, r)| **r == TestResult::Passed)
            .map(|(id, _)| id.as_str())
    }
}

/// Run `request` with `python` (the interpreter's path) in `sandbox`.
pub(crate) fn run(
    sandbox: &Sandbox,
    python: &Path,
    request: &PackageTestRequest,
) -> Result<PackageTestReport> {
    request.limits.validate()?;
    let dir = sandbox.run_dir()?;
    let result = run_in(sandbox, python, request, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(
    sandbox: &Sandbox,
    python: &Path,
    request: &PackageTestRequest,
    dir: &Path,
) -> Result<PackageTestReport> {
    let tree = dir.join("repo");
    copy_tree(&request.tree, &tree)?;
    for (path, text) in &request.replace {
        let relative = relative_path(path)?;
        let target = tree.join(relative);
        if !target.is_file() {
            return Err(Error::InvalidRequest(
                "a replaced file is not a file of the tree",
            ));
        }
        std::fs::write(&target, text).map_err(|e| Error::io(&target, e))?;
    }
    let plugin_dir = dir.join("plugin");
    std::fs::create_dir_all(&plugin_dir).map_err(|e| Error::io(&plugin_dir, e))?;
    let plugin = plugin_dir.join(format!("{PLUGIN_MODULE}.py"));
    std::fs::write(&plugin, PLUGIN).map_err(|e| Error::io(&plugin, e))?;

    let mut python_path: Vec<String> = request
        .python_path
        .iter()
        .map(|p| {
            relative_path(p)?;
            Ok(if p.is_empty() || p == "." {
                REPO.to_owned()
            } else {
                format!("{REPO}/{}", p.trim_end_matches('/'))
            })
        })
        .collect::<Result<_>>()?;
    python_path.push(PLUGIN_DIR.to_owned());
    let mut args: Vec<String> = [
        "-B",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        PLUGIN_MODULE,
        "-q",
        "-rN",
        "--color=no",
        "--tb=short",
        "--rootdir",
        REPO,
    ]
    .map(String::from)
    .to_vec();
    // A selector starting with `-` would be read as an option.
    args.push("--".to_owned());
    args.extend(request.tests.iter().cloned());
    let command = Command {
        program: python.to_path_buf(),
        args,
        env: [
            base_env(),
            vec![
                ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
                ("PYTHONHASHSEED".into(), "0".into()),
                ("PYTHONPATH".into(), python_path.join(":")),
            ],
        ]
        .concat(),
        binds: vec![
            bind(&tree, REPO, false),
            bind(&plugin_dir, PLUGIN_DIR, false),
        ],
        cwd: Some(PathBuf::from(REPO)),
        stdin: Stdin::Null,
        extra_fds: vec![],
        limits: request.limits,
        as_init: false,
        address_space_limit: false,
    };
    let outcome = sandbox.run(command)?;
    let stdout = String::from_utf8_lossy(&outcome.stdout);
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    if stderr.contains("No module named pytest") {
        return Err(Error::ToolchainMissing {
            language: crucible_types::Language::Python,
            binary: format!("pytest (for {})", python.display()),
            package: "python3-pytest",
        });
    }
    let mut report = parse(&stdout);
    let mut output: String = stdout
        .lines()
        .filter(|l| !l.contains(MARK))
        .map(|l| format!("{l}\n"))
        .collect();
    output.push_str(&stderr);
    report.output_tail = crate::report::tail(output.as_bytes());
    report.limit = match (outcome.killed, outcome.oom) {
        (Some(Kill::CpuTime), _) => Some("cpu_time".into()),
        (Some(Kill::WallTime), _) => Some("wall_time".into()),
        (Some(Kill::Output), _) => Some("output".into()),
        (None, true) => Some("memory".into()),
        (None, false) => None,
    };
    // The session line alone is not enough: the interpreter must also have exited with it,
    // within the limits.
    if report.limit.is_some() || report.exit_status.map(Exit::Code) != Some(outcome.exit) {
        report.exit_status = None;
    }
    report.wall_ms = ms(outcome.wall);
    report.cpu_ms = ms(outcome.cpu);
    Ok(report)
}

/// The plugin's lines of `stdout` (each starts a line; whatever precedes the mark on it is
/// pytest's progress, which the plugin cannot see). Anything after the session line is
/// ignored, and a test reported twice keeps its worst outcome.
fn parse(stdout: &str) -> PackageTestReport {
    #[derive(Deserialize)]
    struct Line {
        test: Option<String>,
        outcome: Option<TestResult>,
        collect_error: Option<String>,
        finished: Option<i32>,
    }
    let mut report = PackageTestReport {
        outcomes: BTreeMap::new(),
        collect_errors: Vec::new(),
        exit_status: None,
        limit: None,
        output_tail: String::new(),
        wall_ms: 0,
        cpu_ms: 0,
    };
    for line in stdout.lines() {
        let Some(at) = line.find(MARK) else {
            continue;
        };
        let json = &line[at + MARK.len()..];
        let Ok(line) = serde_json::from_str::<Line>(json) else {
            continue;
        };
        if let Some(status) = line.finished {
            report.exit_status = Some(status);
            break;
        }
        if let Some(id) = line.collect_error {
            report.collect_errors.push(id);
        }
        if let (Some(test), Some(outcome)) = (line.test, line.outcome) {
            let entry = report.outcomes.entry(test).or_insert(outcome);
            if rank(outcome) > rank(*entry) {
                *entry = outcome;
            }
        }
    }
    report
}

fn rank(result: TestResult) -> u8 {
    match result {
        TestResult::Passed => 0,
        TestResult::Skipped | TestResult::Xfailed => 1,
        TestResult::Failed => 2,
        TestResult::Error => 3,
    }
}

/// `path` as a path inside a tree: relative, without `..`.
fn relative_path(path: &str) -> Result<&Path> {
    let p = Path::new(path);
    if p.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(p)
    } else {
        Err(Error::InvalidRequest(
            "a path in a package test request must be relative to the tree, without `..`",
        ))
    }
}

/// Copy the regular files and directories of `from` into `to` (symbolic links and the
/// [`SKIPPED_DIRS`] are left out), at most [`MAX_TREE_BYTES`].
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let mut budget = MAX_TREE_BYTES;
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        std::fs::create_dir_all(&dst).map_err(|e| Error::io(&dst, e))?;
        let entries = std::fs::read_dir(&src).map_err(|e| Error::io(&src, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&src, e))?;
            let kind = entry.file_type().map_err(|e| Error::io(&entry.path(), e))?;
            let name = entry.file_name();
            if kind.is_dir() {
                if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                    stack.push((entry.path(), dst.join(&name)));
                }
            } else if kind.is_file() {
                let target = dst.join(&name);
                let bytes = std::fs::copy(entry.path(), &target)
                    .map_err(|e| Error::io(&entry.path(), e))?;
                budget = budget.checked_sub(bytes).ok_or(Error::InvalidRequest(
                    "the package's tree is larger than 512 MiB",
                ))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_come_from_the_plugin_lines_only() {
        let stdout = format!(
            "..F\n{MARK}{{\"test\": \"t.py::a\", \"outcome\": \"passed\"}}\n\
             {MARK}{{\"test\": \"t.py::b\", \"outcome\": \"failed\"}}\n\
             {MARK}{{\"test\": \"t.py::b\", \"outcome\": \"passed\"}}\n\
             {MARK}not json\n\
             {{\"test\": \"t.py::c\", \"outcome\": \"passed\"}}\n\
             {MARK}{{\"collect_error\": \"t2.py\"}}\n\
             {MARK}{{\"finished\": 1}}\n\
             {MARK}{{\"test\": \"t.py::late\", \"outcome\": \"passed\"}}\n"
        );
        let report = parse(&stdout);
        assert_eq!(report.outcomes.len(), 2, "{:?}", report.outcomes);
        assert_eq!(report.outcomes["t.py::a"], TestResult::Passed);
        assert_eq!(
            report.outcomes["t.py::b"],
            TestResult::Failed,
            "a second line cannot clear a failure"
        );
        assert_eq!(report.collect_errors, ["t2.py"]);
        assert_eq!(report.exit_status, Some(1));
        assert!(!report.all_passed(&["t.py::a".into()]), "exit status 1");
    }

    #[test]
    fn a_pass_needs_every_test_and_exit_status_zero() {
        let mut report = parse(&format!(
            "{MARK}{{\"test\": \"a\", \"outcome\": \"passed\"}}\n{MARK}{{\"finished\": 0}}\n"
        ));
        assert!(report.all_passed(&["a".into()]));
        assert!(!report.all_passed(&["a".into(), "missing".into()]));
        assert!(!report.all_passed(&[]), "no test is no pass");
        report.exit_status = None;
        assert!(!report.all_passed(&["a".into()]), "an unfinished session");
    }

    #[test]
    fn request_paths_stay_inside_the_tree() {
        assert!(relative_path("src/pkg/mod.py").is_ok());
        assert!(relative_path("").is_ok());
        assert!(relative_path("../etc/passwd").is_err());
        assert!(relative_path("/etc/passwd").is_err());
    }
}
