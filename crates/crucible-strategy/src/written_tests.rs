//! Tests written by the model: the prompts (CodeT's test generation, AgentCoder's test
//! designer), parsing the answers into single tests, a syntax check, and the suite they form.
//!
//! Formats: Python `assert` lines for Python function tasks, C/C++ `assert` lines for C and C++
//! function tasks, and stdin/stdout examples for program tasks. Other tasks get no model-written
//! tests, and the strategy says so in its trace.

use crucible_infer::{Message, Prompt};
use crucible_types::{Compare, IoCase, Language, Task, TaskKind, TestSuite};

use crate::Result;
use crate::session::{Ask, Session};
use crate::trace::Stage;

/// One model-written test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WrittenTest {
    /// One assert statement (Python or C/C++).
    Assert(String),
    /// One stdin/stdout example.
    Io(IoCase),
}

/// How the model is asked to write tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// CodeT: plain test cases for the specification.
    Cases,
    /// AgentCoder's test designer: basic, edge and larger cases.
    Designer,
}

/// The shape model-written tests take for this task, if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    PythonAsserts,
    CAsserts,
    Examples,
}

fn shape(task: &Task) -> Option<Shape> {
    match (&task.kind, task.language) {
        (TaskKind::Function { .. }, Language::Python) => Some(Shape::PythonAsserts),
        (TaskKind::Function { .. }, Language::C | Language::Cpp) => Some(Shape::CAsserts),
        (TaskKind::Program { .. }, _) => Some(Shape::Examples),
        _ => None,
    }
}

/// Whether the model can write tests for this task.
pub(crate) fn supported(task: &Task) -> bool {
    shape(task).is_some()
}

/// Longest test kept: longer ones are usually a runaway list literal.
const MAX_TEST_CHARS: usize = 400;

/// Ask for about `count` tests in each of `n` sequences.
pub(crate) fn ask(
    task: &Task,
    count: usize,
    n: usize,
    style: Style,
    max_new: usize,
) -> Option<Ask> {
    let shape = shape(task)?;
    let coverage = match style {
        Style::Cases => {
            "Use small inputs and work out each expected result carefully from the description."
        }
        Style::Designer => {
            "Cover basic cases, edge cases (empty input, zero, negative numbers, a single element) and one larger input. Work out each expected result carefully from the description."
        }
    };
    // Examples are numbered on from the task's own; the model stops at the first one past
    // `count` instead of writing more, or prose.
    let mut examples_stop = Vec::new();
    let (user, prefill) = match (&task.kind, shape) {
        (
            TaskKind::Function {
                prompt,
                entry_point,
            },
            Shape::PythonAsserts | Shape::CAsserts,
        ) => {
            let (lang, tag, form, prefill) = if shape == Shape::PythonAsserts {
                (
                    "Python",
                    "python",
                    format!("assert {entry_point}(...) == ..."),
                    format!("```python\nassert {entry_point}("),
                )
            } else {
                let tag = task.language.fence_tag();
                (
                    task.language.display_name(),
                    tag,
                    format!("assert ({entry_point}(...) == ...);"),
                    format!("```{tag}\nassert ({entry_point}("),
                )
            };
            let user = format!(
                "```{tag}\n{}\n```\n\nWrite {count} test cases for the function `{entry_point}` above as {lang} assert statements, one per line: `{form}`. {coverage} Do not write the function.",
                prompt.trim_end()
            );
            (user, prefill)
        }
        (TaskKind::Program { description }, _) => {
            let shown = match &task.visible {
                TestSuite::Io { cases, .. } => cases.len(),
                _ => 0,
            };
            let user = format!(
                "{}{}\n\nWrite {count} more examples for this problem: new inputs, each with the exact output a correct program prints, in the same format as above. {coverage}",
                description.trim(),
                render_examples(&task.visible)
            );
            examples_stop.push(format!("Example {}\n", shown + count + 1));
            (user, format!("Example {}\nInput:\n```\n", shown + 1))
        }
        _ => return None,
    };
    Some(Ask {
        stage: Stage::Tests,
        prompt: Prompt::Chat {
            messages: vec![Message::user(user)],
            prefill: prefill.clone(),
        },
        answer_prefix: prefill,
        suffix_on_stop: String::new(),
        stop: if shape == Shape::Examples {
            examples_stop
        } else {
            vec!["\n```".into()]
        },
        n,
        greedy: n == 1,
        max_new_tokens: max_new,
    })
}

