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

/// Python test code: each assert is named by its first source line (also after non-ASCII text
/// and across continuation lines), and a suite of two thousand asserts over a large input table
/// (EvalPlus's plus tier has about a thousand per task) runs in well under its CPU limit: naming
/// a statement must not rescan the whole test code.
#[test]
fn python_assert_suites_are_named_by_line_and_scale() {
    let mut code = String::from("table = [\n");
    for row in 0..2000 {
        let cells: Vec<String> = (0..40).map(|c| format!("{}.5", row + c)).collect();
        code.push_str(&format!("    [{}],\n", cells.join(", ")));
    }
    code.push_str("]\n");
    code.push_str("x = 'é'; assert add(1, 2) == 3\n");
    code.push_str("assert add(2,\n           2) == 5\n");
    for row in 0..2000 {
        code.push_str(&format!(
            "assert add(table[{row}][0], 0.5) == {row}.0 + 1\n"
        ));
    }
    let mut req = request(
        Language::Python,
        "def add(a, b):\n    return a + b\n".into(),
        TestSuite::Code { code },
    );
    req.entry_point = Some("add".into());
    req.limits = limits(20.0, 512);
    let report = run(&req);
    assert_eq!(report.tests.len(), 2002, "{:#?}", report.failure);
    assert_eq!(report.tests[0].name, "assert add(1, 2) == 3");
    assert_eq!(report.tests[0].status, Status::Passed);
    assert_eq!(report.tests[1].name, "assert add(2,");
    assert_eq!(report.tests[1].status, Status::WrongAnswer);
    assert_eq!(
        report.tests[2001].name,
        "assert add(table[1999][0], 0.5) == 1999.0 + 1"
    );
    assert!(report.tests[2..].iter().all(|t| t.status == Status::Passed));
    assert_status(&report, Status::WrongAnswer);
}
