//! How a candidate and a set of tests become the program the executor runs.
//!
//! Strategies ask an [`Assembly`] for every run, so visible-test verdicts can follow the exact
//! rules a benchmark is judged by: `crucible eval` passes one built on `crucible-eval`'s
//! assembly (with the hidden tests dropped before it reaches here); everything else uses
//! [`StandardAssembly`], the rules for task files and descriptions.

use crucible_types::{Language, Task, TaskKind, TestSuite};

/// A program ready for the executor.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub source: String,
    pub tests: TestSuite,
    /// The function call-based and `check(candidate)` tests call.
    pub entry_point: Option<String>,
}

/// Builds the program that runs `code` (a candidate for `task`) against `tests`.
///
/// `tests` is always a suite the strategy holds: the task's visible tests or tests the model
/// wrote. An implementation must not add tests of its own.
pub trait Assembly {
    fn program(&self, task: &Task, code: &str, tests: &TestSuite) -> Program;
}

/// The assembly rules for task files and free descriptions.
///
/// - Function tasks in Python: a candidate that defines the entry point follows the prompt on a
///   new line (the prompt's imports and helpers stay available); other text continues the prompt.
/// - Function tasks in other languages: a candidate that defines the entry point stands alone,
///   without its own `main` when the tests bring one; other text continues the prompt.
/// - Program and free-form tasks: the candidate as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardAssembly;

impl Assembly for StandardAssembly {
    fn program(&self, task: &Task, code: &str, tests: &TestSuite) -> Program {
        let entry_point = task.entry_point().map(str::to_owned);
        let source = match &task.kind {
            TaskKind::Function {
                prompt,
                entry_point,
            } => function_source(task.language, prompt, entry_point, code, tests),
            TaskKind::Program { .. } | TaskKind::Freeform { .. } => code.to_owned(),
        };
        Program {
            source,
            tests: tests.clone(),
            entry_point,
        }
    }
}

fn function_source(
    language: Language,
    prompt: &str,
    entry_point: &str,
    code: &str,
    tests: &TestSuite,
) -> String {
    let tests_bring_main = matches!(tests, TestSuite::Code { .. });
    if !defines(language, code, entry_point) {
        return format!("{prompt}{code}");
    }
    if language == Language::Python {
        return format!("{prompt}\n{}", strip_python_main(code));
    }
    if tests_bring_main {
        return strip_main(code);
    }
    let has_main = code.contains("main(");
    match language {
        Language::C | Language::Cpp if !has_main => {
            format!("{code}\n\nint main() {{ return 0; }}\n")
        }
        Language::Rust if !has_main => format!("{code}\n\nfn main() {{}}\n"),
        _ => code.to_owned(),
    }
}

/// Whether `code` defines the function `name` (a header, not a call).
pub(crate) fn defines(language: Language, code: &str, name: &str) -> bool {
    let lines: Vec<&str> = code.lines().collect();
    lines.iter().enumerate().any(|(idx, line)| {
        let trimmed = line.trim_start();
        if language == Language::Python {
            return trimmed.starts_with(&format!("def {name}("));
        }
        let Some(at) = find_word_call(trimmed, name) else {
            return false;
        };
        let head = trimmed[..at].trim();
        let is_statement = head.is_empty()
            || head.ends_with('=')
            || head.starts_with("return")
            || trimmed.ends_with(';');
        if is_statement {
            return false;
        }
        trimmed.contains('{')
            || lines
                .get(idx + 1)
                .is_some_and(|next| next.trim_start().starts_with('{'))
    })
}

/// Byte offset of `name(` in `line` where `name` is a whole word.
fn find_word_call(line: &str, name: &str) -> Option<usize> {
    line.match_indices(name).map(|(at, _)| at).find(|&at| {
        let before_ok = line[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after = line[at + name.len()..].trim_start();
        before_ok && after.starts_with('(')
    })
}

/// Remove a C-family `main` function (`int main(`, `fn main(`, `func main(` at the start of a
/// line) with its brace-balanced body.
pub(crate) fn strip_main(code: &str) -> String {
    let starts = [
        "int main",
        "void main",
        "fn main",
        "func main",
        "signed main",
    ];
    let mut offset = 0;
    let start = code.split_inclusive('\n').find_map(|line| {
        let at = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        starts
            .iter()
            .any(|s| trimmed.starts_with(s) && trimmed[s.len()..].trim_start().starts_with('('))
            .then_some(at)
    });
    let Some(start) = start else {
        return code.to_owned();
    };
    let Some(open) = code[start..].find('{').map(|i| start + i) else {
        return code.to_owned();
    };
    let mut depth = 0usize;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    let end = open + i + 1;
                    return format!(
                        "{}{}",
                        &code[..start],
                        code[end..].trim_start_matches(['\n'])
                    )
                    .trim_end()
                    .to_owned();
                }
            }
            _ => {}
        }
    }
    code.to_owned()
}

