//! Turning the examples in a Python docstring into `assert` lines: HumanEval's visible tests.
//!
//! HumanEval prompts show examples in several hand-written styles. Recognised, in the entry
//! point's docstring only:
//!
//! - doctests: `>>> expr` (with `...` continuation lines) followed by the expected output on the
//!   next lines (several lines are joined); `>>>` lines that are statements (`x = 5`) are kept as
//!   setup for the examples after them;
//! - call lines: `name(args) SEP expected` where SEP is one of `==`, `==>`, `=>`, `->`, `➞`, `=`,
//!   `returns`, `should return`, `# returns`, `# =>`, the call possibly spanning lines, optionally
//!   after a bullet or the word `for`/`assert`;
//! - `For x = V, y = W the output/result should be R`;
//! - `Input: ...` / `Output: ...` blocks, the input either a bare value (one-parameter functions)
//!   or `param = value` pairs.
//!
//! Every argument and expected value must be a Python literal ([`crate::pylit`]); a lone
//! lowercase `true`/`false` as the expected value is read as `True`/`False`. Anything else is
//! dropped: an example we cannot read faithfully must not become a test that rejects correct
//! code. Examples whose stated answer the reference solution itself contradicts are removed by
//! the loader (docs/BENCHMARKS.md lists them).

use crate::pylit::{is_literal, matching_close, split_top_level};

/// One example from a docstring, as Python test code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocExample {
    /// Statements the example needs first (doctest assignments before it).
    pub setup: Vec<String>,
    /// The expression under test, e.g. `add(2, 3)`.
    pub call: String,
    /// The expected value, a Python literal.
    pub expected: String,
}

impl DocExample {
    /// The example as one `assert` line.
    pub fn to_assert(&self) -> String {
        format!("assert {} == {}", self.call, self.expected)
    }
}

/// The docstring examples of `entry_point` in `prompt` as Python asserts, the ones `keep`
/// accepts (it sees each assert line), with the setup statements of doctests before the first
/// assert that needs them; [`TestSuite::None`] when there is none. HumanEval's visible tests
/// and the language server's "implement and verify" action both come from here.
pub fn docstring_tests(
    prompt: &str,
    entry_point: &str,
    keep: impl Fn(&str) -> bool,
) -> crucible_types::TestSuite {
    let mut code = String::new();
    let mut emitted_setup: Vec<String> = Vec::new();
    for example in extract_examples(prompt, entry_point) {
        let assert = example.to_assert();
        if !keep(&assert) {
            continue;
        }
        for statement in &example.setup {
            if !emitted_setup.contains(statement) {
                code.push_str(statement);
                code.push('\n');
                emitted_setup.push(statement.clone());
            }
        }
        code.push_str(&assert);
        code.push('\n');
    }
    if code.is_empty() {
        crucible_types::TestSuite::None
    } else {
        crucible_types::TestSuite::Code { code }
    }
}

/// Extract the examples of `entry_point`'s docstring in `prompt`.
pub fn extract_examples(prompt: &str, entry_point: &str) -> Vec<DocExample> {
    let Some((params, doc)) = docstring(prompt, entry_point) else {
        return Vec::new();
    };
    let lines: Vec<&str> = doc.lines().map(str::trim).collect();
    let mut examples = Vec::new();
    let mut setup: Vec<String> = Vec::new();
    let mut idx = 0;
    while idx < lines.len() {
        let line = lines[idx];
        let consumed = if line.starts_with(">>>") {
            doctest(&lines, idx, entry_point, &mut setup, &mut examples)
        } else if let Some((example, used)) = call_line(&lines, idx, entry_point) {
            examples.push(example);
            used
        } else if let Some(example) = for_line(line, entry_point, &params) {
            examples.push(example);
            1
        } else if let Some((example, used)) = input_output(&lines, idx, entry_point, &params) {
            examples.push(example);
            used
        } else {
            1
        };
        idx += consumed.max(1);
    }
    examples
}

