//! Function-level completion tasks judged by the package's own tests (RepoEval's recipe), made
//! from source trees whose tests run offline with pytest.
//!
//! For each repository: the whole test suite runs once in the sandbox with the real code (the
//! tests that pass are the baseline). Candidate functions are the functions and methods of the
//! package's modules (files in a directory with `__init__.py`, outside the tests) that are not
//! nested in another function, with a body of [`MIN_BODY_LINES`] to [`MAX_BODY_LINES`] lines
//! after the docstring. In a seeded order, round-robin over the repositories, each candidate's
//! body is replaced by `raise NotImplementedError` and the suite runs again: the baseline
//! tests that no longer pass, run again alone with the real body and passing, are the task's
//! tests. A candidate no test notices is dropped. The task's prompt is the file before the
//! body (signature and docstring included) and the file after it.
//!
//! Generation must not see the tests: each task's `repo_root` is a copy of the repository
//! without its test files (`OUT/context/<repo>/`, what retrieval indexes), and the judge's
//! tree, which has them, is named only in the task's [`PackageJudge`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crucible_eval::judge::package::PackageJudge;
use crucible_exec::{Executor, Limits, PackageTestRequest};
use crucible_index::walk::{WalkParams, walk_repository};
use crucible_syntax::tree_sitter::Node;
use crucible_syntax::{SyntaxLanguage, SyntaxParser};

use super::{RepoTask, Setting, TaskLanguage, repo_dir, sha256_hex, source_roots};
use crate::complete::{prefix_window, suffix_window};
use crate::{Error, Result};

/// Lines of a body (after the docstring, blank lines not counted) at least and at most.
pub const MIN_BODY_LINES: usize = 3;
pub const MAX_BODY_LINES: usize = 30;
/// Function tasks taken from one file at most.
pub const FUNCTIONS_PER_FILE: usize = 3;
/// Bytes of the file after the body a task keeps (whole lines).
pub const SUFFIX_BYTES: usize = 4_000;
/// The directory of the test-free copies under a build's output directory.
pub const CONTEXT_DIR: &str = "context";

/// How to build function tasks.
#[derive(Debug)]
pub struct FunctionParams<'a> {
    /// The source trees (each with its tests).
    pub from: Vec<PathBuf>,
    /// The build's output directory (the test-free copies go under [`CONTEXT_DIR`]).
    pub out: PathBuf,
    pub seed: u64,
    /// Tasks at most.
    pub tasks: usize,
    /// Bytes of the file before the body a task keeps (whole lines).
    pub prefix_bytes: usize,
    pub executor: &'a Executor,
    /// Limits of each run of a test suite.
    pub limits: Limits,
}

/// What the manifest records of a repository's function tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSource {
    pub repo: String,
    /// The tree the tests ran in.
    pub tree: PathBuf,
    /// The copy without tests that retrieval reads.
    pub context_root: PathBuf,
    pub python_path: Vec<String>,
    /// Tests that passed with the real code, and those that did not (failed, errors, skips).
    pub baseline_passed: usize,
    pub baseline_not_passed: usize,
    pub baseline_seconds: f64,
    /// Candidate functions, those tried, and those kept as tasks.
    pub candidates: usize,
    pub tried: usize,
    pub kept: usize,
}

/// Progress of [`build_functions`].
#[derive(Debug)]
pub enum FunctionEvent<'a> {
    /// A repository's suite ran with the real code.
    Baseline {
        repo: &'a str,
        passed: usize,
        not_passed: usize,
        seconds: f64,
    },
    /// A candidate's body was removed and the suite ran again.
    Tried {
        repo: &'a str,
        function: &'a str,
        /// Tests that the removal broke and the real body passes alone.
        tests: usize,
        kept: usize,
        of: usize,
    },
}

/// A function whose body could be a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `Class.method` or `function`.
    pub name: String,
    /// The body's first and last lines (1-based, inclusive), after the docstring.
    pub body_lines: (usize, usize),
    /// The body's indentation.
    pub indent: String,
}

