//! Harness tampering: wrong programs that try to be judged `passed` must never be.

use super::*;

const CHECK: &str =
    "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(5, 5) == 10\n";

fn python(source: &str) -> ExecReport {
    let mut req = request(
        Language::Python,
        source.into(),
        TestSuite::Code { code: CHECK.into() },
    );
    req.entry_point = Some("add".into());
    run(&req)
}

#[test]
fn python_honest_programs_pass_and_fail() {
    assert_status(
        &python("def add(a, b):\n    return a + b\n"),
        Status::Passed,
    );
    let wrong = python("def add(a, b):\n    return a - b\n");
    assert_status(&wrong, Status::WrongAnswer);
    assert_eq!(wrong.tests.len(), 2);
    assert!(wrong.failure.unwrap().message.contains("left:  -1"));
}

#[test]
fn python_tampering_never_passes() {
    let cases: &[(&str, &str, Status)] = &[
        (
            "sys.exit(0) at import",
            "import sys\ndef add(a, b):\n    return 0\nsys.exit(0)\n",
            Status::RuntimeError,
        ),
        (
            "os._exit(0) at import",
            "import os\ndef add(a, b):\n    return 0\nos._exit(0)\n",
            Status::RuntimeError,
        ),
        (
            "os._exit(0) in a test",
            "import os\ndef add(a, b):\n    os._exit(0)\n",
            Status::RuntimeError,
        ),
        (
            "SystemExit in a test",
            "def add(a, b):\n    raise SystemExit(0)\n",
            Status::RuntimeError,
        ),
        (
            "patched builtins",
            "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n\
             builtins.isinstance = lambda *a: True\ndef add(a, b):\n    return 0\n",
            // The program breaks the interpreter it runs in (json stops working), so it
            // cannot even answer; it never reaches the driver's asserts.
            Status::RuntimeError,
        ),
        (
            "always-equal object",
            "class Eq:\n    def __eq__(self, other):\n        return True\n\
             def add(a, b):\n    return Eq()\n",
            Status::RuntimeError,
        ),
        (
            "int subclass with a lying __eq__",
            "class Eq(int):\n    def __eq__(self, other):\n        return True\n\
             def add(a, b):\n    return Eq(0)\n",
            Status::WrongAnswer,
        ),
        (
            "frame walking",
            "import sys\ndef add(a, b):\n    f = sys._getframe()\n    while f:\n        \
             f.f_globals['AssertionError'] = KeyError\n        f = f.f_back\n    return 0\n",
            Status::WrongAnswer,
        ),
        (
            "fake success markers",
            "print('passed'); print('{\"done\": 2}'); print('DONE')\ndef add(a, b):\n    return 0\n",
            Status::WrongAnswer,
        ),
        (
            "killing everything it can see",
            "import os, signal\ndef add(a, b):\n    os.kill(-1, signal.SIGKILL)\n    return 3\n",
            Status::RuntimeError,
        ),
    ];
    for (what, source, expected) in cases {
        let report = python(source);
        assert_eq!(report.status, *expected, "{what}: {report:#?}");
    }
}

#[test]
fn python_calls_mode_compares_plain_values() {
    let calls = |source: &str| {
        let req = request(
            Language::Python,
            source.into(),
            TestSuite::Calls {
                entry_point: "mean".into(),
                cases: vec![
                    crucible_types::CallCase {
                        args: "[[1, 2, 3]]".into(),
                        expected: "2.0".into(),
                    },
                    crucible_types::CallCase {
                        args: "[[1.0, 2.0]]".into(),
                        expected: "1.5".into(),
                    },
                ],
                atol: 1e-9,
            },
        );
        run(&req)
    };
    assert_status(
        &calls("def mean(xs):\n    return sum(xs) / len(xs)\n"),
        Status::Passed,
    );
    assert_status(
        &calls("def mean(xs):\n    return 2.0\n"),
        Status::WrongAnswer,
    );
    assert_status(
        &calls(
            "class E(float):\n    def __eq__(s, o): return True\ndef mean(xs):\n    return E(0)\n",
        ),
        Status::WrongAnswer,
    );
}

/// Appended-test languages: tests after the program, and a program that cheats.
fn appended(language: Language, program: &str, tests: &str) -> ExecReport {
    run(&request(
        language,
        program.into(),
        TestSuite::Code { code: tests.into() },
    ))
}