/// The parameter names and the docstring text of `def entry_point(...)`.
fn docstring(prompt: &str, entry_point: &str) -> Option<(Vec<String>, String)> {
    let def = format!("def {entry_point}(");
    let start = prompt.rfind(&def)?;
    let open = start + def.len() - 1;
    let close = matching_close(prompt, open)?;
    let params = split_top_level(&prompt[open + 1..close - 1], ',')?
        .iter()
        .map(|p| param_name(p))
        .filter(|p| !p.is_empty())
        .collect();
    let rest = &prompt[close..];
    let (quote_at, quote) = ["\"\"\"", "'''"]
        .iter()
        .filter_map(|q| rest.find(q).map(|at| (at, *q)))
        .min()?;
    let body_start = quote_at + quote.len();
    let body_end = rest[body_start..]
        .find(quote)
        .map_or(rest.len(), |end| body_start + end);
    Some((params, rest[body_start..body_end].to_owned()))
}

fn param_name(param: &str) -> String {
    let name = param.split([':', '=']).next().unwrap_or("");
    name.trim().trim_start_matches('*').to_owned()
}

/// A `>>>` example starting at `lines[idx]`; returns the number of lines used.
fn doctest(
    lines: &[&str],
    idx: usize,
    entry_point: &str,
    setup: &mut Vec<String>,
    examples: &mut Vec<DocExample>,
) -> usize {
    let mut expr = lines[idx].trim_start_matches(">>>").trim().to_owned();
    let mut end = idx + 1;
    while end < lines.len() && lines[end].starts_with("...") {
        expr.push(' ');
        expr.push_str(lines[end].trim_start_matches("...").trim());
        end += 1;
    }
    let output_start = end;
    while end < lines.len() && !lines[end].is_empty() && !lines[end].starts_with(">>>") {
        end += 1;
    }
    let output = lines[output_start..end].join(" ");
    let expr = strip_comment(&expr);
    if output.is_empty() {
        // `>>> f(x) == y` with no output line states the answer inline.
        if let Some(example) = inline_comparison(&expr, entry_point, setup) {
            examples.push(example);
        } else if is_statement(&expr) {
            setup.push(expr);
        }
        return end - idx;
    }
    let expected = normalise_expected(&output);
    let calls_entry = contains_call(&expr, entry_point);
    if let (Some(expected), true) = (expected, calls_entry) {
        examples.push(DocExample {
            setup: setup.clone(),
            call: expr,
            expected,
        });
    }
    end - idx
}

/// `f(x) == y` as an example, when `f(x)` calls the entry point and `y` is a literal.
fn inline_comparison(expr: &str, entry_point: &str, setup: &[String]) -> Option<DocExample> {
    let parts = split_top_level(expr, '=')?;
    let [call, middle, expected] = parts.as_slice() else {
        return None;
    };
    let is_equality = middle.is_empty() && !call.ends_with(['<', '>', '!']);
    if !is_equality || !contains_call(call, entry_point) {
        return None;
    }
    Some(DocExample {
        setup: setup.to_vec(),
        call: call.trim().to_owned(),
        expected: normalise_expected(expected)?,
    })
}

/// `name(args) SEP expected`, the call possibly spanning several lines.
fn call_line(lines: &[&str], idx: usize, entry_point: &str) -> Option<(DocExample, usize)> {
    let mut first = lines[idx].trim_start_matches(['*', '-']).trim();
    for prefix in ["for ", "assert "] {
        first = first.strip_prefix(prefix).unwrap_or(first).trim();
    }
    let open_paren = format!("{entry_point}(");
    if !first.starts_with(&open_paren) {
        return None;
    }
    // Join following lines until the call's parentheses balance (at most a few lines).
    let mut text = first.to_owned();
    let mut used = 1;
    let close = loop {
        if let Some(close) = matching_close(&text, entry_point.len()) {
            break close;
        }
        if used >= 12 || idx + used >= lines.len() {
            return None;
        }
        text.push(' ');
        text.push_str(lines[idx + used]);
        used += 1;
    };
    let args = &text[entry_point.len() + 1..close - 1];
    if !args_are_literals(args) {
        return None;
    }
    let rest = text[close..].trim();
    let expected = strip_separator(rest)?;
    let expected = normalise_expected(expected)?;
    let call = format!("{entry_point}({})", args.trim());
    Some((
        DocExample {
            setup: Vec::new(),
            call,
            expected,
        },
        used,
    ))
}