/// Whether `relative` (with `/` separators) is a test file or in a test directory.
pub fn is_test_path(relative: &str) -> bool {
    let mut parts = relative.split('/').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        if !last && matches!(part, "tests" | "test" | "testing") {
            return true;
        }
        if last {
            return part == "conftest.py"
                || (part.starts_with("test_") && part.ends_with(".py"))
                || part.ends_with("_test.py");
        }
    }
    false
}

/// The functions of a Python module that could be tasks (see the module docs).
pub fn candidates(parser: &mut SyntaxParser, text: &str) -> Vec<Candidate> {
    let Ok(tree) = parser.parse(SyntaxLanguage::Python, text) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    for node in crucible_syntax::walk::preorder(tree.root()) {
        if node.kind() != "function_definition" || node.has_error() {
            continue;
        }
        let Some(name) = qualified_name(&tree, node) else {
            continue;
        };
        let Some(block) = node.child_by_field_name("body") else {
            continue;
        };
        let mut cursor = block.walk();
        let statements: Vec<Node<'_>> = block.named_children(&mut cursor).collect();
        let Some(first) = statements.first() else {
            continue;
        };
        let docstring = first.kind() == "expression_statement"
            && first.named_child(0).is_some_and(|n| n.kind() == "string");
        let start_row = if docstring {
            first.end_position().row + 1
        } else {
            first.start_position().row
        };
        let end_row = block.end_position().row;
        if start_row <= node.start_position().row || end_row < start_row || end_row >= lines.len() {
            continue;
        }
        let body = &lines[start_row..=end_row];
        let code: Vec<&&str> = body.iter().filter(|l| !l.trim().is_empty()).collect();
        if !(MIN_BODY_LINES..=MAX_BODY_LINES).contains(&code.len()) {
            continue;
        }
        let first_code = code[0];
        let indent: String = first_code
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        // The lines must belong to the body: none less indented than its first.
        if indent.is_empty() || code.iter().any(|l| !l.starts_with(&indent)) {
            continue;
        }
        out.push(Candidate {
            name,
            body_lines: (start_row + 1, end_row + 1),
            indent,
        });
    }
    out
}

/// `Class.method` or `function`; `None` for a function inside another function.
fn qualified_name(tree: &crucible_syntax::SyntaxTree, node: Node<'_>) -> Option<String> {
    let mut names = vec![tree.text(node.child_by_field_name("name")?).to_string()];
    let mut parent = node.parent();
    while let Some(p) = parent {
        match p.kind() {
            "function_definition" | "lambda" => return None,
            "class_definition" => {
                names.push(tree.text(p.child_by_field_name("name")?).to_string());
            }
            _ => {}
        }
        parent = p.parent();
    }
    names.reverse();
    Some(names.join("."))
}

/// The directories to put first on `sys.path`: `src` when the packages live there.
fn python_path(root: &Path) -> Vec<String> {
    let src = root.join("src");
    let src_layout = std::fs::read_dir(&src).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().join("__init__.py").is_file())
    });
    vec![if src_layout {
        "src".into()
    } else {
        String::new()
    }]
}

/// One repository's state during the build (its tree and name are the source's).
struct Repo {
    source: FunctionSource,
    baseline: BTreeSet<String>,
    queue: Vec<(String, Candidate)>,
    next: usize,
}

