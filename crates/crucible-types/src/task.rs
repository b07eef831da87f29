//! Tasks as generation sees them: a prompt plus the tests the task itself shows.
//!
//! A benchmark's hidden tests are deliberately *not* part of [`Task`]: they live in
//! `crucible-eval`, which generation and strategy crates cannot depend on. Anything that accepts a
//! `Task` therefore cannot reach hidden tests, by construction.

use serde::{Deserialize, Serialize};

use crate::Language;

/// A unit of work for a generator: what to write, in which language, and the visible tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Stable identifier, e.g. `HumanEval/0` or `p03698`.
    pub id: String,
    /// The language the solution must be written in.
    pub language: Language,
    /// What kind of code is asked for.
    pub kind: TaskKind,
    /// Tests the task itself shows (docstring examples, sample input/output). These are the only
    /// tests a generation strategy may use.
    pub visible: TestSuite,
}

/// The shape of the code a task asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskKind {
    /// Complete a function (HumanEval style). `prompt` is code: imports, the signature and a doc
    /// comment; `entry_point` names the function the tests call.
    Function { prompt: String, entry_point: String },
    /// Write a whole program that reads stdin and writes stdout (CodeNet / AtCoder style).
    Program { description: String },
    /// Free-form request with no fixed interface ("a function that reverses a string").
    Freeform { description: String },
}

/// A set of tests a program can be run against.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TestSuite {
    /// No tests: a clean run is a pass.
    #[default]
    None,
    /// Run the program once per case with `input` on stdin and compare stdout with `output`.
    Io {
        cases: Vec<IoCase>,
        compare: Compare,
    },
    /// Test code run against the program. Python: asserts or a `check(candidate)` function over
    /// the names the program defines. Other languages: code appended after the program
    /// (HumanEval-X / MultiPL-E style), usually a `main` full of asserts.
    Code { code: String },
    /// Call the entry point with each argument tuple and compare the returned value with the
    /// expected one (EvalPlus style; Python only). Values are Python literal expressions.
    Calls {
        entry_point: String,
        cases: Vec<CallCase>,
        /// Absolute tolerance for floats; 0 means exact.
        atol: f64,
    },
}

/// One stdin/stdout example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoCase {
    pub input: String,
    pub output: String,
}

/// One call-based test: arguments and the expected result, both Python literal expressions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCase {
    /// A Python expression evaluating to the list of positional arguments, e.g. `[[1, 2], 3]`.
    pub args: String,
    /// A Python expression for the expected return value, e.g. `(4, 5)`.
    pub expected: String,
}

/// How a program's stdout is compared with the expected output.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Compare {
    /// Compare whitespace-separated tokens (the judges' usual rule).
    #[default]
    Whitespace,
    /// Byte-for-byte.
    Exact,
    /// Tokens must match, numbers may differ by `abs` absolute or `rel` relative error.
    Float { abs: f64, rel: f64 },
}

/// A task that cannot be used as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("task `{id}` has an empty {field}")]
    Empty { id: String, field: &'static str },
    #[error("task `{id}`: {problem}")]
    Invalid { id: String, problem: String },
}

impl Task {
    /// Check the invariants generation relies on.
    pub fn validate(&self) -> Result<(), TaskError> {
        let empty = |field| TaskError::Empty {
            id: self.id.clone(),
            field,
        };
        if self.id.trim().is_empty() {
            return Err(TaskError::Invalid {
                id: self.id.clone(),
                problem: "the id is empty".into(),
            });
        }
        match &self.kind {
            TaskKind::Function {
                prompt,
                entry_point,
            } => {
                if prompt.trim().is_empty() {
                    return Err(empty("prompt"));
                }
                if entry_point.trim().is_empty() {
                    return Err(empty("entry_point"));
                }
            }
            TaskKind::Program { description } | TaskKind::Freeform { description } => {
                if description.trim().is_empty() {
                    return Err(empty("description"));
                }
            }
        }
        Ok(())
    }

    /// The entry point, for function tasks.
    pub fn entry_point(&self) -> Option<&str> {
        match &self.kind {
            TaskKind::Function { entry_point, .. } => Some(entry_point),
            _ => None,
        }
    }

    /// Whether the task shows any tests a strategy could run.
    pub fn has_visible_tests(&self) -> bool {
        !self.visible.is_empty()
    }
}

impl TestSuite {
    /// How many tests the suite holds, when that is known without running it: its cases (stdin
    /// or call cases), none for no tests; `None` for test code, whose asserts are counted as
    /// they run.
    pub fn case_count(&self) -> Option<usize> {
        match self {
            TestSuite::None => Some(0),
            TestSuite::Io { cases, .. } => Some(cases.len()),
            TestSuite::Calls { cases, .. } => Some(cases.len()),
            TestSuite::Code { .. } => None,
        }
    }

    /// True when there is nothing to run.
    pub fn is_empty(&self) -> bool {
        match self {
            TestSuite::None => true,
            TestSuite::Io { cases, .. } => cases.is_empty(),
            TestSuite::Code { code } => code.trim().is_empty(),
            TestSuite::Calls { cases, .. } => cases.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(description: &str) -> Task {
        Task {
            id: "t".into(),
            language: Language::Cpp,
            kind: TaskKind::Program {
                description: description.into(),
            },
            visible: TestSuite::None,
        }
    }

    #[test]
    fn empty_description_is_rejected() {
        assert_eq!(
            program("  \n").validate().unwrap_err().to_string(),
            "task `t` has an empty description"
        );
        assert!(program("Sum two numbers.").validate().is_ok());
    }

    #[test]
    fn suite_emptiness() {
        assert!(TestSuite::None.is_empty());
        assert!(TestSuite::Code { code: " ".into() }.is_empty());
        let io = TestSuite::Io {
            cases: vec![IoCase {
                input: "1\n".into(),
                output: "1\n".into(),
            }],
            compare: Compare::Whitespace,
        };
        assert!(!io.is_empty());
    }

    #[test]
    fn serde_shape_is_tagged() {
        let json = serde_json::to_value(program("x")).unwrap();
        assert_eq!(json["kind"]["type"], "program");
        assert_eq!(json["visible"]["type"], "none");
    }
}
