//! On-disk formats shared by several commands: the user task file (`crucible generate --task`,
//! `crucible eval --benchmark FILE`).
//!
//! A task file is JSON Lines, one task per line; blank lines are ignored. Two shapes exist:
//!
//! - program task: `{"id", "description", "examples": [{"input", "output"}], "language"?,
//!   "hidden_examples"?}`; the program reads stdin and writes stdout;
//! - function task: `{"id", "prompt", "entry_point", "tests"?, "language"?, "hidden_tests"?}`;
//!   `tests` is test code (a string, or a list of lines such as Python `assert`s) run after the
//!   solution.
//!
//! `examples` and `tests` are visible: generation may use them. `hidden_examples` and `hidden_tests`
//! are for judging only and are returned apart from the [`Task`], so code that is handed a `Task`
//! never sees them. Unknown fields are errors, so a typo such as `"exmaples"` is not silently
//! dropped.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::{Compare, IoCase, Language, Task, TaskKind, TestSuite};

/// One parsed line of a task file: the task generation may see, and the tests kept back.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// 1-based line number in the file.
    pub line: usize,
    /// The visible part.
    pub task: Task,
    /// Tests for judging only (`hidden_examples` / `hidden_tests`), if the file gives any.
    pub hidden: Option<TestSuite>,
}

/// Everything wrong with a task file; every bad line is listed, not just the first.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", render_problems(.problems))]
pub struct TaskFileError {
    /// One entry per problem, in line order.
    pub problems: Vec<TaskFileProblem>,
}

/// One problem in a task file.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFileProblem {
    /// 1-based line number; 0 for problems with the file as a whole.
    pub line: usize,
    /// The field at fault, when there is one.
    pub field: Option<String>,
    pub kind: TaskFileProblemKind,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskFileProblemKind {
    /// The file has no task.
    Empty,
    /// The line is not JSON.
    Json { message: String },
    /// The line is JSON but not an object.
    NotAnObject,
    /// A required field is absent.
    Missing,
    /// A field has the wrong JSON type.
    WrongType { expected: &'static str },
    /// A field is not part of the format (with the known field it is nearest to, if close).
    Unknown { suggestion: Option<String> },
    /// The line has both program and function fields, or neither.
    Shape,
    /// The language is not one Crucible knows.
    Language { given: String },
    /// A field that must have text is empty.
    EmptyText,
    /// The id was already used on an earlier line.
    DuplicateId { first_line: usize },
}

const PROGRAM_FIELDS: &[&str] = &[
    "id",
    "description",
    "examples",
    "language",
    "hidden_examples",
];
const FUNCTION_FIELDS: &[&str] = &[
    "id",
    "prompt",
    "entry_point",
    "tests",
    "language",
    "hidden_tests",
];

/// Parse a whole task file. Every line is checked; all problems are reported together.
pub fn parse_task_file(
    text: &str,
    default_language: Language,
) -> Result<Vec<TaskRecord>, TaskFileError> {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, raw) in task_lines(text) {
        match parse_task_line(&raw, line, default_language) {
            Ok(record) => {
                if let Some(&first_line) = seen.get(&record.task.id) {
                    problems.push(TaskFileProblem {
                        line,
                        field: Some("id".into()),
                        kind: TaskFileProblemKind::DuplicateId { first_line },
                    });
                } else {
                    seen.insert(record.task.id.clone(), line);
                    records.push(record);
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    if records.is_empty() && problems.is_empty() {
        problems.push(TaskFileProblem {
            line: 0,
            field: None,
            kind: TaskFileProblemKind::Empty,
        });
    }
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(TaskFileError { problems })
    }
}

/// The records of a task file with their numbers: one JSON object per line (`.jsonl`), or one
/// JSON document (`.json`: an object, possibly pretty-printed as `crucible data show` prints
/// it, or an array of objects, numbered from 1).
fn task_lines(text: &str) -> Vec<(usize, String)> {
    let trimmed = text.trim_start();
    let multi_line_json = trimmed.starts_with('[')
        || (trimmed.starts_with('{') && trimmed.trim_end().lines().count() > 1);
    if multi_line_json {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => {
                return items
                    .iter()
                    .enumerate()
                    .map(|(idx, item)| (idx + 1, item.to_string()))
                    .collect();
            }
            Ok(object @ Value::Object(_)) => return vec![(1, object.to_string())],
            // Not one document: JSON Lines, whose lines report their own problems.
            _ => {}
        }
    }
    text.lines()
        .enumerate()
        .filter(|(_, raw)| !raw.trim().is_empty())
        .map(|(idx, raw)| (idx + 1, raw.to_owned()))
        .collect()
}

/// A task as one task-file record (`crucible data show --json`), which [`parse_task_line`]
/// reads back. Hidden tests are never part of it.
pub fn task_record(task: &Task) -> Value {
    let mut record = Map::new();
    record.insert("id".into(), Value::String(task.id.clone()));
    record.insert(
        "language".into(),
        Value::String(task.language.name().to_owned()),
    );
    match &task.kind {
        TaskKind::Function {
            prompt,
            entry_point,
        } => {
            record.insert("prompt".into(), Value::String(prompt.clone()));
            record.insert("entry_point".into(), Value::String(entry_point.clone()));
        }
        TaskKind::Program { description } | TaskKind::Freeform { description } => {
            record.insert("description".into(), Value::String(description.clone()));
        }
    }
    match &task.visible {
        TestSuite::None => {}
        TestSuite::Io { cases, .. } => {
            let cases = cases
                .iter()
                .map(|case| serde_json::json!({"input": case.input, "output": case.output}))
                .collect();
            record.insert("examples".into(), Value::Array(cases));
        }
        TestSuite::Code { code } => {
            record.insert("tests".into(), Value::String(code.clone()));
        }
        // Call-based tests have no task-file form; the prompt's examples still show them.
        _ => {}
    }
    Value::Object(record)
}

/// The known field nearest to `given` (a likely typo), if any is close.
fn nearest_field(given: &str, allowed: &[&str]) -> Option<String> {
    allowed
        .iter()
        .map(|known| (strsim::jaro_winkler(given, known), *known))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, known)| known.to_owned())
}

