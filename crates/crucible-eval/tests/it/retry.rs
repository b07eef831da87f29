//! `judge::run_with_retry`, the rule `data synth` judges by: a run the judge cannot make is
//! tried once more and then becomes the sample's `judge_error` report, never an error that
//! stops the caller; a run it can make is returned as it is.

use std::time::Duration;

use crucible_eval::judge::run_with_retry;
use crucible_exec::{ExecConfig, ExecRequest, Executor, LangOptions, Limits};
use crucible_types::{Language, Status, TestSuite};

/// A C++ function with appended tests `tests`.
fn request(tests: &str) -> ExecRequest {
    ExecRequest {
        language: Language::Cpp,
        source: "int twice(int x) { return 2 * x; }\n".into(),
        tests: TestSuite::Code { code: tests.into() },
        entry_point: None,
        limits: Limits::new(Duration::from_secs(5), 256 << 20),
        options: LangOptions::default(),
        fail_fast: false,
        stdin: None,
        trusted_tests: true,
    }
}

#[test]
fn a_run_the_judge_cannot_make_is_a_judge_error_report_and_a_good_run_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let executor = Executor::new(&ExecConfig::new(dir.path())).expect("the sandbox works here");

    // Appended C++ tests without `main` are refused by the executor's harness: a failure of the
    // judge on this program (both tries), not of the machine's setup.
    let broken = run_with_retry(&executor, &request("// these tests lost their main\n"), "t")
        .expect("a judge failure is the sample's report, not an error");
    assert_eq!(broken.status, Status::JudgeError, "{broken:?}");
    let message = broken
        .failure
        .as_ref()
        .map(|f| f.message.as_str())
        .unwrap_or_default();
    assert!(
        message.contains("the judge could not run this program") && message.contains("main"),
        "{message}"
    );

    let good = "#include <cassert>\nint main() { assert(twice(2) == 4); }\n";
    let report = run_with_retry(&executor, &request(good), "t").unwrap();
    assert_eq!(report.status, Status::Passed, "{report:?}");
    let wrong = "#include <cassert>\nint main() { assert(twice(2) == 5); }\n";
    let report = run_with_retry(&executor, &request(wrong), "t").unwrap();
    assert_ne!(report.status, Status::Passed, "{report:?}");
    assert_ne!(report.status, Status::JudgeError, "{report:?}");
}