/// Render examples the way `crucible_infer::prompt` shows them in task prompts.
fn render_examples(suite: &TestSuite) -> String {
    let TestSuite::Io { cases, .. } = suite else {
        return String::new();
    };
    let mut text = String::new();
    for (idx, case) in cases.iter().enumerate() {
        text.push_str(&format!(
            "\n\nExample {}\nInput:\n```\n{}\n```\nOutput:\n```\n{}\n```",
            idx + 1,
            case.input.trim_end(),
            case.output.trim_end()
        ));
    }
    text
}

/// The distinct tests in the answers, at most `limit`, minus any the task already shows.
pub(crate) fn parse(task: &Task, answers: &[String], limit: usize) -> Vec<WrittenTest> {
    let Some(shape) = shape(task) else {
        return Vec::new();
    };
    let mut tests: Vec<WrittenTest> = Vec::new();
    for answer in answers {
        let found = match shape {
            Shape::Examples => parse_examples(answer),
            Shape::PythonAsserts | Shape::CAsserts => {
                parse_asserts(answer, task.entry_point().unwrap_or(""), shape)
            }
        };
        for test in found {
            if !tests.contains(&test) && !already_visible(task, &test) {
                tests.push(test);
            }
        }
    }
    tests.truncate(limit);
    tests
}

fn already_visible(task: &Task, test: &WrittenTest) -> bool {
    match (&task.visible, test) {
        (TestSuite::Code { code }, WrittenTest::Assert(line)) => {
            code.lines().any(|l| l.trim() == line.trim())
        }
        (TestSuite::Io { cases, .. }, WrittenTest::Io(case)) => {
            cases.iter().any(|c| c.input.trim() == case.input.trim())
        }
        _ => false,
    }
}

fn parse_asserts(answer: &str, entry_point: &str, shape: Shape) -> Vec<WrittenTest> {
    let call = format!("{entry_point}(");
    answer
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("assert") && line.contains(&call))
        .filter(|line| line.len() <= MAX_TEST_CHARS && balanced(line))
        .filter(|line| shape == Shape::PythonAsserts || line.ends_with(';'))
        .map(|line| WrittenTest::Assert(line.to_owned()))
        .collect()
}

/// Brackets balance outside string literals.
fn balanced(line: &str) -> bool {
    let mut stack = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return false;
                }
            }
            _ => {}
        }
    }
    stack.is_empty() && quote.is_none()
}

/// `Input:` / `Output:` pairs, each followed by a fenced block.
fn parse_examples(answer: &str) -> Vec<WrittenTest> {
    let mut tests = Vec::new();
    let mut rest = answer;
    while let Some(at) = rest.find("Input:") {
        rest = &rest[at + "Input:".len()..];
        let Some((input, after)) = fenced(rest) else {
            break;
        };
        let Some(out_at) = after.find("Output:") else {
            break;
        };
        let Some((output, after)) = fenced(&after[out_at + "Output:".len()..]) else {
            break;
        };
        rest = after;
        if input.trim().is_empty() || output.trim().is_empty() {
            continue;
        }
        tests.push(WrittenTest::Io(IoCase {
            input: format!("{}\n", input.trim_end()),
            output: format!("{}\n", output.trim_end()),
        }));
    }
    tests
}

