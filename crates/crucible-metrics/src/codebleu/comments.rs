//! CodeBLEU's comment (and Python docstring) removal, applied before the syntax and data-flow matches.
//!
//! The reference strips code before parsing it, and what it strips changes the trees compared:
//! comments are named nodes in every grammar, and a Python docstring is an expression
//! statement. Its rules, reproduced here:
//! - Python: tokenize the source, drop comments and the strings that stand as statements
//!   (the first token of a line after an indent or a newline, or any string at column 0),
//!   re-emit everything else with spaces for the columns between tokens. If tokenizing fails
//!   (an unterminated triple-quoted string, an open bracket at the end, a bad unindent), the
//!   source is kept as it is.
//! - Every other language: scan left to right for, in this order of preference, a `//` comment
//!   (to the end of the line), a `/* */` comment (to the first `*/`), a single-quoted or a
//!   double-quoted literal (backslash escapes, may span lines); comments become one space,
//!   literals stay. An unclosed `/*` or quote is not a match, and the scan moves one character on.
//!
//! Then, for every language, blank lines (Python's `strip()` empty) are dropped.

use crucible_syntax::SyntaxLanguage;

use super::pytokenize::{Kind, tokenize};
use crate::pytext;

/// The source as the reference's `remove_comments_and_docstrings` leaves it.
pub(crate) fn remove_comments(source: &str, language: SyntaxLanguage) -> String {
    let stripped = match language {
        SyntaxLanguage::Python => match remove_python(source) {
            Some(text) => text,
            None => return source.to_string(),
        },
        _ => remove_c_style(source),
    };
    drop_blank_lines(&stripped)
}

fn drop_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text
        .split('\n')
        .filter(|line| !pytext::strip(line).is_empty())
    {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

fn remove_python(source: &str) -> Option<String> {
    let tokens = tokenize(source).ok()?;
    let mut out = String::with_capacity(source.len());
    let mut previous = Kind::Indent;
    let mut last_line = 0;
    let mut last_col = 0;
    for token in tokens {
        let (line, col) = token.start;
        if line > last_line {
            last_col = 0;
        }
        if col > last_col {
            out.extend(std::iter::repeat_n(' ', col - last_col));
        }
        match token.kind {
            Kind::Comment => {}
            Kind::String => {
                let in_expression =
                    previous != Kind::Indent && previous != Kind::Newline && col > 0;
                if in_expression {
                    out.push_str(&token.text);
                }
            }
            _ => out.push_str(&token.text),
        }
        previous = token.kind;
        (last_line, last_col) = token.end;
    }
    Some(out)
}

/// The end of a quoted literal opening at `bytes[start]`, if it closes.
fn literal_end(bytes: &[u8], start: usize) -> Option<usize> {
    let quote = bytes[start];
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => {
                if at + 1 >= bytes.len() {
                    return None;
                }
                // `\\.` with DOTALL: the escaped character may be anything; step over a whole
                // UTF-8 sequence so the scan stays on character boundaries.
                at += 1 + utf8_len(bytes[at + 1]);
            }
            c if c == quote => return Some(at + 1),
            _ => at += 1,
        }
    }
    None
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn remove_c_style(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let (end, keep) = if rest.starts_with(b"//") {
            // `//.*?$` in MULTILINE mode: up to the next newline or the end.
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |n| at + n);
            (Some(end), false)
        } else if rest.starts_with(b"/*") {
            let close = rest[2..].windows(2).position(|pair| pair == b"*/");
            (close.map(|n| at + 2 + n + 2), false)
        } else if rest[0] == b'\'' || rest[0] == b'"' {
            (literal_end(bytes, at), true)
        } else {
            (None, true)
        };
        match end {
            Some(end) if !keep => {
                out.push_str(&source[copied..at]);
                out.push(' ');
                copied = end;
                at = end;
            }
            Some(end) => at = end,
            None => at += 1,
        }
    }
    out.push_str(&source[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_style_comments_become_a_space_and_strings_stay() {
        let source = "int a = 1; // one\n/* two\n lines */int b = '/'; char *s = \"/* no */\";\n\n";
        assert_eq!(
            remove_comments(source, SyntaxLanguage::C),
            "int a = 1;  \n int b = '/'; char *s = \"/* no */\";"
        );
        // An unclosed block comment is not a comment.
        assert_eq!(remove_comments("a /* b", SyntaxLanguage::Java), "a /* b");
        // A Rust lifetime opens a "literal" that runs to the next quote, as in the reference.
        assert_eq!(
            remove_comments("fn f<'a>(x: &'a str) {} // c", SyntaxLanguage::Rust),
            "fn f<'a>(x: &'a str) {}  "
        );
    }

    #[test]
    fn python_comments_and_docstrings_go_expression_strings_stay() {
        let source =
            "def f(x):\n    \"\"\"Doc.\"\"\"\n    # note\n    y = 'a'  # trailing\n    return y\n";
        assert_eq!(
            remove_comments(source, SyntaxLanguage::Python),
            "def f(x):\n    y = 'a'  \n    return y"
        );
    }

    #[test]
    fn python_that_does_not_tokenize_is_kept() {
        let source = "def f(:\n    return (1,\n";
        assert_eq!(remove_comments(source, SyntaxLanguage::Python), source);
    }
}
