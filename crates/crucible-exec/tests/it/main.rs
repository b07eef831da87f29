//! Integration tests of crucible-exec: every language, the hostile suite and tampering.

mod calls_ahead;
mod compile_cache;
mod hostile;
mod languages;
mod model_output;
mod package_tests;
mod python_startup;
mod sandbox;
mod secrets_python;
mod split;
mod tamper;
mod trusted_python;
mod unsandboxed;
mod verdicts;
mod verdicts_python;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crucible_exec::{ExecConfig, ExecReport, ExecRequest, Executor, LangOptions, Limits};
use crucible_types::{Compare, IoCase, Language, Status, TestSuite};

/// One executor for the whole binary; its cache lives in the target directory so reruns reuse
/// compiled programs.
fn executor() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exec-cache");
        let mut config = ExecConfig::new(&cache);
        config.python_workers = 2;
        Executor::new(&config).expect("the sandbox works on this machine")
    })
}

/// Runs of each case in the repeated-verdict tests (`verdicts`, `verdicts_python`): 20, which
/// catches a verdict that differs in one run of ten with probability 0.88 per case; set
/// `CRUCIBLE_STRESS_RUNS` higher for a stress run (the suite used 50 before CI time mattered).
fn stress_runs() -> usize {
    match std::env::var("CRUCIBLE_STRESS_RUNS") {
        Ok(runs) => runs.parse().unwrap_or_else(|_| {
            panic!("CRUCIBLE_STRESS_RUNS must be a number of runs, got `{runs}`")
        }),
        Err(_) => 20,
    }
}

/// A fixture by stem (`ok`) or by file name (`deep_recursion.c`).
fn fixture(lang: &str, name: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(lang);
    if name.contains('.') {
        return std::fs::read_to_string(dir.join(name)).unwrap();
    }
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .find(|e| e.path().file_stem().is_some_and(|s| s == name))
        .unwrap_or_else(|| panic!("fixture {lang}/{name}"));
    std::fs::read_to_string(entry.path()).unwrap()
}

fn limits(seconds: f64, memory_mb: u64) -> Limits {
    Limits::new(Duration::from_secs_f64(seconds), memory_mb << 20)
}

fn request(language: Language, source: String, tests: TestSuite) -> ExecRequest {
    ExecRequest {
        language,
        source,
        tests,
        entry_point: None,
        limits: limits(2.0, 256),
        options: LangOptions::default(),
        fail_fast: false,
        stdin: None,
        trusted_tests: false,
    }
}

fn io(input: &str, output: &str) -> TestSuite {
    TestSuite::Io {
        cases: vec![IoCase {
            input: input.into(),
            output: output.into(),
        }],
        compare: Compare::Whitespace,
    }
}

fn run(req: &ExecRequest) -> ExecReport {
    executor()
        .run(req)
        .unwrap_or_else(|e| panic!("run failed: {e:#}"))
}

#[track_caller]
fn assert_status(report: &ExecReport, status: Status) {
    assert_eq!(report.status, status, "report: {report:#?}");
}
