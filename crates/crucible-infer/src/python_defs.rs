//! Keeping only the definitions of a Python answer to a function task.
//!
//! Small models often follow the function with example calls, `print`s, an
//! `if __name__ == "__main__":` block or asserts of their own. All of that runs when the program
//! is imported, before any test, and can crash or stall a correct function. For function tasks
//! the judged program is the function, so these top-level statements are dropped: imports,
//! function and class definitions (with their decorators) and the top-level assignments some
//! kept code refers to are kept, in their order; everything else at the top level goes.
//!
//! The split into top-level statements is lexical (brackets, strings, comments, backslash
//! continuations), which is enough to find where each statement starts. When the answer does not
//! define the entry point, or cannot be split (an unterminated string or bracket), it is left
//! as it is.

use std::collections::BTreeSet;

/// `code` with only its definitions (see the module docs), or `None` when `code` does not
/// define `entry_point` at the top level or cannot be split into statements.
pub fn keep_definitions(code: &str, entry_point: &str) -> Option<String> {
    let statements = split_statements(code)?;
    let kinds: Vec<Kind> = statements.iter().map(|s| classify(s)).collect();
    if !kinds
        .iter()
        .any(|k| matches!(k, Kind::Definition(name) if name == entry_point))
    {
        return None;
    }
    let mut keep: Vec<bool> = kinds
        .iter()
        .map(|k| matches!(k, Kind::Import | Kind::Definition(_)))
        .collect();
    // Assignments are kept when kept code names what they assign, until nothing changes.
    loop {
        let kept_words: BTreeSet<&str> = statements
            .iter()
            .zip(&keep)
            .filter(|(_, kept)| **kept)
            .flat_map(|(s, _)| words(s))
            .collect();
        let mut changed = false;
        for (idx, kind) in kinds.iter().enumerate() {
            if keep[idx] {
                continue;
            }
            if let Kind::Assignment(names) = kind
                && names.iter().any(|n| kept_words.contains(n.as_str()))
            {
                keep[idx] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut out = String::new();
    for (statement, kept) in statements.iter().zip(&keep) {
        if *kept {
            out.push_str(statement);
        }
    }
    Some(out.trim_end().to_owned() + "\n")
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Import,
    /// `def`, `async def` or `class` (decorators included), with the name it defines.
    Definition(String),
    /// A top-level assignment and the names it binds.
    Assignment(Vec<String>),
    /// Anything else: calls, prints, loops, `if __name__ == ...`, asserts.
    Other,
}

fn classify(statement: &str) -> Kind {
    // The first line that is not a decorator, comment or blank.
    let head = statement
        .lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('@'))
        .unwrap_or("");
    let first_word = head
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    match first_word {
        "import" | "from" => return Kind::Import,
        "def" | "class" => return Kind::Definition(name_after(head, first_word)),
        "async" if head["async".len()..].trim_start().starts_with("def") => {
            let rest = head["async".len()..].trim_start();
            return Kind::Definition(name_after(rest, "def"));
        }
        // `try: import x / except ImportError: ...`
        "try" if statement.contains("import ") => return Kind::Import,
        _ => {}
    }
    assigned_names(head).map_or(Kind::Other, Kind::Assignment)
}

fn name_after(line: &str, keyword: &str) -> String {
    line[keyword.len()..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The names bound by `a = ...`, `a: T = ...`, `a, b = ...` or `a += ...`; `None` if `line`
/// is not an assignment to plain names.
fn assigned_names(line: &str) -> Option<Vec<String>> {
    let bytes = line.as_bytes();
    let mut depth = 0usize;
    for (idx, &b) in bytes.iter().enumerate() {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' | b'\'' => return None,
            b'=' if depth == 0 => {
                let prev = idx.checked_sub(1).map(|i| bytes[i]);
                let next = bytes.get(idx + 1).copied();
                if next == Some(b'=') || matches!(prev, Some(b'=' | b'!' | b'<' | b'>')) {
                    return None;
                }
                let mut target = &line[..idx];
                if let Some(p) = prev
                    && b"+-*/%&|^@".contains(&p)
                {
                    target = &line[..idx - 1];
                }
                // `a: int = 1`
                let target = target.split(':').next().unwrap_or("");
                let names: Vec<String> = target
                    .split(',')
                    .map(|n| n.trim().trim_matches(|c| c == '(' || c == ')').trim())
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect();
                let plain = |n: &String| {
                    n.chars().all(|c| c.is_alphanumeric() || c == '_')
                        && !n.starts_with(|c: char| c.is_ascii_digit())
                };
                return (!names.is_empty() && names.iter().all(plain)).then_some(names);
            }
            _ => {}
        }
    }
    None
}

/// Identifier-like words of `text` (a superset of the names it uses).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// Split `code` into top-level statements, each with its trailing lines (body, blank lines).
/// Comments and decorators at column 0 join the statement that follows them (a comment
/// followed by indented lines is part of the block before it); `else`/`elif`/`except`/`finally`
/// join the statement they continue.
fn split_statements(code: &str) -> Option<Vec<String>> {
    let mut statements: Vec<String> = Vec::new();
    let mut lexer = Lexer::default();
    // The current statement holds only comments and decorators so far.
    let mut pending = false;
    for line in code.split_inclusive('\n') {
        let first = line.chars().next();
        let starts = lexer.at_statement_boundary()
            && first.is_some_and(|c| !c.is_whitespace())
            && !is_continuation_clause(line);
        if statements.is_empty() || starts && !pending {
            statements.push(String::new());
        }
        if starts {
            pending = first == Some('#') || first == Some('@');
        }
        statements
            .last_mut()
            .expect("a statement was pushed")
            .push_str(line);
        lexer.feed(line);
    }
    if !lexer.at_statement_boundary() {
        return None;
    }
    // A comment at column 0 inside a block: what follows it is indented, so it belongs to the
    // statement before.
    let mut merged: Vec<String> = Vec::with_capacity(statements.len());
    for statement in statements {
        let head = statement
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with('#'));
        let inside_block = head.is_some_and(|l| l.starts_with(char::is_whitespace));
        match merged.last_mut() {
            Some(previous) if inside_block => previous.push_str(&statement),
            _ => merged.push(statement),
        }
    }
    Some(merged)
}

fn is_continuation_clause(line: &str) -> bool {
    let word: String = line
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    matches!(word.as_str(), "else" | "elif" | "except" | "finally")
}

/// Just enough of Python's tokenizer to know whether a line ends inside brackets, a string or
/// a backslash continuation.
#[derive(Debug, Default)]
struct Lexer {
    depth: usize,
    /// The quote of the triple-quoted string we are in, if any.
    triple: Option<u8>,
    backslash: bool,
}

impl Lexer {
    fn at_statement_boundary(&self) -> bool {
        self.depth == 0 && self.triple.is_none() && !self.backslash
    }

    fn feed(&mut self, line: &str) {
        let b = line.as_bytes();
        let mut i = 0;
        self.backslash = false;
        while i < b.len() {
            if let Some(q) = self.triple {
                if b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if b[i..].starts_with(&[q, q, q]) {
                    self.triple = None;
                    i += 3;
                    continue;
                }
                i += 1;
                continue;
            }
            match b[i] {
                b'#' => break,
                b'(' | b'[' | b'{' => self.depth += 1,
                b')' | b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                q @ (b'"' | b'\'') => {
                    if b[i..].starts_with(&[q, q, q]) {
                        self.triple = Some(q);
                        i += 3;
                        continue;
                    }
                    // A one-line string: skip to its closing quote (or the end of the line).
                    i += 1;
                    while i < b.len() && b[i] != q && b[i] != b'\n' {
                        if b[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                b'\\' if b.get(i + 1) == Some(&b'\n') => {
                    self.backslash = true;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_usage_and_main_blocks_are_dropped() {
        let code = r#"from typing import List
import math

def mean(xs: List[float]) -> float:
    """Mean.
    >>> mean([1, 2])
    1.5
    """
    return sum(xs) / len(xs)

# Example usage
print(mean([]))
result = mean([1.0,
               2.0])
assert mean([2]) == 2

if __name__ == "__main__":
    import doctest
    doctest.testmod()
"#;
        let kept = keep_definitions(code, "mean").unwrap();
        assert_eq!(
            kept,
            "from typing import List\nimport math\n\ndef mean(xs: List[float]) -> float:\n    \"\"\"Mean.\n    >>> mean([1, 2])\n    1.5\n    \"\"\"\n    return sum(xs) / len(xs)\n"
        );
    }

    #[test]
    fn helpers_constants_decorators_and_classes_stay() {
        let code = "import functools\nMOD = 10 ** 9 + 7\nLIMIT: int = 5\nunused = compute()\n\n@functools.lru_cache(maxsize=None)\ndef fib(n):\n    return n if n < 2 else (fib(n - 1) + fib(n - 2)) % MOD\n\nclass Box:\n    pass\n\nasync def later():\n    pass\n\ndef f(n):\n    if n > LIMIT:\n        return Box()\n    return fib(n)\n\nprint(f(3))\n";
        let kept = keep_definitions(code, "f").unwrap();
        assert!(kept.contains("MOD = 10 ** 9 + 7"), "{kept}");
        assert!(kept.contains("LIMIT: int = 5"), "{kept}");
        assert!(!kept.contains("unused"), "{kept}");
        assert!(
            kept.contains("@functools.lru_cache(maxsize=None)\ndef fib(n):"),
            "{kept}"
        );
        assert!(kept.contains("class Box:"), "{kept}");
        assert!(kept.contains("async def later():"), "{kept}");
        assert!(!kept.contains("print(f(3))"), "{kept}");
    }

    #[test]
    fn strings_brackets_and_continuations_do_not_split_statements() {
        let code = "def f():\n    s = \"\"\"\nprint('inside a string')\n\"\"\"\n    t = [\n1, 2]\n    return s, t\nx = 1 + \\\n    2\nprint('#', x)\n";
        let kept = keep_definitions(code, "f").unwrap();
        assert!(kept.contains("print('inside a string')"), "{kept}");
        assert!(kept.contains("1, 2]"), "{kept}");
        assert!(!kept.contains("x = 1"), "{kept}");
        assert!(!kept.contains("print('#', x)"), "{kept}");
    }

    #[test]
    fn try_imports_and_if_else_chains_are_whole() {
        let code = "try:\n    import numpy as np\nexcept ImportError:\n    np = None\n\ndef f():\n    return np\n\nif True:\n    print(1)\nelse:\n    print(2)\n";
        let kept = keep_definitions(code, "f").unwrap();
        assert!(
            kept.starts_with("try:\n    import numpy as np\nexcept ImportError:\n    np = None\n"),
            "{kept}"
        );
        assert!(!kept.contains("print"), "{kept}");
        assert!(!kept.contains("else:"), "{kept}");
    }

    #[test]
    fn answers_without_the_entry_point_or_unbalanced_are_left_alone() {
        assert_eq!(
            keep_definitions("def g():\n    pass\nprint(1)\n", "f"),
            None
        );
        assert_eq!(keep_definitions("def f():\n    return (1,\n", "f"), None);
        assert_eq!(keep_definitions("def f():\n    return '''x\n", "f"), None);
        // A nested definition of the name does not count.
        assert_eq!(
            keep_definitions("class A:\n    def f(self):\n        pass\n", "f"),
            None
        );
    }

    #[test]
    fn comparisons_are_not_assignments() {
        assert_eq!(assigned_names("a == b"), None);
        assert_eq!(assigned_names("f(x=1)"), None);
        assert_eq!(assigned_names("a[0] = 1"), None);
        assert_eq!(assigned_names("x <= 3"), None);
        assert_eq!(
            assigned_names("a, b = 1, 2"),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(assigned_names("total += 1"), Some(vec!["total".to_owned()]));
    }
}
