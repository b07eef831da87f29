//! Lexical helpers for reading signatures out of source text: blanking comments and literals,
//! identifiers, bracket matching and top-level splitting.
//!
//! They do not parse; they run on model output, so every path returns something rather than
//! panicking. Blanked text keeps every byte position, so positions found in it index the
//! original source too.

use std::collections::BTreeSet;

/// Which literal and comment forms a language has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// C and C++: `//`, `/* */`, `"..."`, `'.'`, preprocessor lines.
    C,
    /// Rust: `//`, nested `/* */`, `"..."`, `r#"..."#`, `'c'` and lifetimes.
    Rust,
    /// Java: `//`, `/* */`, `"..."`, `"""..."""`, `'c'`.
    Java,
    /// Go: `//`, `/* */`, `"..."`, `` `raw` ``, `'r'`.
    Go,
    /// JavaScript: `//`, `/* */`, `'...'`, `"..."`, `` `template` `` (regular expression
    /// literals are not recognised).
    JavaScript,
}

/// `src` with comments, the contents of string and character literals and (for C) preprocessor
/// lines replaced by spaces; quotes stay, newlines stay, every byte keeps its position.
pub(crate) fn blank(src: &str, syntax: Syntax) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let mut line_start = true;
    let space = |out: &mut Vec<u8>, from: usize, to: usize| {
        for byte in &mut out[from..to.min(b.len())] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    };
    while i < b.len() {
        let c = b[i];
        if syntax == Syntax::C && line_start && c == b'#' {
            // A preprocessor line, with its backslash continuations.
            let mut j = i;
            while j < b.len() && !(b[j] == b'\n' && (j == 0 || b[j - 1] != b'\\')) {
                j += 1;
            }
            space(&mut out, i, j);
            i = j;
            continue;
        }
        if c == b'\n' {
            line_start = true;
            i += 1;
            continue;
        }
        if !c.is_ascii_whitespace() {
            line_start = false;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            let mut j = i;
            while j < b.len() && b[j] != b'\n' {
                j += 1;
            }
            space(&mut out, i, j);
            i = j;
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let nested = syntax == Syntax::Rust;
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                if b[j] == b'/' && b.get(j + 1) == Some(&b'*') && (nested || depth == 0) {
                    depth += 1;
                    j += 2;
                } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            space(&mut out, i, j);
            i = j;
        } else if syntax == Syntax::Rust && c == b'r' && is_raw_string_start(b, i) {
            let hashes = b[i + 1..].iter().take_while(|&&h| h == b'#').count();
            let body = i + 2 + hashes;
            let mut j = body;
            while j < b.len() {
                if b[j] == b'"'
                    && b[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == b'#')
                        .count()
                        == hashes
                {
                    break;
                }
                j += 1;
            }
            space(&mut out, body, j);
            i = j + 1 + hashes;
        } else if syntax == Syntax::Java && b[i..].starts_with(b"\"\"\"") {
            let end = find_from(b, i + 3, b"\"\"\"").unwrap_or(b.len());
            space(&mut out, i + 3, end);
            i = end + 3;
        } else if c == b'"' || (c == b'\'' && syntax == Syntax::JavaScript) {
            let end = quoted_end(b, i, c);
            space(&mut out, i + 1, end);
            i = end + 1;
        } else if c == b'`' && matches!(syntax, Syntax::Go | Syntax::JavaScript) {
            // Go raw strings have no escapes; JavaScript templates are blanked whole
            // (substitutions included), which is enough for finding declarations.
            let mut j = i + 1;
            while j < b.len() && b[j] != b'`' {
                if syntax == Syntax::JavaScript && b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            space(&mut out, i + 1, j);
            i = j + 1;
        } else if c == b'\'' {
            // A character literal, or (Rust) a lifetime or label: `'a` not followed by `'`.
            let is_lifetime = syntax == Syntax::Rust
                && b.get(i + 1)
                    .is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_')
                && b.get(i + 2) != Some(&b'\'');
            let digit_separator = syntax == Syntax::C
                && i > 0
                && b[i - 1].is_ascii_hexdigit()
                && b.get(i + 1).is_some_and(u8::is_ascii_hexdigit);
            if is_lifetime || digit_separator {
                i += 1;
                continue;
            }
            let end = quoted_end(b, i, b'\'');
            space(&mut out, i + 1, end);
            i = end + 1;
        } else {
            i += 1;
        }
    }
    // Only whole characters were replaced (every byte of a multi-byte character is inside a
    // comment or literal, or none is), so this is valid UTF-8 of the same length.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn is_raw_string_start(b: &[u8], i: usize) -> bool {
    let before_ok = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    let hashes = b[i + 1..].iter().take_while(|&&h| h == b'#').count();
    before_ok && b.get(i + 1 + hashes) == Some(&b'"')
}

