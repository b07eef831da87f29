//! "Implement this function and verify it": the task of the Python function around a line,
//! its docstring's examples as the visible tests, so `generate_for_task` can run a strategy on
//! it; and the edit that puts the verified function in place.

use crucible_types::{Language, Task, TaskKind, TestSuite};

/// A Python function in a file, as a task.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionTask {
    /// Its name (the task's entry point).
    pub name: String,
    /// The line of its `def` (0-based).
    pub def_line: usize,
    /// The line after its last line (0-based, exclusive).
    pub end_line: usize,
    /// The task: the file up to the end of the docstring as the prompt, the docstring's
    /// examples as visible tests.
    pub task: Task,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The Python function whose `def` is at or above `line` and whose body contains `line`, if
/// its docstring shows examples (doctests or `f(x) == y` lines). Without examples there is
/// nothing to verify against: `None`.
pub fn python_function_at(source: &str, line: usize) -> Option<FunctionTask> {
    let lines: Vec<&str> = source.lines().collect();
    let line = line.min(lines.len().checked_sub(1)?);
    let (def_line, name) = (0..=line).rev().find_map(|at| {
        let text = lines[at].trim_start();
        let rest = text
            .strip_prefix("def ")
            .or_else(|| text.strip_prefix("async def "))?;
        let name: String = rest
            .chars()
            .take_while(|ch| ch.is_alphanumeric() || *ch == '_')
            .collect();
        (!name.is_empty()).then_some((at, name))
    })?;
    let def_indent = indent(lines[def_line]);
    // The function ends before the next non-blank line indented no deeper than its `def`
    // (after the signature, which may span lines: those end with `:` on a line of their own).
    let header_end = (def_line..lines.len()).find(|&at| lines[at].trim_end().ends_with(':'))?;
    let end_line = (header_end + 1..lines.len())
        .find(|&at| !lines[at].trim().is_empty() && indent(lines[at]) <= def_indent)
        .unwrap_or(lines.len());
    if line >= end_line {
        return None;
    }
    let prompt = prompt_through_docstring(&lines, header_end, end_line)?;
    let visible = crucible_eval::doctest::docstring_tests(&prompt, &name, |_| true);
    if visible == TestSuite::None {
        return None;
    }
    Some(FunctionTask {
        task: Task {
            id: name.clone(),
            language: Language::Python,
            kind: TaskKind::Function {
                prompt,
                entry_point: name.clone(),
            },
            visible,
        },
        name,
        def_line,
        end_line,
    })
}

/// The file's lines up to the end of the docstring that opens the body after `header_end`.
fn prompt_through_docstring(lines: &[&str], header_end: usize, end_line: usize) -> Option<String> {
    let first = (header_end + 1..end_line).find(|&at| !lines[at].trim().is_empty())?;
    let opening = lines[first].trim_start();
    let quote = ["\"\"\"", "'''"]
        .into_iter()
        .find(|quote| opening.starts_with(quote))?;
    let after_open = &opening[quote.len()..];
    let close = if after_open.contains(quote) {
        first
    } else {
        (first + 1..end_line).find(|&at| lines[at].contains(quote))?
    };
    let mut prompt = lines[..=close].join("\n");
    prompt.push('\n');
    Some(prompt)
}

/// The function `name` as it appears in `code` (from its `def` to its last line), to replace
/// the one in the file; `indent` is put in front of every line (methods).
pub fn function_text(code: &str, name: &str, indent_with: &str) -> Option<String> {
    let lines: Vec<&str> = code.lines().collect();
    let def = format!("def {name}(");
    let start = lines
        .iter()
        .position(|line| line.trim_start().starts_with(&def))?;
    let base = indent(lines[start]);
    let end = (start + 1..lines.len())
        .find(|&at| !lines[at].trim().is_empty() && indent(lines[at]) <= base)
        .unwrap_or(lines.len());
    let mut body: Vec<&str> = lines[start..end].to_vec();
    while body.last().is_some_and(|line| line.trim().is_empty()) {
        body.pop();
    }
    let mut out = String::new();
    for line in body {
        if !line.trim().is_empty() {
            out.push_str(indent_with);
            out.push_str(line.get(base..).unwrap_or(line.trim_start()));
        }
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "import math\n\n\ndef add(a, b):\n    \"\"\"Add two numbers.\n\n    >>> add(2, 3)\n    5\n    \"\"\"\n    pass\n\n\ndef other():\n    return 1\n";

    #[test]
    fn the_function_around_a_line_becomes_a_task_with_its_doctests() {
        let found = python_function_at(FILE, 9).unwrap();
        assert_eq!(found.name, "add");
        assert_eq!((found.def_line, found.end_line), (3, 12));
        let TaskKind::Function { prompt, .. } = &found.task.kind else {
            panic!("a function task");
        };
        assert!(prompt.starts_with("import math\n"));
        assert!(prompt.ends_with("    5\n    \"\"\"\n"), "{prompt}");
        assert_eq!(
            found.task.visible,
            TestSuite::Code {
                code: "assert add(2, 3) == 5\n".into()
            }
        );
    }

    #[test]
    fn a_function_without_examples_or_a_line_outside_functions_gives_none() {
        assert!(python_function_at(FILE, 13).is_none(), "no docstring");
        assert!(python_function_at(FILE, 0).is_none(), "not in a function");
        assert!(python_function_at("", 0).is_none());
    }

    #[test]
    fn the_generated_function_is_cut_out_of_the_program() {
        let code = "import math\n\ndef add(a, b):\n    \"\"\"Add.\"\"\"\n    return a + b\n\n\nprint(add(1, 2))\n";
        assert_eq!(
            function_text(code, "add", "").unwrap(),
            "def add(a, b):\n    \"\"\"Add.\"\"\"\n    return a + b\n"
        );
        assert_eq!(
            function_text(code, "add", "    ").unwrap(),
            "    def add(a, b):\n        \"\"\"Add.\"\"\"\n        return a + b\n"
        );
        assert!(function_text(code, "sub", "").is_none());
    }
}
