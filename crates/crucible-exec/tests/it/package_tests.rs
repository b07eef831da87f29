//! A package's own pytest suite over a copy of its tree: outcomes per test, replaced files,
//! the tree read-only, and bodies that try to end the session early.

use std::path::Path;

use crucible_exec::{PackageTestRequest, TestResult};

use super::{executor, limits};

const MODULE: &str =
    "def double(x):\n    return x * 2\n\n\ndef shout(s):\n    return s.upper() + '!'\n";

fn package(dir: &Path) {
    std::fs::create_dir_all(dir.join("src/pkg")).unwrap();
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(dir.join("src/pkg/__init__.py"), "").unwrap();
    std::fs::write(dir.join("src/pkg/core.py"), MODULE).unwrap();
    std::fs::write(
        dir.join("tests/test_core.py"),
        "import pytest\nfrom pkg.core import double, shout\n\n\
         def test_double():\n    assert double(21) == 42\n\n\
         @pytest.mark.parametrize('s', ['a', 'b c'])\n\
         def test_shout(s):\n    assert shout(s) == s.upper() + '!'\n\n\
         @pytest.mark.skip(reason='not today')\n\
         def test_skipped():\n    pass\n",
    )
    .unwrap();
}

fn request(dir: &Path, replace: Option<String>, tests: &[&str]) -> PackageTestRequest {
    PackageTestRequest {
        tree: dir.to_path_buf(),
        replace: replace
            .map(|text| vec![("src/pkg/core.py".to_owned(), text)])
            .unwrap_or_default(),
        python_path: vec!["src".into()],
        tests: tests.iter().map(|t| t.to_string()).collect(),
        limits: limits(30.0, 512),
    }
}

const DOUBLE: &str = "tests/test_core.py::test_double";
const SHOUT_A: &str = "tests/test_core.py::test_shout[a]";

#[test]
fn every_test_is_reported_by_node_id() {
    let dir = tempfile::tempdir().unwrap();
    package(dir.path());
    let report = executor()
        .run_package_tests(&request(dir.path(), None, &[]))
        .unwrap();
    assert_eq!(report.exit_status, Some(0), "{}", report.output_tail);
    assert_eq!(report.outcomes.len(), 4, "{:?}", report.outcomes);
    assert_eq!(report.outcomes[DOUBLE], TestResult::Passed);
    assert_eq!(
        report.outcomes["tests/test_core.py::test_shout[b c]"],
        TestResult::Passed
    );
    assert_eq!(
        report.outcomes["tests/test_core.py::test_skipped"],
        TestResult::Skipped
    );
    assert!(report.all_passed(&[DOUBLE.into(), SHOUT_A.into()]));
}

#[test]
fn a_replaced_body_fails_its_tests_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    package(dir.path());
    let broken = MODULE.replace("return x * 2", "raise NotImplementedError");
    let report = executor()
        .run_package_tests(&request(dir.path(), Some(broken), &[]))
        .unwrap();
    assert_eq!(report.outcomes[DOUBLE], TestResult::Failed);
    assert_eq!(report.outcomes[SHOUT_A], TestResult::Passed);
    assert_eq!(report.exit_status, Some(1));
    assert!(
        report.output_tail.contains("NotImplementedError"),
        "{}",
        report.output_tail
    );
    // The host tree is untouched.
    let text = std::fs::read_to_string(dir.path().join("src/pkg/core.py")).unwrap();
    assert_eq!(text, MODULE);
    // Selected node ids run alone.
    let report = executor()
        .run_package_tests(&request(dir.path(), None, &[SHOUT_A]))
        .unwrap();
    assert_eq!(report.outcomes.len(), 1, "{:?}", report.outcomes);
    assert!(report.all_passed(&[SHOUT_A.into()]));
}

#[test]
fn a_body_that_ends_the_session_early_never_passes() {
    let dir = tempfile::tempdir().unwrap();
    package(dir.path());
    for body in [
        "import os; os._exit(0)",
        "import sys; sys.exit(0)",
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
        "raise SystemExit(0)",
        "open('/repo/src/pkg/core.py', 'w').write('def double(x):\\n    return 2 * x\\n')",
    ] {
        let text = MODULE.replace("return x * 2", body);
        let report = executor()
            .run_package_tests(&request(dir.path(), Some(text), &[DOUBLE]))
            .unwrap();
        assert!(
            !report.all_passed(&[DOUBLE.into()]),
            "{body}: {:?} {:?}",
            report.outcomes,
            report.exit_status
        );
    }
}

#[test]
fn a_body_that_never_returns_meets_the_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    package(dir.path());
    let text = MODULE.replace("return x * 2", "while True:\n        pass");
    let mut request = request(dir.path(), Some(text), &[DOUBLE]);
    request.limits = limits(3.0, 512);
    let report = executor().run_package_tests(&request).unwrap();
    assert_eq!(report.limit.as_deref(), Some("cpu_time"), "{report:?}");
    assert_eq!(report.exit_status, None);
    assert!(!report.all_passed(&[DOUBLE.into()]));
}

#[test]
fn paths_outside_the_tree_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    package(dir.path());
    let mut bad = request(dir.path(), None, &[]);
    bad.replace = vec![("../escape.py".into(), String::new())];
    let err = executor().run_package_tests(&bad).unwrap_err();
    assert!(err.to_string().contains("relative"), "{err}");
    let mut missing = request(dir.path(), None, &[]);
    missing.replace = vec![("src/pkg/absent.py".into(), String::new())];
    assert!(executor().run_package_tests(&missing).is_err());
}
