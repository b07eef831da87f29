//! Unit tests of assembly: solution-form detection, `main` stripping and per-language glue.

use crucible_types::{Language, Task, TaskKind, TestSuite};

use super::source::{declared_function, defines_function, rust_tests, strip_main};
use super::*;
use crate::task::HiddenTests;

fn function_task(
    language: Language,
    prompt: &str,
    entry_point: &str,
    harness: Harness,
) -> BenchmarkTask {
    BenchmarkTask {
        task: Task {
            id: "t/0".into(),
            language,
            kind: TaskKind::Function {
                prompt: prompt.into(),
                entry_point: entry_point.into(),
            },
            visible: TestSuite::None,
        },
        hidden: HiddenTests::ready(TestSuite::Code {
            code: "}\n\nfn main() {\n    assert_eq!(f(1), 2);\n}\n".into(),
        }),
        reference: None,
        harness,
    }
}

#[test]
fn detects_definitions() {
    let cases: &[(Language, &str, bool)] = &[
        (Language::Python, "def add(a, b):\n    return a + b\n", true),
        (Language::Python, "    return add(a, b)\n", false),
        (Language::Rust, "fn add(a: i32) -> i32 { a }", true),
        (Language::Rust, "    add(1)\n}", false),
        (Language::Go, "func Add(a int) int {\n", true),
        (Language::JavaScript, "const add = (a, b) => {\n", true),
        (Language::JavaScript, "function add(a) {", true),
        (Language::JavaScript, "  return add(a - 1);\n}", false),
        (
            Language::Cpp,
            "int add(int a, int b) {\n  return a + b;\n}",
            true,
        ),
        (Language::Cpp, "vector<int> add(vector<int> a)\n{\n}", true),
        (Language::Cpp, "  return add(a, b);\n}", false),
        (Language::Cpp, "  int x = add(a, b);\n}", false),
        (
            Language::Java,
            "public int add(int a, int b) throws Exception {",
            true,
        ),
    ];
    for (language, text, expect) in cases {
        assert_eq!(
            defines_function(
                *language,
                text,
                if *language == Language::Go {
                    "Add"
                } else {
                    "add"
                }
            ),
            *expect,
            "{language}: {text}"
        );
    }
}

#[test]
fn declared_names() {
    assert_eq!(
        declared_function(
            Language::Cpp,
            "#include<stdio.h>\nusing namespace std;\nbool has_close(vector<float> n, float t){\n"
        )
        .as_deref(),
        Some("has_close")
    );
    assert_eq!(
        declared_function(
            Language::JavaScript,
            "\nconst truncateNumber = (number) => {\n"
        )
        .as_deref(),
        Some("truncateNumber")
    );
    assert_eq!(
        declared_function(
            Language::Rust,
            "use md5;\nfn truncate_number(number: &f32) -> f32{\n"
        )
        .as_deref(),
        Some("truncate_number")
    );
    assert_eq!(
        declared_function(
            Language::Java,
            "class Solution {\n    public double truncateNumber(double number) {\n"
        )
        .as_deref(),
        Some("truncateNumber")
    );
}

#[test]
fn strips_mains() {
    assert_eq!(
        strip_main(
            Language::Cpp,
            "int f() { return 1; }\nint main() {\n  printf(\"}\");\n  return 0;\n}\nint g;\n"
        ),
        "int f() { return 1; }\nint g;\n"
    );
    assert_eq!(
        strip_main(
            Language::Python,
            "def f():\n    return 1\n\nif __name__ == '__main__':\n    print(f())\n\n    f()\nx = 1\n"
        ),
        "def f():\n    return 1\n\nx = 1\n"
    );
    assert_eq!(strip_main(Language::Rust, "fn f() {}\n"), "fn f() {}\n");
}

#[test]
fn multipl_e_cuts_at_stop_token() {
    let task = function_task(
        Language::Rust,
        "fn f(x: isize) -> isize {\n",
        "f",
        Harness::MultiPlE {
            stop_tokens: vec!["\n}".into()],
        },
    );
    let solution = Solution::Continuation("    x + 1\n}\n\nfn junk() {}\n".into());
    let program = assemble(&task, &solution, TestTier::Hidden).unwrap();
    assert_eq!(program.source, "fn f(x: isize) -> isize {\n    x + 1\n}\n");
    assert_eq!(
        program.tests,
        TestSuite::Code {
            code: "\n\nfn main() {\n    assert_eq!(f(1), 2);\n}\n".into()
        }
    );
    let full = Solution::Full(
        "fn f(x: isize) -> isize { x + 1 }\nfn main() { println!(\"hi\"); }\n".into(),
    );
    let program = assemble(&task, &full, TestTier::Hidden).unwrap();
    assert_eq!(program.source, "fn f(x: isize) -> isize { x + 1 }\n");
}

#[test]
fn python_full_solution_follows_prompt() {
    let mut task = function_task(
        Language::Python,
        "import math\n\ndef f(x):\n    \"\"\"Doc.\"\"\"\n",
        "f",
        Harness::HumanEval,
    );
    task.hidden = HiddenTests::ready(TestSuite::Code {
        code: "def check(candidate):\n    assert candidate(1) == 2\n\ncheck(f)\n".into(),
    });
    let solution = Solution::infer(&task.task, "def f(x):\n    return x + 1\n");
    assert!(matches!(solution, Solution::Full(_)));
    let program = assemble(&task, &solution, TestTier::Hidden).unwrap();
    assert_eq!(
        program.source,
        "import math\n\ndef f(x):\n    \"\"\"Doc.\"\"\"\n\ndef f(x):\n    return x + 1\n"
    );
    let body = Solution::infer(&task.task, "    return x + 1\n");
    let program = assemble(&task, &body, TestTier::Hidden).unwrap();
    assert_eq!(
        program.source,
        "import math\n\ndef f(x):\n    \"\"\"Doc.\"\"\"\n    return x + 1\n"
    );
    assert_eq!(
        assemble(&task, &body, TestTier::HiddenPlus)
            .unwrap_err()
            .to_string(),
        "task `t/0` has no plus tests"
    );
}

#[test]
fn commented_out_rust_tests_get_an_empty_main() {
    let code = "\n/*\nmod tests {\n#[test]\n    fn test_f() {}\n}\n*/\n";
    assert_eq!(rust_tests(code), "\n\n\nfn main() {}\n");
    let real = "#[cfg(test)]\nmod tests {\n#[test]\n fn t() {}\n}\n";
    assert_eq!(rust_tests(real), real);
}

#[test]
fn go_program_imports_what_is_used() {
    let program = source::go_program(
        "import (\n    \"math\"\n    \"strings\"\n)\n// a list of strings.\nfunc F(operand float64) float64 {\n    return math.Abs(operand.x)\n}\n",
    );
    assert_eq!(
        program,
        "package main\n\nimport (\n    \"math\"\n)\n\n// a list of strings.\nfunc F(operand float64) float64 {\n    return math.Abs(operand.x)\n}\n"
    );
}