/// Remove a Python `if __name__ == "__main__":` block.
pub(crate) fn strip_python_main(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut skipping = false;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim();
        if line.starts_with("if __name__") && trimmed.ends_with(':') {
            skipping = true;
            continue;
        }
        let indented = line.starts_with([' ', '\t']) || trimmed.is_empty();
        if skipping && indented {
            continue;
        }
        skipping = false;
        out.push_str(line);
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(language: Language, prompt: &str, entry_point: &str) -> Task {
        Task {
            id: "t".into(),
            language,
            kind: TaskKind::Function {
                prompt: prompt.into(),
                entry_point: entry_point.into(),
            },
            visible: TestSuite::None,
        }
    }

    fn code_tests() -> TestSuite {
        TestSuite::Code {
            code: "assert True\n".into(),
        }
    }

    #[test]
    fn python_full_solutions_follow_the_prompt() {
        let task = function(
            Language::Python,
            "import math\ndef f(x):\n    \"\"\"Doc.\"\"\"\n",
            "f",
        );
        let full =
            "def f(x):\n    return math.sqrt(x)\n\nif __name__ == \"__main__\":\n    print(f(4))\n";
        let program = StandardAssembly.program(&task, full, &code_tests());
        assert_eq!(
            program.source,
            "import math\ndef f(x):\n    \"\"\"Doc.\"\"\"\n\ndef f(x):\n    return math.sqrt(x)"
        );
        assert_eq!(program.entry_point.as_deref(), Some("f"));
        let body = "    return x\n";
        let program = StandardAssembly.program(&task, body, &code_tests());
        assert_eq!(
            program.source,
            "import math\ndef f(x):\n    \"\"\"Doc.\"\"\"\n    return x\n"
        );
    }

    #[test]
    fn cpp_full_solutions_lose_their_main_when_tests_bring_one() {
        let task = function(
            Language::Cpp,
            "#include<vector>\nint add(int a, int b){\n",
            "add",
        );
        let full = "#include <vector>\nint add(int a, int b) {\n    return a + b;\n}\n\nint main() {\n    if (1) { return add(1, 2); }\n}\n";
        let program = StandardAssembly.program(&task, full, &code_tests());
        assert_eq!(
            program.source,
            "#include <vector>\nint add(int a, int b) {\n    return a + b;\n}"
        );
        let program = StandardAssembly.program(
            &task,
            "#include <vector>\nint add(int a, int b) {\n    return a + b;\n}\n",
            &TestSuite::None,
        );
        assert!(program.source.ends_with("int main() { return 0; }\n"));
        let body = "    return a + b;\n}\n";
        let program = StandardAssembly.program(&task, body, &code_tests());
        assert_eq!(
            program.source,
            "#include<vector>\nint add(int a, int b){\n    return a + b;\n}\n"
        );
    }

    #[test]
    fn definitions_are_told_from_calls() {
        assert!(defines(Language::Cpp, "int add(int a, int b) {", "add"));
        assert!(defines(Language::Cpp, "vector<int> add(int a)\n{\n", "add"));
        assert!(!defines(Language::Cpp, "    return add(1, 2);", "add"));
        assert!(!defines(Language::Cpp, "int x = add(1, 2);", "add"));
        assert!(!defines(Language::Cpp, "int padd(int a) {", "add"));
        assert!(defines(Language::Python, "def add(a, b):", "add"));
        assert!(!defines(Language::Python, "print(add(1, 2))", "add"));
    }

    #[test]
    fn program_tasks_run_as_written() {
        let task = Task {
            id: "p".into(),
            language: Language::Cpp,
            kind: TaskKind::Program {
                description: "Sum.".into(),
            },
            visible: TestSuite::None,
        };
        let code = "int main() { return 0; }";
        assert_eq!(
            StandardAssembly
                .program(&task, code, &TestSuite::None)
                .source,
            code
        );
    }
}