/// Parse one line of a task file (`line` is its 1-based number, used in errors).
pub fn parse_task_line(
    raw: &str,
    line: usize,
    default_language: Language,
) -> Result<TaskRecord, TaskFileProblem> {
    let problem = |field: Option<&str>, kind| TaskFileProblem {
        line,
        field: field.map(str::to_owned),
        kind,
    };
    let value: Value = serde_json::from_str(raw).map_err(|err| {
        problem(
            None,
            TaskFileProblemKind::Json {
                message: err.to_string(),
            },
        )
    })?;
    let Value::Object(object) = value else {
        return Err(problem(None, TaskFileProblemKind::NotAnObject));
    };
    let fields = Fields { object, line };
    let is_program = fields.object.contains_key("description");
    let is_function = fields.object.contains_key("prompt");
    if is_program == is_function {
        return Err(problem(None, TaskFileProblemKind::Shape));
    }
    let allowed = if is_program {
        PROGRAM_FIELDS
    } else {
        FUNCTION_FIELDS
    };
    if let Some(unknown) = fields
        .object
        .keys()
        .find(|k| !allowed.contains(&k.as_str()))
    {
        let suggestion = nearest_field(unknown, allowed);
        return Err(problem(
            Some(unknown),
            TaskFileProblemKind::Unknown { suggestion },
        ));
    }
    let id = fields.text("id")?;
    let language = fields.language(default_language)?;
    let (kind, visible, hidden) = if is_program {
        let description = fields.text("description")?;
        let visible = fields.examples("examples")?;
        let hidden = fields.optional_examples("hidden_examples")?;
        (TaskKind::Program { description }, visible, hidden)
    } else {
        let prompt = fields.text("prompt")?;
        let entry_point = fields.text("entry_point")?;
        let visible = fields.code("tests")?.unwrap_or_default();
        let hidden = fields.code("hidden_tests")?;
        let kind = TaskKind::Function {
            prompt,
            entry_point,
        };
        (kind, visible, hidden)
    };
    Ok(TaskRecord {
        line,
        task: Task {
            id,
            language,
            kind,
            visible,
        },
        hidden,
    })
}