/// Make up to `params.tasks` function tasks (see the module docs).
pub fn build_functions(
    params: &FunctionParams<'_>,
    on_event: &mut dyn FnMut(FunctionEvent<'_>),
) -> Result<(Vec<RepoTask>, Vec<FunctionSource>)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(params.seed);
    let mut parser = SyntaxParser::new();
    let mut repos = Vec::new();
    for root in source_roots(&params.from)? {
        let dir = repo_dir(&root);
        let walked = walk_repository(&root, &WalkParams::default())?;
        let context_root = params.out.join(CONTEXT_DIR).join(&dir);
        copy_without_tests(
            &root,
            &context_root,
            walked.files.iter().map(|f| &f.relative),
        )?;
        let context_root = std::fs::canonicalize(&context_root).map_err(|source| Error::Io {
            path: context_root.clone(),
            source,
        })?;
        let python_path = python_path(&root);
        let report = params
            .executor
            .run_package_tests(&PackageTestRequest {
                tree: root.clone(),
                replace: Vec::new(),
                python_path: python_path.clone(),
                tests: Vec::new(),
                limits: params.limits,
            })
            .map_err(exec_error)?;
        let baseline: BTreeSet<String> = report.passed().map(str::to_string).collect();
        let seconds = report.wall_ms as f64 / 1000.0;
        on_event(FunctionEvent::Baseline {
            repo: &dir,
            passed: baseline.len(),
            not_passed: report.outcomes.len() - baseline.len(),
            seconds,
        });
        let mut queue = Vec::new();
        for file in &walked.files {
            let relative = &file.relative;
            let in_package = Path::new(relative)
                .parent()
                .is_some_and(|p| root.join(p).join("__init__.py").is_file());
            if !relative.ends_with(".py") || is_test_path(relative) || !in_package {
                continue;
            }
            let path = root.join(relative);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for candidate in candidates(&mut parser, &text) {
                queue.push((relative.clone(), candidate));
            }
        }
        queue.shuffle(&mut rng);
        repos.push(Repo {
            source: FunctionSource {
                repo: dir,
                tree: root,
                context_root,
                python_path,
                baseline_passed: baseline.len(),
                baseline_not_passed: report.outcomes.len() - baseline.len(),
                baseline_seconds: seconds,
                candidates: queue.len(),
                tried: 0,
                kept: 0,
            },
            baseline,
            queue,
            next: 0,
        });
    }
    let mut tasks = Vec::new();
    let mut per_file: BTreeMap<(String, String), usize> = BTreeMap::new();
    // Round-robin over the repositories, so each contributes while it has candidates left.
    'fill: loop {
        let mut progressed = false;
        for repo in &mut repos {
            if tasks.len() >= params.tasks {
                break 'fill;
            }
            if repo.baseline.is_empty() {
                continue;
            }
            while repo.next < repo.queue.len() {
                let (path, candidate) = repo.queue[repo.next].clone();
                repo.next += 1;
                let used = per_file
                    .entry((repo.source.repo.clone(), path.clone()))
                    .or_default();
                if *used >= FUNCTIONS_PER_FILE {
                    continue;
                }
                progressed = true;
                repo.source.tried += 1;
                let task = try_candidate(params, repo, &path, &candidate)?;
                let tests = task
                    .as_ref()
                    .and_then(|t| t.judge.as_ref())
                    .map_or(0, |j| j.tests.len());
                if let Some(task) = task {
                    *used += 1;
                    repo.source.kept += 1;
                    tasks.push(task);
                }
                on_event(FunctionEvent::Tried {
                    repo: &repo.source.repo,
                    function: &candidate.name,
                    tests,
                    kept: tasks.len(),
                    of: params.tasks,
                });
                if tests > 0 {
                    break;
                }
            }
        }
        if !progressed {
            break;
        }
    }
    Ok((tasks, repos.into_iter().map(|r| r.source).collect()))
}