/// `For lst = [1,2,3] the output should be 14` and `For s = "ab", c = "a", the result should be X`.
fn for_line(line: &str, entry_point: &str, params: &[String]) -> Option<DocExample> {
    let body = line.strip_prefix("For ")?;
    let (assignments, expected) = ["the output should be", "the result should be"]
        .iter()
        .find_map(|marker| body.split_once(marker))?;
    let assignments = assignments.trim().trim_end_matches(',');
    let call = keyword_call(assignments, entry_point, params)?;
    let expected = normalise_expected(expected)?;
    Some(DocExample {
        setup: Vec::new(),
        call,
        expected,
    })
}

/// An `Input:` line (value on it or on the next lines) followed by an `Output:` line.
fn input_output(
    lines: &[&str],
    idx: usize,
    entry_point: &str,
    params: &[String],
) -> Option<(DocExample, usize)> {
    let first = lines[idx].strip_prefix("Input:")?.trim();
    let mut input = first.to_owned();
    let mut end = idx + 1;
    while end < lines.len() && !lines[end].starts_with("Output:") {
        if lines[end].is_empty() || end - idx > 6 {
            return None;
        }
        input.push_str(", ");
        input.push_str(lines[end]);
        end += 1;
    }
    let output = lines.get(end)?.strip_prefix("Output:")?;
    let input = input.trim().trim_matches(',').trim();
    let call = if input.contains('=') {
        keyword_call(input, entry_point, params)?
    } else if params.len() == 1 && is_literal(input) {
        format!("{entry_point}({input})")
    } else {
        return None;
    };
    let expected = normalise_expected(output)?;
    Some((
        DocExample {
            setup: Vec::new(),
            call,
            expected,
        },
        end + 1 - idx,
    ))
}

/// `a = 1, b = [2]` as the positional call `entry_point(1, [2])`, if the names are exactly the
/// first parameters in order and every value is a literal. (Positional, because the executor's
/// test driver passes only positional arguments to the program.)
fn keyword_call(assignments: &str, entry_point: &str, params: &[String]) -> Option<String> {
    let mut args = Vec::new();
    for (idx, part) in split_top_level(assignments, ',')?.iter().enumerate() {
        let (name, value) = part.split_once('=')?;
        let (name, value) = (name.trim(), value.trim());
        if params.get(idx).is_none_or(|p| p != name) || !is_literal(value) {
            return None;
        }
        args.push(value.to_owned());
    }
    if args.is_empty() {
        return None;
    }
    Some(format!("{entry_point}({})", args.join(", ")))
}

fn args_are_literals(args: &str) -> bool {
    if args.trim().is_empty() {
        return true;
    }
    split_top_level(args, ',').is_some_and(|parts| parts.iter().all(|a| is_literal(a)))
}

/// What follows the call: a separator, then the expected value.
fn strip_separator(rest: &str) -> Option<&str> {
    const SEPARATORS: &[&str] = &[
        "# returns",
        "# =>",
        "# ==>",
        "should return",
        "returns",
        "==>",
        "==",
        "=>",
        "->",
        "➞",
        "=",
    ];
    SEPARATORS
        .iter()
        .find_map(|sep| rest.strip_prefix(sep))
        .map(str::trim)
}

/// Clean an expected value: drop a trailing comment or full stop, read lone `true`/`false`;
/// `None` unless the result is a literal.
fn normalise_expected(text: &str) -> Option<String> {
    let text = strip_comment(text);
    let mut text = text.trim();
    if !is_literal(text) {
        text = text.trim_end_matches('.').trim();
    }
    let text = match text {
        "true" => "True",
        "false" => "False",
        other => other,
    };
    is_literal(text).then(|| text.to_owned())
}