/// The body of the first fenced block in `text` (only blank space before it) and the rest.
fn fenced(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start_matches([' ', '\t', '\r', '\n']);
    let body = text.strip_prefix("```")?;
    let body = &body[body.find('\n')? + 1..];
    let end = body.find("```")?;
    Some((&body[..end], &body[end + 3..]))
}

/// Keep the tests that parse (Python: one helper run of `ast.parse` over each test).
pub(crate) fn check_syntax(
    session: &mut Session<'_>,
    tests: Vec<WrittenTest>,
) -> Result<Vec<WrittenTest>> {
    let python = session.task.language == Language::Python
        && tests.iter().all(|t| matches!(t, WrittenTest::Assert(_)));
    if !python || tests.is_empty() {
        return Ok(tests);
    }
    let literals: Vec<String> = tests
        .iter()
        .map(|t| match t {
            WrittenTest::Assert(line) => serde_json::to_string(line).unwrap_or_default(),
            WrittenTest::Io(_) => String::new(),
        })
        .collect();
    let source = format!(
        "import ast\ntests = [{}]\nfor i, t in enumerate(tests):\n    try:\n        ast.parse(t)\n    except SyntaxError:\n        continue\n    print(i)\n",
        literals.join(", ")
    );
    let Some(report) = session.run_helper(Language::Python, source)? else {
        return Ok(Vec::new());
    };
    if !report.status.is_pass() {
        return Ok(Vec::new());
    }
    let good: Vec<usize> = report
        .output
        .as_deref()
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    Ok(tests
        .into_iter()
        .enumerate()
        .filter(|(idx, _)| good.contains(idx))
        .map(|(_, t)| t)
        .collect())
}