/// Remove `candidate`'s body, find the tests that notice, and make the task if any does.
fn try_candidate(
    params: &FunctionParams<'_>,
    repo: &Repo,
    path: &str,
    candidate: &Candidate,
) -> Result<Option<RepoTask>> {
    let file = repo.source.tree.join(path);
    let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
        path: file.clone(),
        source,
    })?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (first, last) = candidate.body_lines;
    let before: String = lines[..first - 1].concat();
    let gold: String = lines[first - 1..last].concat();
    let after: String = lines[last..].concat();
    let removed = format!(
        "{before}{}raise NotImplementedError\n{after}",
        candidate.indent
    );
    let run = |replaced: String, tests: Vec<String>| {
        params
            .executor
            .run_package_tests(&PackageTestRequest {
                tree: repo.source.tree.clone(),
                replace: vec![(path.to_string(), replaced)],
                python_path: repo.source.python_path.clone(),
                tests,
                limits: params.limits,
            })
            .map_err(exec_error)
    };
    let without = run(removed, Vec::new())?;
    let broken: Vec<String> = repo
        .baseline
        .iter()
        .filter(|t| without.outcomes.get(*t) != Some(&crucible_exec::TestResult::Passed))
        .cloned()
        .collect();
    if broken.is_empty() {
        return Ok(None);
    }
    // The real body passes them when they run alone (tests that depend on the order they run
    // in are dropped).
    let alone = run(text.clone(), broken.clone())?;
    let tests: Vec<String> = broken
        .into_iter()
        .filter(|t| alone.outcomes.get(t) == Some(&crucible_exec::TestResult::Passed))
        .collect();
    if tests.is_empty() || alone.exit_status != Some(0) {
        return Ok(None);
    }
    let file_sha256 = sha256_hex(text.as_bytes());
    Ok(Some(RepoTask {
        id: format!("{}/{path}:{first}::{}", repo.source.repo, candidate.name),
        repo: repo.source.repo.clone(),
        repo_root: repo.source.context_root.clone(),
        path: path.to_string(),
        line: first,
        language: TaskLanguage::Python,
        setting: Setting::Function,
        prefix: prefix_window(&before, params.prefix_bytes, 1).to_string(),
        gold,
        symbol: Some(candidate.name.clone()),
        suffix: suffix_window(&after, SUFFIX_BYTES).to_string(),
        judge: Some(PackageJudge {
            tree: repo.source.tree.clone(),
            path: path.to_string(),
            body_lines: candidate.body_lines,
            file_sha256,
            python_path: repo.source.python_path.clone(),
            tests,
        }),
    }))
}

/// An executor's failure (the run could not happen) as this crate's error.
fn exec_error(err: crucible_exec::Error) -> Error {
    Error::Eval(crucible_eval::Error::Executor(Box::new(err)))
}

/// Copy `files` of `root` that are not tests ([`is_test_path`]) to `to`, replacing what was
/// there.
fn copy_without_tests<'a>(
    root: &Path,
    to: &Path,
    files: impl Iterator<Item = &'a String>,
) -> Result<()> {
    let io = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if to.exists() {
        std::fs::remove_dir_all(to).map_err(|e| io(to, e))?;
    }
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    for relative in files {
        if is_test_path(relative) {
            continue;
        }
        let target = to.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let source = root.join(relative);
        std::fs::copy(&source, &target).map_err(|e| io(&source, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_files_and_directories_are_recognised() {
        for path in [
            "tests/test_a.py",
            "pkg/tests/helpers.py",
            "test_b.py",
            "pkg/c_test.py",
            "conftest.py",
            "src/pkg/testing/util.py",
        ] {
            assert!(is_test_path(path), "{path}");
        }
        for path in [
            "src/pkg/core.py",
            "pkg/testsuite.py",
            "pkg/attest.py",
            "tests",
        ] {
            assert!(!is_test_path(path), "{path}");
        }
    }

    #[test]
    fn candidates_are_top_level_functions_and_methods_with_bodies_of_moderate_length() {
        let text = "\
def short(x):
    return x


def documented(a, b):
    \"\"\"Add them.

    Carefully.
    \"\"\"
    total = a + b
    # a comment counts as a line
    return total


class Box:
    def method(self, v):
        if v:
            return 1
        return 2

    def outer(self):
        def inner(y):
            z = y
            w = z
            return w
        return inner
";
        let mut parser = SyntaxParser::new();
        let found = candidates(&mut parser, text);
        let shape: Vec<(&str, (usize, usize), &str)> = found
            .iter()
            .map(|c| (c.name.as_str(), c.body_lines, c.indent.as_str()))
            .collect();
        assert_eq!(
            shape,
            [
                ("documented", (10, 12), "    "),
                ("Box.method", (17, 19), "        "),
                ("Box.outer", (22, 26), "        "),
            ]
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[9], "    total = a + b", "after the docstring");
    }
}