/// Cut a trailing `# comment` (outside strings).
fn strip_comment(text: &str) -> String {
    match split_top_level(text, '#') {
        Some(parts) => parts[0].trim().to_owned(),
        None => text.trim().to_owned(),
    }
}

fn contains_call(expr: &str, entry_point: &str) -> bool {
    let pattern = format!("{entry_point}(");
    expr.match_indices(&pattern).any(|(at, _)| {
        let before = expr[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
    })
}

/// A doctest line that is a statement rather than an expression (an assignment or an import).
fn is_statement(expr: &str) -> bool {
    if expr.starts_with("import ") || expr.starts_with("from ") {
        return true;
    }
    split_top_level(expr, '=').is_some_and(|parts| {
        parts.len() == 2
            && !parts[0].ends_with(['<', '>', '!'])
            && parts[0]
                .trim()
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == ',' || c == ' ')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(prompt: &str, entry_point: &str, expect: &[&str]) {
        let asserts: Vec<String> = extract_examples(prompt, entry_point)
            .iter()
            .map(DocExample::to_assert)
            .collect();
        assert_eq!(asserts, expect);
    }

    #[test]
    fn doctests() {
        check(
            "def add(x: int, y: int):\n    \"\"\"Add.\n    >>> add(2, 3)\n    5\n    >>> add(5,\n    ... 7)\n    12\n    >>> round(add(1.0, 0.5), 1)  # note\n    1.5\n    \"\"\"\n",
            "add",
            &[
                "assert add(2, 3) == 5",
                "assert add(5, 7) == 12",
                "assert round(add(1.0, 0.5), 1) == 1.5",
            ],
        );
        check(
            "def h(a):\n    \"\"\"\n    >>> h([]) == 0\n    >>> h([1]) [1]\n    >>> h(2) <= 3\n    \"\"\"\n",
            "h",
            &["assert h([]) == 0"],
        );
        // Multi-line output, and a doctest whose output is not a value.
        check(
            "def f(n):\n    '''\n    >>> f(2)\n    [1,\n     2]\n    >>> f(-1)\n    Traceback (most recent call last):\n    \n    '''\n",
            "f",
            &["assert f(2) == [1, 2]"],
        );
    }

    #[test]
    fn call_lines() {
        check(
            "def g(s, n):\n    \"\"\"\n    Examples:\n    * g('a', 1) ==> True\n    for g(\"b\", 2) == [1, 2].\n    g(a, 3) => false\n    g('c', 3) => true\n    g('d', 4) -> 19 - 5 = 14\n    g([\n      1], 5) ➞ (1, 2)\n    g('e', 6) # returns 'db1db'\n    \"\"\"\n",
            "g",
            &[
                "assert g('a', 1) == True",
                "assert g(\"b\", 2) == [1, 2]",
                "assert g('c', 3) == True",
                "assert g([ 1], 5) == (1, 2)",
                "assert g('e', 6) == 'db1db'",
            ],
        );
    }

    #[test]
    fn for_and_input_output() {
        check(
            "def h(lst, k):\n    \"\"\"\n    For lst = [1,2], k = 3 the output should be 6\n    For lst = [1], q = 3 the output should be 1\n    Example 1:\n        Input: lst = [4], k = 1\n        Output: [4]\n    Example 2:\n        Input:\n            grid : [[0]]\n        Output: 6\n    \"\"\"\n",
            "h",
            &["assert h([1,2], 3) == 6", "assert h([4], 1) == [4]"],
        );
        check(
            "def one(arr):\n    \"\"\"\n    Input: [4,2,3]\n    Output: [2, 1]\n    \"\"\"\n",
            "one",
            &["assert one([4,2,3]) == [2, 1]"],
        );
    }

    #[test]
    fn only_the_entry_points_docstring() {
        check(
            "def helper(x):\n    \"\"\"\n    >>> helper(1)\n    2\n    \"\"\"\n    return x + 1\n\n\ndef main_fn(x):\n    \"\"\" No examples. \"\"\"\n",
            "main_fn",
            &[],
        );
    }
}