fn find_from(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Position of the quote closing the literal that opens at `start` (or the end of the line or
/// text for an unterminated one).
fn quoted_end(b: &[u8], start: usize, quote: u8) -> usize {
    let mut j = start + 1;
    while j < b.len() && b[j] != quote {
        if b[j] == b'\\' {
            j += 1;
        } else if b[j] == b'\n' && quote == b'\'' {
            return j;
        }
        j += 1;
    }
    j.min(b.len())
}

/// Whether `b` can be part of an identifier.
pub(crate) fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Every identifier in (blanked) code with its position.
pub(crate) fn identifiers(code: &str) -> Vec<(usize, &str)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if is_ident_byte(b[i]) && !b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && is_ident_byte(b[i]) {
                i += 1;
            }
            out.push((start, &code[start..i]));
        } else if b[i].is_ascii_digit() {
            // A number (with its suffix): not an identifier.
            while i < b.len() && is_ident_byte(b[i]) {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The set of identifiers in (blanked) code.
pub(crate) fn identifier_set(code: &str) -> BTreeSet<String> {
    identifiers(code)
        .into_iter()
        .map(|(_, s)| s.to_owned())
        .collect()
}

/// Position of the bracket closing the one at `open` in blanked code (`(`, `[`, `{` or `<`,
/// the last counting only angle brackets).
pub(crate) fn matching(code: &str, open: usize) -> Option<usize> {
    let b = code.as_bytes();
    let (o, c) = match b.get(open)? {
        b'(' => (b'(', b')'),
        b'[' => (b'[', b']'),
        b'{' => (b'{', b'}'),
        b'<' => (b'<', b'>'),
        _ => return None,
    };
    let mut depth = 0usize;
    for (i, &ch) in b.iter().enumerate().skip(open) {
        if ch == o {
            depth += 1;
        } else if ch == c {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Split at `sep` where no `()`, `[]`, `{}` or `<>` is open; pieces are trimmed, empty ones
/// dropped.
pub(crate) fn split_top(text: &str, sep: u8) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        match b {
            b'(' | b'[' | b'{' | b'<' => depth += 1,
            b')' | b']' | b'}' | b'>' => depth -= 1,
            _ if b == sep && depth == 0 => {
                out.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(text[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// The identifier ending right before `end` (skipping spaces), with its start.
pub(crate) fn ident_before(code: &str, end: usize) -> Option<(usize, &str)> {
    let b = code.as_bytes();
    let mut j = end;
    while j > 0 && b[j - 1].is_ascii_whitespace() {
        j -= 1;
    }
    let stop = j;
    while j > 0 && is_ident_byte(b[j - 1]) {
        j -= 1;
    }
    (j < stop && !b[j].is_ascii_digit()).then(|| (j, &code[j..stop]))
}

/// The identifier starting at `start` after spaces, and the position after it.
pub(crate) fn ident_after(code: &str, start: usize) -> Option<(&str, usize)> {
    let b = code.as_bytes();
    let mut i = start;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let from = i;
    while i < b.len() && is_ident_byte(b[i]) {
        i += 1;
    }
    (i > from && !b[from].is_ascii_digit()).then(|| (&code[from..i], i))
}

/// Whether `name` is a plain identifier (what a generated proxy may be called).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanking_keeps_positions() {
        let src = "int f(){ /* { */ return \"}\"[0]; } // }\n#define X {\nchar c = '{';";
        let code = blank(src, Syntax::C);
        assert_eq!(code.len(), src.len());
        assert_eq!(code.matches('{').count(), 1);
        assert_eq!(matching(&code, code.find('{').unwrap()), code.find('}'));
        let rust = "fn f<'a>(x: &'a str) -> char { 'x' } // '";
        let code = blank(rust, Syntax::Rust);
        assert!(code.contains("<'a>(x: &'a str)"), "{code}");
        assert!(code.contains("{ ' ' }"), "{code}");
    }

    #[test]
    fn top_level_splitting() {
        assert_eq!(
            split_top("map<int, int> a, vector<pair<int,int>> b, int c", b','),
            vec!["map<int, int> a", "vector<pair<int,int>> b", "int c"]
        );
        assert_eq!(ident_before("int  foo (", 9).map(|(_, s)| s), Some("foo"));
    }
}
