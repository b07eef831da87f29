//! The compile cache: a compile error is cached; a compile the sandbox's limits stopped is not,
//! so the same program compiles once the limits allow it.

use super::*;

/// An executor on its own cache with these compiler limits.
fn executor_with(cache: &Path, compile_limits: Limits) -> Executor {
    let mut config = ExecConfig::new(cache);
    config.python_workers = 1;
    config.compile_limits = compile_limits;
    Executor::new(&config).expect("the sandbox works on this machine")
}

fn diagnostics(report: &ExecReport) -> &str {
    report
        .failure
        .as_ref()
        .and_then(|f| f.diagnostics.as_deref())
        .unwrap_or("")
}

fn failed_markers(cache: &Path) -> usize {
    std::fs::read_dir(cache.join("artifacts"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".failed"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn compile_errors_are_cached() {
    let cache = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let exec = executor_with(cache.path(), Limits::compiler());
    let req = request(
        Language::C,
        "int main( { return 0; }\n".into(),
        TestSuite::None,
    );
    let first = exec.run(&req).unwrap();
    assert_status(&first, Status::CompileError);
    assert!(!first.compile_cached);
    let second = exec.run(&req).unwrap();
    assert_status(&second, Status::CompileError);
    assert!(second.compile_cached, "{second:#?}");
    assert_eq!(diagnostics(&first), diagnostics(&second));
    assert_eq!(failed_markers(cache.path()), 1);
}

#[test]
fn compiles_stopped_by_limits_are_not_cached() {
    let cache = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // All of the C++ standard library without the precompiled header: seconds of CPU time
    // and well over 32 MiB.
    let program = "#include <bits/stdc++.h>\nint main() { std::cout << 7 << std::endl; }\n";
    let mut short = Limits::compiler();
    short.cpu_time = Duration::from_millis(100);
    let mut small = Limits::compiler();
    small.memory_bytes = 32 << 20;
    for (what, limits, marker) in [("time", short, "// t\n"), ("memory", small, "// m\n")] {
        let mut req = request(Language::Cpp, format!("{marker}{program}"), io("", "7\n"));
        req.options.disable_pch = true;
        let tight = executor_with(cache.path(), limits);
        for attempt in 0..2 {
            let report = tight.run(&req).unwrap();
            assert_status(&report, Status::CompileError);
            assert!(!report.compile_cached, "{what} #{attempt}: {report:#?}");
            let text = diagnostics(&report);
            assert!(
                text.contains("the compiler was stopped"),
                "{what} #{attempt}: {text}"
            );
        }
        assert_eq!(failed_markers(cache.path()), 0, "{what}");
        // The same program with room to compile: built and run, not a cached failure.
        let roomy = executor_with(cache.path(), Limits::compiler());
        let report = roomy.run(&req).unwrap();
        assert_status(&report, Status::Passed);
        assert!(!report.compile_cached);
    }
}