/// A JSON object being read field by field, with errors that name the line and field.
struct Fields {
    object: Map<String, Value>,
    line: usize,
}

impl Fields {
    fn problem(&self, field: &str, kind: TaskFileProblemKind) -> TaskFileProblem {
        TaskFileProblem {
            line: self.line,
            field: Some(field.to_owned()),
            kind,
        }
    }

    fn text(&self, field: &str) -> Result<String, TaskFileProblem> {
        match self.object.get(field) {
            None | Some(Value::Null) => Err(self.problem(field, TaskFileProblemKind::Missing)),
            Some(Value::String(text)) if text.trim().is_empty() => {
                Err(self.problem(field, TaskFileProblemKind::EmptyText))
            }
            Some(Value::String(text)) => Ok(text.clone()),
            Some(_) => Err(self.problem(
                field,
                TaskFileProblemKind::WrongType {
                    expected: "a string",
                },
            )),
        }
    }

    fn language(&self, default_language: Language) -> Result<Language, TaskFileProblem> {
        match self.object.get("language") {
            None | Some(Value::Null) => Ok(default_language),
            Some(Value::String(name)) => Language::from_alias(name).ok_or_else(|| {
                self.problem(
                    "language",
                    TaskFileProblemKind::Language {
                        given: name.clone(),
                    },
                )
            }),
            Some(_) => Err(self.problem(
                "language",
                TaskFileProblemKind::WrongType {
                    expected: "a string",
                },
            )),
        }
    }

    fn examples(&self, field: &str) -> Result<TestSuite, TaskFileProblem> {
        Ok(self.optional_examples(field)?.unwrap_or_default())
    }

    fn optional_examples(&self, field: &str) -> Result<Option<TestSuite>, TaskFileProblem> {
        let wrong = |idx: Option<usize>, expected| {
            let name = match idx {
                Some(idx) => format!("{field}[{idx}]"),
                None => field.to_owned(),
            };
            self.problem(&name, TaskFileProblemKind::WrongType { expected })
        };
        let items = match self.object.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(wrong(None, "a list of {\"input\", \"output\"} objects")),
        };
        let mut cases = Vec::with_capacity(items.len());
        for (idx, item) in items.iter().enumerate() {
            let Value::Object(pair) = item else {
                return Err(wrong(Some(idx), "an {\"input\", \"output\"} object"));
            };
            if let Some(unknown) = pair.keys().find(|k| *k != "input" && *k != "output") {
                return Err(self.problem(
                    &format!("{field}[{idx}].{unknown}"),
                    TaskFileProblemKind::Unknown {
                        suggestion: nearest_field(unknown, &["input", "output"]),
                    },
                ));
            }
            let side = |name: &str| match pair.get(name) {
                Some(Value::String(text)) => Ok(text.clone()),
                None | Some(Value::Null) => Err(self.problem(
                    &format!("{field}[{idx}].{name}"),
                    TaskFileProblemKind::Missing,
                )),
                Some(_) => Err(self.problem(
                    &format!("{field}[{idx}].{name}"),
                    TaskFileProblemKind::WrongType {
                        expected: "a string",
                    },
                )),
            };
            let input = side("input")?;
            let output = side("output")?;
            cases.push(IoCase { input, output });
        }
        if cases.is_empty() {
            return Ok(None);
        }
        Ok(Some(TestSuite::Io {
            cases,
            compare: Compare::Whitespace,
        }))
    }

    /// Test code given as one string or as a list of lines.
    fn code(&self, field: &str) -> Result<Option<TestSuite>, TaskFileProblem> {
        let wrong = || {
            self.problem(
                field,
                TaskFileProblemKind::WrongType {
                    expected: "a string or a list of strings",
                },
            )
        };
        let code = match self.object.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(code)) => code.clone(),
            Some(Value::Array(lines)) => {
                let mut code = String::new();
                for line in lines {
                    let Value::String(line) = line else {
                        return Err(wrong());
                    };
                    code.push_str(line);
                    code.push('\n');
                }
                code
            }
            Some(_) => return Err(wrong()),
        };
        if code.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(TestSuite::Code { code }))
    }
}