/// The suite that runs `tests` (all of one kind) against a candidate.
pub(crate) fn suite(task: &Task, tests: &[WrittenTest]) -> TestSuite {
    let asserts: Vec<&str> = tests
        .iter()
        .filter_map(|t| match t {
            WrittenTest::Assert(line) => Some(line.as_str()),
            WrittenTest::Io(_) => None,
        })
        .collect();
    if !asserts.is_empty() {
        let body = asserts.join("\n");
        let code = match task.language {
            Language::Python => format!("{body}\n"),
            _ => format!(
                "#undef NDEBUG\n#include<assert.h>\nint main(){{\n{}\n}}\n",
                asserts
                    .iter()
                    .map(|a| format!("    {a}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        };
        return TestSuite::Code { code };
    }
    let cases: Vec<IoCase> = tests
        .iter()
        .filter_map(|t| match t {
            WrittenTest::Io(case) => Some(case.clone()),
            WrittenTest::Assert(_) => None,
        })
        .collect();
    let compare = match &task.visible {
        TestSuite::Io { compare, .. } => *compare,
        _ => Compare::Whitespace,
    };
    TestSuite::Io { cases, compare }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python_task() -> Task {
        Task {
            id: "t".into(),
            language: Language::Python,
            kind: TaskKind::Function {
                prompt: "def add(a, b):\n    \"\"\"Add.\"\"\"\n".into(),
                entry_point: "add".into(),
            },
            visible: TestSuite::Code {
                code: "assert add(1, 2) == 3\n".into(),
            },
        }
    }

    #[test]
    fn example_requests_stop_after_the_examples_asked_for() {
        let task = Task {
            id: "sum".into(),
            language: Language::Cpp,
            kind: TaskKind::Program {
                description: "Print the sum of two integers.".into(),
            },
            visible: TestSuite::Io {
                cases: vec![
                    IoCase {
                        input: "1 2\n".into(),
                        output: "3\n".into(),
                    },
                    IoCase {
                        input: "2 2\n".into(),
                        output: "4\n".into(),
                    },
                ],
                compare: Compare::Whitespace,
            },
        };
        let ask = ask(&task, 5, 1, Style::Cases, 256).unwrap();
        // Two shown, five asked for: examples 3 to 7, then stop at the 8th.
        assert_eq!(ask.answer_prefix, "Example 3\nInput:\n```\n");
        assert_eq!(ask.stop, vec!["Example 8\n".to_owned()]);
    }

    #[test]
    fn asserts_are_parsed_deduplicated_and_filtered() {
        let answers = vec![
            "```python\nassert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(0, 0) == 0\nassert add([1, 2) == 0\nprint(add(1, 1))\n```".to_string(),
            "```python\nassert add(2, 2) == 4\nassert add(-1, 1) == 0\n".to_string(),
        ];
        let tests = parse(&python_task(), &answers, 10);
        assert_eq!(
            tests,
            vec![
                WrittenTest::Assert("assert add(2, 2) == 4".into()),
                WrittenTest::Assert("assert add(0, 0) == 0".into()),
                WrittenTest::Assert("assert add(-1, 1) == 0".into()),
            ]
        );
        assert_eq!(parse(&python_task(), &answers, 2).len(), 2);
        assert_eq!(
            suite(&python_task(), &tests[..2]),
            TestSuite::Code {
                code: "assert add(2, 2) == 4\nassert add(0, 0) == 0\n".into()
            }
        );
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        assert!(balanced("assert f(\"(]\") == '['"));
        assert!(!balanced("assert f([1, 2) == 3"));
        assert!(!balanced("assert f('abc) == 3"));
    }

    #[test]
    fn examples_are_parsed() {
        let task = Task {
            id: "p".into(),
            language: Language::Cpp,
            kind: TaskKind::Program {
                description: "Print the sum.".into(),
            },
            visible: TestSuite::Io {
                cases: vec![IoCase {
                    input: "1 2\n".into(),
                    output: "3\n".into(),
                }],
                compare: Compare::Whitespace,
            },
        };
        let answer = "Example 2\nInput:\n```\n5 7\n```\nOutput:\n```\n12\n```\n\nExample 3\nInput:\n```\n1 2\n```\nOutput:\n```\n3\n```\nExample 4\nInput:\n```\n0 0\n```\nOutput:\n```\n";
        let tests = parse(&task, &[answer.to_string()], 10);
        assert_eq!(
            tests,
            vec![WrittenTest::Io(IoCase {
                input: "5 7\n".into(),
                output: "12\n".into()
            })]
        );
        let ask = ask(&task, 3, 2, Style::Cases, 200).unwrap();
        assert_eq!(ask.answer_prefix, "Example 2\nInput:\n```\n");
        let Prompt::Chat { messages, .. } = &ask.prompt else {
            panic!("tests are asked for in a chat");
        };
        assert!(
            messages[0]
                .content
                .contains("Example 1\nInput:\n```\n1 2\n```")
        );
    }

    #[test]
    fn cpp_asserts_get_a_main() {
        let task = Task {
            id: "c".into(),
            language: Language::Cpp,
            kind: TaskKind::Function {
                prompt: "int add(int a, int b){\n".into(),
                entry_point: "add".into(),
            },
            visible: TestSuite::None,
        };
        let tests = parse(
            &task,
            &["```cpp\nassert (add(1, 2) == 3);\nassert (add(1, 1) == 2)\n".to_string()],
            5,
        );
        assert_eq!(tests.len(), 1, "a line without `;` is cut off: {tests:?}");
        assert_eq!(
            suite(&task, &tests),
            TestSuite::Code {
                code: "#undef NDEBUG\n#include<assert.h>\nint main(){\n    assert (add(1, 2) == 3);\n}\n"
                    .into()
            }
        );
    }

    #[test]
    fn other_tasks_get_none() {
        let task = Task {
            id: "f".into(),
            language: Language::Go,
            kind: TaskKind::Freeform {
                description: "x".into(),
            },
            visible: TestSuite::None,
        };
        assert!(!supported(&task));
        assert!(ask(&task, 3, 1, Style::Cases, 100).is_none());
    }
}
