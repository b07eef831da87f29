//! `Isolation::None` (`--no-sandbox`): reported as such, and harmless to the host's files.

use crucible_exec::Isolation;

use super::*;

#[test]
fn unsandboxed_runs_are_reported_and_keep_host_files() {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let bystander = std::env::temp_dir().join(format!("crucible-bystander-{}", std::process::id()));
    std::fs::write(&bystander, "keep me").unwrap();
    let mut config = ExecConfig::new(&base.join("exec-cache-unsandboxed"));
    config.isolation = Isolation::None;
    config.python_workers = 1;
    let executor = Executor::new(&config).unwrap();
    assert!(!executor.is_sandboxed());
    let plain = executor
        .run(&request(
            Language::Python,
            "print(1)\n".into(),
            io("", "1\n"),
        ))
        .unwrap();
    assert_status(&plain, Status::Passed);
    assert!(!plain.sandboxed);
    let mut tests = request(
        Language::Python,
        "def add(a, b):\n    return a + b\n".into(),
        TestSuite::Code {
            code: "assert add(1, 2) == 3\n".into(),
        },
    );
    tests.entry_point = Some("add".into());
    assert_status(&executor.run(&tests).unwrap(), Status::Passed);
    let c = executor
        .run(&request(
            Language::C,
            fixture("c", "ok"),
            io("2 3\n", "5\n"),
        ))
        .unwrap();
    assert_status(&c, Status::Passed);
    drop(executor);
    assert_eq!(std::fs::read_to_string(&bystander).unwrap(), "keep me");
    std::fs::remove_file(&bystander).unwrap();
}