#[test]
fn appended_tests_need_proof_of_completion() {
    let c_tests = "int main() {\n    assert(add(1, 2) == 3);\n    assert(add(5, 5) == 10);\n}\n";
    let cases: &[(&str, Language, &str, &str, Status)] = &[
        (
            "c honest",
            Language::C,
            "int add(int a, int b) { return a + b; }\n",
            c_tests,
            Status::Passed,
        ),
        (
            "c wrong",
            Language::C,
            "int add(int a, int b) { return a - b; }\n",
            c_tests,
            Status::WrongAnswer,
        ),
        (
            "c exit(0)",
            Language::C,
            "#include <stdlib.h>\nint add(int a, int b) { exit(0); }\n",
            c_tests,
            Status::RuntimeError,
        ),
        (
            "c disables assert",
            Language::C,
            "#define NDEBUG\n#include <assert.h>\n#undef assert\n#define assert(x) ((void)0)\n\
             int add(int a, int b) { return 0; }\n",
            c_tests,
            Status::WrongAnswer,
        ),
        (
            "c fakes the proof",
            Language::C,
            "#include <stdio.h>\n#include <unistd.h>\n#include <stdlib.h>\n\
             static void fake(void) { dprintf(4, \"T pass main\\nDONE 0123\\n\"); printf(\"DONE\\n\"); }\n\
             int add(int a, int b) { atexit(fake); exit(0); }\n",
            c_tests,
            Status::RuntimeError,
        ),
        (
            "cpp exit(0)",
            Language::Cpp,
            "#include <cstdlib>\nint add(int a, int b) { std::exit(0); }\n",
            c_tests,
            Status::RuntimeError,
        ),
        (
            "rust shadows assert_eq",
            Language::Rust,
            "macro_rules! assert_eq { ($($t:tt)*) => {} }\nfn add(a: i32, b: i32) -> i32 { a - b }\n",
            "fn main() {\n    assert_eq!(add(1, 2), 3);\n}\n",
            Status::WrongAnswer,
        ),
        (
            "rust process::exit(0)",
            Language::Rust,
            "fn add(_a: i32, _b: i32) -> i32 { std::process::exit(0) }\n",
            "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() { assert_eq!(add(1, 2), 3); }\n}\n",
            Status::RuntimeError,
        ),
        (
            "java System.exit(0)",
            Language::Java,
            "class Solution { int add(int a, int b) { System.exit(0); return 0; } }\n",
            "public class Main {\n    public static void main(String[] args) {\n        \
             if (new Solution().add(1, 2) != 3) throw new AssertionError();\n    }\n}\n",
            Status::RuntimeError,
        ),
        (
            "java honest",
            Language::Java,
            "class Solution { int add(int a, int b) { return a + b; } }\n",
            "public class Main {\n    public static void main(String[] args) {\n        \
             if (new Solution().add(1, 2) != 3) throw new AssertionError();\n    }\n}\n",
            Status::Passed,
        ),
        (
            "javascript silences console.assert",
            Language::JavaScript,
            "console.assert = () => {};\nObject.freeze(console);\nconst add = (a, b) => a - b;\n",
            "const t = () => { console.assert(add(1, 2) === 3) }\nt()\n",
            Status::WrongAnswer,
        ),
        (
            "javascript process.exit(0)",
            Language::JavaScript,
            "const add = (a, b) => process.exit(0);\n",
            "const assert = require('assert');\nassert.deepEqual(add(1, 2), 3);\n",
            Status::RuntimeError,
        ),
        (
            "javascript honest",
            Language::JavaScript,
            "const add = (a, b) => a + b;\n",
            "const assert = require('assert');\nassert.deepEqual(add(1, 2), 3);\n",
            Status::Passed,
        ),
        (
            "go os.Exit(0)",
            Language::Go,
            "import \"os\"\n\nfunc Add(a, b int) int { os.Exit(0); return 0 }\n",
            "func TestAdd(t *testing.T) {\n    assert := assert.New(t)\n    assert.Equal(3, Add(1, 2))\n}\n",
            Status::RuntimeError,
        ),
        (
            "go honest",
            Language::Go,
            "func Add(a, b int) int { return a + b }\n",
            "func TestAdd(t *testing.T) {\n    assert := assert.New(t)\n    assert.Equal(3, Add(1, 2))\n}\n",
            Status::Passed,
        ),
        (
            "go wrong",
            Language::Go,
            "func Add(a, b int) int { return a - b }\n",
            "func TestAdd(t *testing.T) {\n    assert := assert.New(t)\n    assert.Equal(3, Add(1, 2))\n}\n",
            Status::WrongAnswer,
        ),
    ];
    for (what, language, program, tests, expected) in cases {
        let report = appended(*language, program, tests);
        assert_eq!(report.status, *expected, "{what}: {report:#?}");
    }
}
