//! Pass, wrong answer, compile error and runtime error in every language (stdin/stdout).

use super::*;

fn check(language: Language, dir: &str) {
    let cases = [
        ("ok", Status::Passed),
        ("wrong_answer", Status::WrongAnswer),
        ("compile_error", Status::CompileError),
        ("runtime_error", Status::RuntimeError),
    ];
    for (name, expected) in cases {
        let report = run(&request(language, fixture(dir, name), io("2 3\n", "5\n")));
        assert_eq!(report.status, expected, "{dir}/{name}: {report:#?}");
        assert!(report.sandboxed);
        if expected == Status::CompileError {
            let diagnostics = report.failure.as_ref().and_then(|f| f.diagnostics.as_ref());
            assert!(
                diagnostics.is_some_and(|d| !d.is_empty()),
                "{dir}/{name}: {report:#?}"
            );
        }
        if expected == Status::WrongAnswer {
            let failure = report.failure.as_ref().unwrap();
            assert_eq!(failure.line, Some(1));
            assert_eq!(failure.expected.as_deref(), Some("5\n"));
        }
    }
}

#[test]
fn c() {
    check(Language::C, "c");
}

#[test]
fn cpp() {
    check(Language::Cpp, "cpp");
}

#[test]
fn python() {
    check(Language::Python, "python");
}

#[test]
fn rust() {
    check(Language::Rust, "rust");
}

#[test]
fn java() {
    check(Language::Java, "java");
}

#[test]
fn javascript() {
    check(Language::JavaScript, "javascript");
}

#[test]
fn go() {
    check(Language::Go, "go");
}
