//! How Python workers start: from bytecode compiled once per worker source (kept in the cache
//! beside the source), and, when asked, warmed up in the background before the first request.

use super::*;

fn executor_in(cache: &Path, workers: usize) -> Executor {
    let mut config = ExecConfig::new(cache);
    config.python_workers = workers;
    Executor::new(&config).expect("the sandbox works on this machine")
}

fn compiled_workers(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache.join("python"))
        .expect("the worker's directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("zygote-") && n.ends_with(".pyc"))
        .collect();
    names.sort();
    names
}

fn add_request() -> ExecRequest {
    let mut req = request(
        Language::Python,
        "def add(a, b):\n    return a + b\n".into(),
        TestSuite::Code {
            code: "assert add(2, 3) == 5\nassert add(1, 1) == 3\n".into(),
        },
    );
    req.entry_point = Some("add".into());
    req.trusted_tests = true;
    req
}

#[test]
fn workers_boot_from_bytecode_compiled_once() {
    let cache = tempfile::tempdir().unwrap();
    let first = executor_in(cache.path(), 1);
    let compiled = compiled_workers(cache.path());
    assert_eq!(compiled.len(), 1, "one compiled worker: {compiled:?}");
    let report = first.run(&add_request()).expect("runs");
    assert_eq!(
        report.tests.iter().map(|t| t.status).collect::<Vec<_>>(),
        [Status::Passed, Status::WrongAnswer],
        "{report:#?}"
    );
    // A second executor on the same cache reuses it.
    let modified = std::fs::metadata(cache.path().join("python").join(&compiled[0]))
        .and_then(|m| m.modified())
        .unwrap();
    let second = executor_in(cache.path(), 1);
    assert_eq!(compiled_workers(cache.path()), compiled);
    let again = std::fs::metadata(cache.path().join("python").join(&compiled[0]))
        .and_then(|m| m.modified())
        .unwrap();
    assert_eq!(modified, again, "compiled again");
    assert_status(
        &second.run(&add_request()).expect("runs"),
        Status::WrongAnswer,
    );
}

#[test]
fn warmed_workers_serve_requests_of_both_kinds() {
    let cache = tempfile::tempdir().unwrap();
    let executor = executor_in(cache.path(), 2);
    // More than the pool allows, of each kind: the surplus is ignored.
    executor.warm_python(5, true);
    executor.warm_python(5, false);
    std::thread::scope(|scope| {
        for trusted in [true, true, false, false] {
            let executor = &executor;
            scope.spawn(move || {
                let mut req = add_request();
                req.trusted_tests = trusted;
                let report = executor.run(&req).expect("runs");
                assert_status(&report, Status::WrongAnswer);
                assert_eq!(report.tests.len(), 2, "{report:#?}");
            });
        }
    });
}
