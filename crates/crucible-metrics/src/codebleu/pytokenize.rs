//! The part of Python 3.11's `tokenize` that CodeBLEU's comment and docstring remover sees.
//!
//! The reference removes Python comments and docstrings by running `tokenize.generate_tokens`
//! and re-emitting every token but comments and statement-position strings, with spaces for
//! the columns between tokens. Only the token kinds that decision reads are told apart
//! (comments, strings, indents, newlines); names, numbers and operators are one kind, since
//! they are re-emitted verbatim either way. Positions are (line, column in code points), as in
//! Python, and the three errors `tokenize` raises (a string or bracket still open at the end,
//! an unindent to no outer level) are errors here too: the reference then keeps the source.

/// The token kinds the remover distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Comment,
    String,
    Indent,
    Dedent,
    /// The end of a logical line.
    Newline,
    /// A line break inside a statement, or a blank or comment-only line.
    Nl,
    /// Names, numbers, operators, error tokens, the end marker.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    pub(crate) text: String,
    /// (1-based line, column in code points).
    pub(crate) start: (usize, usize),
    pub(crate) end: (usize, usize),
}

/// Why `tokenize` would raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenizeError {
    EofInString,
    EofInStatement,
    Unindent,
}

const TABSIZE: usize = 8;

/// String prefixes Python accepts (any case), as `tokenize` lists them.
fn is_string_prefix(word: &[char]) -> bool {
    let lower: String = word.iter().map(|c| c.to_ascii_lowercase()).collect();
    matches!(
        lower.as_str(),
        "" | "r" | "u" | "f" | "b" | "br" | "rb" | "fr" | "rf"
    )
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// An open string carried across lines.
struct OpenString {
    /// The quote that closes it: `'`, `"`, `'''` or `"""`.
    quote: &'static str,
    /// A single-quoted string continued with a backslash (needs a backslash on every line).
    needs_continuation: bool,
    start: (usize, usize),
    text: String,
}

/// Where the closing `quote` ends in `line[from..]`, skipping backslash escapes; `None` when
/// the line has no closing quote (or ends in a backslash before the newline).
fn find_close(line: &[char], from: usize, quote: &str) -> Option<usize> {
    let quote: Vec<char> = quote.chars().collect();
    let mut at = from;
    while at < line.len() {
        let c = line[at];
        if c == '\\' {
            // `\\.` in the reference's patterns: `.` does not match a newline.
            match line.get(at + 1) {
                Some('\n') | None => return None,
                Some(_) => at += 2,
            }
            continue;
        }
        if c == quote[0] && line[at..].starts_with(&quote) {
            return Some(at + quote.len());
        }
        at += 1;
    }
    None
}

/// A single-quoted string starting at `line[quote_at]`: `Ok(end)` when it closes on the line,
/// `Err(true)` when it continues with a backslash-newline, `Err(false)` when it does neither.
fn single_quoted_end(line: &[char], quote_at: usize) -> Result<usize, bool> {
    let quote = line[quote_at];
    let mut at = quote_at + 1;
    while at < line.len() {
        match line[at] {
            '\n' => return Err(false),
            '\\' => match (line.get(at + 1), line.get(at + 2)) {
                (Some('\n'), _) | (Some('\r'), Some('\n')) => return Err(true),
                (Some(_), _) => at += 2,
                (None, _) => return Err(false),
            },
            c if c == quote => return Ok(at + 1),
            _ => at += 1,
        }
    }
    Err(false)
}

/// Tokenize `source` as Python 3.11's `tokenize.generate_tokens` would, for the remover.
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, TokenizeError> {
    let lines: Vec<Vec<char>> = source
        .split_inclusive('\n')
        .map(|line| line.chars().collect())
        .collect();
    let mut tokens = Vec::new();
    let mut indents = vec![0usize];
    let mut parenlev: i64 = 0;
    let mut continued = false;
    let mut open: Option<OpenString> = None;
    let empty: Vec<char> = Vec::new();
    let mut last_line: &Vec<char>;
    let mut line: &Vec<char> = &empty;
    let mut lnum = 0;
    let push = |tokens: &mut Vec<Token>, kind, text: String, start, end| {
        tokens.push(Token {
            kind,
            text,
            start,
            end,
        });
    };
    loop {
        last_line = line;
        line = lines.get(lnum).unwrap_or(&empty);
        lnum += 1;
        let max = line.len();
        let mut pos = 0;

        if let Some(string) = open.as_mut() {
            if line.is_empty() {
                return Err(TokenizeError::EofInString);
            }
            if let Some(end) = find_close(line, 0, string.quote) {
                let mut text = std::mem::take(&mut string.text);
                text.extend(&line[..end]);
                push(&mut tokens, Kind::String, text, string.start, (lnum, end));
                open = None;
                pos = end;
            } else if string.needs_continuation
                && !line.ends_with(&['\\', '\n'])
                && !line.ends_with(&['\\', '\r', '\n'])
            {
                let mut text = std::mem::take(&mut string.text);
                text.extend(line.iter());
                push(&mut tokens, Kind::Other, text, string.start, (lnum, max));
                open = None;
                continue;
            } else {
                string.text.extend(line.iter());
                continue;
            }
        } else if parenlev == 0 && !continued {
            if line.is_empty() {
                break;
            }
            let mut column = 0;
            while pos < max {
                match line[pos] {
                    ' ' => column += 1,
                    '\t' => column = (column / TABSIZE + 1) * TABSIZE,
                    '\u{c}' => column = 0,
                    _ => break,
                }
                pos += 1;
            }
            if pos == max {
                break;
            }
            if matches!(line[pos], '#' | '\r' | '\n') {
                if line[pos] == '#' {
                    let comment_end = line[pos..]
                        .iter()
                        .rposition(|c| *c != '\r' && *c != '\n')
                        .map_or(pos, |last| pos + last + 1);
                    let text: String = line[pos..comment_end].iter().collect();
                    push(
                        &mut tokens,
                        Kind::Comment,
                        text,
                        (lnum, pos),
                        (lnum, comment_end),
                    );
                    pos = comment_end;
                }
                let text: String = line[pos..].iter().collect();
                push(&mut tokens, Kind::Nl, text, (lnum, pos), (lnum, max));
                continue;
            }
            if column > *indents.last().unwrap_or(&0) {
                indents.push(column);
                push(
                    &mut tokens,
                    Kind::Indent,
                    line[..pos].iter().collect(),
                    (lnum, 0),
                    (lnum, pos),
                );
            }
            while column < *indents.last().unwrap_or(&0) {
                if !indents.contains(&column) {
                    return Err(TokenizeError::Unindent);
                }
                indents.pop();
                push(
                    &mut tokens,
                    Kind::Dedent,
                    String::new(),
                    (lnum, pos),
                    (lnum, pos),
                );
            }
        } else {
            if line.is_empty() {
                return Err(TokenizeError::EofInStatement);
            }
            continued = false;
        }

        while pos < max {
            // Whitespace before a token.
            let mut start = pos;
            while start < max && matches!(line[start], ' ' | '\u{c}' | '\t') {
                start += 1;
            }
            if start == max {
                break;
            }
            let c = line[start];
            // A backslash-newline continues the statement.
            if c == '\\'
                && (line.get(start + 1) == Some(&'\n')
                    || (line.get(start + 1) == Some(&'\r') && line.get(start + 2) == Some(&'\n')))
            {
                continued = true;
                break;
            }
            if c == '#' {
                let end = line[start..]
                    .iter()
                    .position(|c| *c == '\r' || *c == '\n')
                    .map_or(max, |at| start + at);
                push(
                    &mut tokens,
                    Kind::Comment,
                    line[start..end].iter().collect(),
                    (lnum, start),
                    (lnum, end),
                );
                pos = end;
                continue;
            }
            if c == '\n' || (c == '\r' && line.get(start + 1) == Some(&'\n')) {
                let end = if c == '\r' { start + 2 } else { start + 1 };
                let kind = if parenlev > 0 {
                    Kind::Nl
                } else {
                    Kind::Newline
                };
                push(
                    &mut tokens,
                    kind,
                    line[start..end].iter().collect(),
                    (lnum, start),
                    (lnum, end),
                );
                pos = end;
                continue;
            }
            // A string, with its prefix if any.
            let word_end = if is_word_char(c) {
                line[start..]
                    .iter()
                    .position(|c| !is_word_char(*c))
                    .map_or(max, |at| start + at)
            } else {
                start
            };
            let quote_at = word_end;
            let is_quote = matches!(line.get(quote_at), Some('\'' | '"'));
            if is_quote && is_string_prefix(&line[start..word_end]) {
                let quote_char = line[quote_at];
                let triple = line.get(quote_at + 1) == Some(&quote_char)
                    && line.get(quote_at + 2) == Some(&quote_char);
                if triple {
                    let quote = if quote_char == '\'' { "'''" } else { "\"\"\"" };
                    if let Some(end) = find_close(line, quote_at + 3, quote) {
                        push(
                            &mut tokens,
                            Kind::String,
                            line[start..end].iter().collect(),
                            (lnum, start),
                            (lnum, end),
                        );
                        pos = end;
                    } else {
                        open = Some(OpenString {
                            quote,
                            needs_continuation: false,
                            start: (lnum, start),
                            text: line[start..].iter().collect(),
                        });
                        break;
                    }
                    continue;
                }
                match single_quoted_end(line, quote_at) {
                    Ok(end) => {
                        push(
                            &mut tokens,
                            Kind::String,
                            line[start..end].iter().collect(),
                            (lnum, start),
                            (lnum, end),
                        );
                        pos = end;
                        continue;
                    }
                    Err(true) => {
                        open = Some(OpenString {
                            quote: if quote_char == '\'' { "'" } else { "\"" },
                            needs_continuation: true,
                            start: (lnum, start),
                            text: line[start..].iter().collect(),
                        });
                        break;
                    }
                    Err(false) => {} // not a string: a name (the prefix) or an error token follows
                }
            }
            if word_end > start {
                push(
                    &mut tokens,
                    Kind::Other,
                    line[start..word_end].iter().collect(),
                    (lnum, start),
                    (lnum, word_end),
                );
                pos = word_end;
                continue;
            }
            match c {
                '(' | '[' | '{' => parenlev += 1,
                ')' | ']' | '}' => parenlev -= 1,
                _ => {}
            }
            // Operators and error tokens: one character at a time covers the same columns.
            push(
                &mut tokens,
                Kind::Other,
                c.to_string(),
                (lnum, start),
                (lnum, start + 1),
            );
            pos = start + 1;
        }
    }
    let last_is_open_line = last_line.last().is_some_and(|c| *c != '\r' && *c != '\n');
    if last_is_open_line {
        let text: String = last_line.iter().collect();
        if !crate::pytext::strip(&text).starts_with('#') {
            let at = (lnum - 1, last_line.len());
            push(
                &mut tokens,
                Kind::Newline,
                String::new(),
                at,
                (at.0, at.1 + 1),
            );
        }
    }
    for _ in 1..indents.len() {
        push(
            &mut tokens,
            Kind::Dedent,
            String::new(),
            (lnum, 0),
            (lnum, 0),
        );
    }
    push(
        &mut tokens,
        Kind::Other,
        String::new(),
        (lnum, 0),
        (lnum, 0),
    );
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<(Kind, String)> {
        tokenize(source)
            .unwrap()
            .into_iter()
            .map(|token| (token.kind, token.text))
            .collect()
    }

    #[test]
    fn docstring_indent_and_comment() {
        let got = kinds("def f():\n    \"\"\"doc\n    more\"\"\"\n    return 1  # one\n");
        let strings: Vec<_> = got
            .iter()
            .filter(|(kind, _)| *kind == Kind::String)
            .collect();
        assert_eq!(strings.len(), 1);
        assert_eq!(strings[0].1, "\"\"\"doc\n    more\"\"\"");
        assert!(got.contains(&(Kind::Indent, "    ".to_string())));
        assert!(got.contains(&(Kind::Comment, "# one".to_string())));
    }

    #[test]
    fn brackets_make_newlines_nl() {
        let got = kinds("x = (1,\n     2)\n");
        assert!(got.contains(&(Kind::Nl, "\n".to_string())));
        assert_eq!(
            got.iter()
                .filter(|(kind, _)| *kind == Kind::Newline)
                .count(),
            1
        );
    }

    #[test]
    fn prefixes_and_errors() {
        let got = kinds("s = rb'x' + f\"{y}\"\n");
        assert_eq!(
            got.iter().filter(|(kind, _)| *kind == Kind::String).count(),
            2
        );
        assert_eq!(
            tokenize("x = '''open\n").unwrap_err(),
            TokenizeError::EofInString
        );
        assert_eq!(
            tokenize("x = (1,\n").unwrap_err(),
            TokenizeError::EofInStatement
        );
        assert_eq!(
            tokenize("if x:\n        a\n    b\n").unwrap_err(),
            TokenizeError::Unindent
        );
        // An unterminated one-line string is an error token and tokenizing goes on.
        let got = kinds("x = 'abc\n");
        assert!(got.contains(&(Kind::Other, "'".to_string())));
    }

    #[test]
    fn no_trailing_newline_adds_an_empty_newline_token() {
        let tokens = tokenize("x = 1").unwrap();
        let newline = tokens
            .iter()
            .find(|token| token.kind == Kind::Newline)
            .unwrap();
        assert_eq!((newline.text.as_str(), newline.start), ("", (1, 5)));
    }
}