impl fmt::Display for TaskFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        match &self.kind {
            TaskFileProblemKind::Empty => f.write_str("the task file has no task"),
            TaskFileProblemKind::Json { message } => write!(f, "not valid JSON: {message}"),
            TaskFileProblemKind::NotAnObject => f.write_str("expected a JSON object"),
            TaskFileProblemKind::Missing => f.write_str("missing"),
            TaskFileProblemKind::WrongType { expected } => write!(f, "expected {expected}"),
            TaskFileProblemKind::Unknown { suggestion } => {
                if let Some(known) = suggestion {
                    write!(f, "unknown field; did you mean `{known}`? ")?;
                } else {
                    f.write_str("unknown field ")?;
                }
                f.write_str(
                    "(program tasks: id, description, examples, language, hidden_examples; \
                     function tasks: id, prompt, entry_point, tests, language, hidden_tests)",
                )
            }
            TaskFileProblemKind::Shape => f.write_str(
                "a task needs exactly one of `description` (program task) and `prompt` (function task)",
            ),
            TaskFileProblemKind::Language { given } => write!(
                f,
                "unknown language `{given}`; supported: {}",
                Language::names().join(", ")
            ),
            TaskFileProblemKind::EmptyText => f.write_str("is empty"),
            TaskFileProblemKind::DuplicateId { first_line } => {
                write!(f, "duplicate id, first used on line {first_line}")
            }
        }
    }
}

fn render_problems(problems: &[TaskFileProblem]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(text: &str, expect: &str) {
        let err = parse_task_file(text, Language::Python).unwrap_err();
        assert_eq!(err.to_string(), expect);
    }

    #[test]
    fn program_and_function_tasks() {
        let text = concat!(
            r#"{"id": "sum", "description": "Add two numbers.", "examples": [{"input": "1 2\n", "output": "3\n"}], "language": "c++"}"#,
            "\n\n",
            r#"{"id": "rev", "prompt": "def rev(s):\n", "entry_point": "rev", "tests": ["assert rev('ab') == 'ba'"], "hidden_tests": "assert rev('') == ''"}"#,
        );
        let records = parse_task_file(text, Language::Python).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].task.language, Language::Cpp);
        assert_eq!(records[0].line, 1);
        assert!(
            matches!(records[0].task.visible, TestSuite::Io { ref cases, .. } if cases.len() == 1)
        );
        assert_eq!(records[0].hidden, None);
        assert_eq!(records[1].line, 3);
        assert_eq!(records[1].task.language, Language::Python);
        assert_eq!(
            records[1].task.visible,
            TestSuite::Code {
                code: "assert rev('ab') == 'ba'\n".into()
            }
        );
        assert!(records[1].hidden.is_some());
    }

    #[test]
    fn errors_name_line_and_field() {
        check_err("", "the task file has no task");
        check_err(
            "{\"id\": 1,",
            "line 1: not valid JSON: EOF while parsing a value at line 1 column 9",
        );
        check_err("[1]", "line 1: expected a JSON object");
        check_err(
            r#"{"id": "a", "prompt": "def f():", "entry_point": 3}"#,
            "line 1: field `entry_point`: expected a string",
        );
        check_err(
            r#"{"id": "a", "description": "x", "exmaples": []}"#,
            "line 1: field `exmaples`: unknown field; did you mean `examples`? (program tasks: id, description, examples, language, hidden_examples; function tasks: id, prompt, entry_point, tests, language, hidden_tests)",
        );
        check_err(
            r#"{"id": "a", "description": "x", "examples": [{"input": "1"}]}"#,
            "line 1: field `examples[0].output`: missing",
        );
        check_err(
            r#"{"id": "a", "description": "x", "language": "cobol"}"#,
            "line 1: field `language`: unknown language `cobol`; supported: python, c, cpp, rust, java, javascript, go",
        );
        check_err(
            r#"{"id": "a"}"#,
            "line 1: a task needs exactly one of `description` (program task) and `prompt` (function task)",
        );
        check_err(
            "{\"id\": \"a\", \"description\": \"x\"}\n{\"id\": \"a\", \"description\": \"y\"}\n{\"description\": \"z\"}",
            "line 2: field `id`: duplicate id, first used on line 1; line 3: field `id`: missing",
        );
    }
}
