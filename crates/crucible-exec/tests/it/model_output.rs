//! Model output that no compiler takes (nothing at all, a NUL byte) is a `compile_error`
//! report for every language and test mode, never an error from `Executor::run`.

use crucible_types::CallCase;

use super::*;

const LANGUAGES: [Language; 7] = [
    Language::C,
    Language::Cpp,
    Language::Python,
    Language::Rust,
    Language::Java,
    Language::JavaScript,
    Language::Go,
];

fn suites(language: Language) -> Vec<TestSuite> {
    let mut suites = vec![
        TestSuite::None,
        io("1\n", "1\n"),
        TestSuite::Code {
            code: "assert(f(1) == 1);\n".into(),
        },
    ];
    if language == Language::Python {
        suites.push(TestSuite::Calls {
            entry_point: "f".into(),
            cases: vec![CallCase {
                args: "[1]".into(),
                expected: "1".into(),
            }],
            atol: 0.0,
        });
    }
    suites
}

#[test]
fn unusable_sources_are_compile_errors() {
    let sources = [
        ("empty", String::new(), "empty"),
        ("whitespace", " \n\t\n".to_owned(), "empty"),
        ("NUL byte", "int main() {}\0\n".to_owned(), "NUL byte"),
        ("only a NUL byte", "\0".to_owned(), "NUL byte"),
    ];
    for language in LANGUAGES {
        for suite in suites(language) {
            for (what, source, expected) in &sources {
                let mut req = request(language, source.clone(), suite.clone());
                req.entry_point = Some("f".into());
                let report = executor().run(&req).unwrap_or_else(|e| {
                    panic!("{language:?} {what}: an error instead of a verdict: {e:#}")
                });
                assert_eq!(report.status, Status::CompileError, "{language:?} {what}");
                let failure = report.failure.as_ref().unwrap();
                assert!(failure.message.contains(expected), "{failure:#?}");
                assert!(report.sandboxed);
            }
        }
    }
}
