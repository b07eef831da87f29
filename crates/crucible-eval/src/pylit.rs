//! A recogniser for Python literal expressions (numbers, strings, `True`/`False`/`None`, lists,
//! tuples, dicts, sets, nested), used to decide whether text in a docstring is an example value.
//!
//! It only answers "is this a literal, and where does it end"; it never evaluates. Being strict is
//! the point: an example such as `is_happy(a) => False` (where `a` is not a value) must be
//! dropped rather than turned into a test that fails for every correct solution.

/// Whether `text` (trimmed) is exactly one Python literal expression.
pub(crate) fn is_literal(text: &str) -> bool {
    let mut scanner = Scanner {
        chars: text.trim().chars().collect(),
        pos: 0,
    };
    scanner.literal(0) && scanner.at_end()
}

/// Split `text` at top-level commas (outside brackets and strings). Returns `None` when brackets
/// or quotes do not balance.
pub(crate) fn split_top_level(text: &str, sep: char) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quotes = Quotes::default();
    let mut current = String::new();
    for ch in text.chars() {
        if quotes.in_string(ch) {
            current.push(ch);
            continue;
        }
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            c if c == sep && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    if depth != 0 || quotes.open() {
        return None;
    }
    parts.push(current);
    Some(parts)
}

/// Byte index just past the bracket that closes the one at `open` (which must be `(`, `[` or `{`),
/// skipping strings. `None` if it never closes.
pub(crate) fn matching_close(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut quotes = Quotes::default();
    for (idx, ch) in text[open..].char_indices() {
        if quotes.in_string(ch) {
            continue;
        }
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + idx + ch.len_utf8());
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether the characters of Python source fed one by one are inside a string literal.
#[derive(Default)]
struct Quotes {
    quote: Option<char>,
    escaped: bool,
}

impl Quotes {
    /// Feed the next character: true when it belongs to a string literal, its quotes included.
    fn in_string(&mut self, ch: char) -> bool {
        if let Some(quote) = self.quote {
            if self.escaped {
                self.escaped = false;
            } else if ch == '\\' {
                self.escaped = true;
            } else if ch == quote {
                self.quote = None;
            }
            return true;
        }
        if ch == '\'' || ch == '"' {
            self.quote = Some(ch);
            return true;
        }
        false
    }

    /// Whether a string literal is still open.
    fn open(&self) -> bool {
        self.quote.is_some()
    }
}

/// Depth limit for nested brackets; docstring values nest a few levels at most.
const MAX_DEPTH: usize = 64;

struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos == self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, ch: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(ch) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        self.skip_ws();
        match self.peek() {
            Some('-' | '+') => {
                self.pos += 1;
                self.number_expr()
            }
            Some('0'..='9' | '.') => self.number_expr(),
            Some('[') => self.sequence(']', depth),
            Some('(') => self.sequence(')', depth),
            Some('{') => self.braces(depth),
            Some('\'' | '"') => self.strings(),
            Some(c) if c.is_alphabetic() => self.word_or_prefixed_string(),
            _ => false,
        }
    }

    /// A number, optionally `a + bj` / `a - bj` (a complex literal expression).
    fn number_expr(&mut self) -> bool {
        if !self.number() {
            return false;
        }
        let save = self.pos;
        self.skip_ws();
        if let Some('+' | '-') = self.peek() {
            self.pos += 1;
            self.skip_ws();
            let start = self.pos;
            if self.number() && self.chars[self.pos - 1] == 'j' && self.pos > start {
                return true;
            }
        }
        self.pos = save;
        true
    }

    fn number(&mut self) -> bool {
        self.skip_ws();
        let start = self.pos;
        while let Some(c) = self.peek() {
            let exponent_sign = (c == '-' || c == '+')
                && self.pos > start
                && matches!(self.chars[self.pos - 1], 'e' | 'E')
                && !self.chars[start..self.pos]
                    .iter()
                    .any(|c| *c == 'x' || *c == 'X');
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || exponent_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        is_number(&text)
    }

    fn sequence(&mut self, close: char, depth: usize) -> bool {
        self.pos += 1;
        if self.eat(close) {
            return true;
        }
        loop {
            if !self.literal(depth + 1) {
                return false;
            }
            if self.eat(close) {
                return true;
            }
            if !self.eat(',') {
                return false;
            }
            if self.eat(close) {
                return true;
            }
        }
    }

    /// A dict or a set.
    fn braces(&mut self, depth: usize) -> bool {
        self.pos += 1;
        if self.eat('}') {
            return true;
        }
        let mut is_dict: Option<bool> = None;
        loop {
            if !self.literal(depth + 1) {
                return false;
            }
            let has_colon = self.eat(':');
            if *is_dict.get_or_insert(has_colon) != has_colon {
                return false;
            }
            if has_colon && !self.literal(depth + 1) {
                return false;
            }
            if self.eat('}') {
                return true;
            }
            if !self.eat(',') {
                return false;
            }
            if self.eat('}') {
                return true;
            }
        }
    }

    /// One or more adjacent string literals (Python concatenates them).
    fn strings(&mut self) -> bool {
        if !self.string() {
            return false;
        }
        loop {
            let save = self.pos;
            self.skip_ws();
            match self.peek() {
                Some('\'' | '"') if self.string() => {}
                _ => {
                    self.pos = save;
                    return true;
                }
            }
        }
    }

    fn string(&mut self) -> bool {
        let Some(quote) = self.peek() else {
            return false;
        };
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == '\\' {
                self.pos += 1;
            } else if c == quote {
                return true;
            } else if c == '\n' {
                return false;
            }
        }
        false
    }

    fn word_or_prefixed_string(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        match word.as_str() {
            "True" | "False" | "None" => true,
            "r" | "b" | "u" | "rb" | "br" | "R" | "B" | "U" => {
                matches!(self.peek(), Some('\'' | '"')) && self.strings()
            }
            _ => false,
        }
    }
}

fn is_number(text: &str) -> bool {
    let body = text.strip_suffix(['j', 'J']).unwrap_or(text);
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() || text.starts_with('_') || text.ends_with('_') {
        return false;
    }
    let lower = clean.to_ascii_lowercase();
    let radix_ok = |prefix: &str, radix: u32| {
        lower
            .strip_prefix(prefix)
            .is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)))
    };
    if radix_ok("0x", 16) || radix_ok("0o", 8) || radix_ok("0b", 2) {
        return body.len() == text.len();
    }
    let decimal_int = clean.chars().all(|c| c.is_ascii_digit());
    if decimal_int {
        // Python forbids leading zeros in non-zero decimal integers.
        return !(clean.len() > 1 && clean.starts_with('0') && clean.chars().any(|c| c != '0'));
    }
    let has_digit = clean.chars().any(|c| c.is_ascii_digit());
    has_digit
        && clean
            .chars()
            .all(|c| c.is_ascii_digit() || ".eE+-".contains(c))
        && clean.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        for text in [
            "1",
            "-0.5",
            "6.00",
            "16.",
            "1e-3",
            "'a'",
            "\"it's\"",
            "[1, 2, [3]]",
            "(1,)",
            "()",
            "{'a': 1, 'b': [2]}",
            "{1, 2}",
            "{}",
            "True",
            "None",
            "(None, 1)",
            "'a' 'b'",
            "1+2j",
            "-3j",
            "[\"Hi\", \"my\"]",
            "0x1F",
            "r'\\d'",
        ] {
            assert!(is_literal(text), "{text} should be a literal");
        }
    }

    #[test]
    fn not_literals() {
        for text in [
            "",
            "a",
            "true",
            "19 - 5 - 6 = 8",
            "1 + 9 + 0 + 0 = 10",
            "\"\"aaaaaaa\"",
            "[1, 2",
            "{'a': 1, 2}",
            "f(1)",
            "2 + 3 * 4 - 5",
            "007",
            "'abc",
        ] {
            assert!(!is_literal(text), "{text} should not be a literal");
        }
    }

    #[test]
    fn splitting() {
        assert_eq!(
            split_top_level("[1, 2], 'a,b', (3, 4)", ',').unwrap(),
            vec!["[1, 2]", " 'a,b'", " (3, 4)"]
        );
        assert_eq!(split_top_level("[1, 2", ','), None);
        assert_eq!(matching_close("f([1, ')'], 2) == 3", 1), Some(14));
        // An escaped quote does not end a string; an unclosed string does not balance.
        assert_eq!(
            split_top_level(r#""a\",b", 1"#, ',').unwrap(),
            vec![r#""a\",b""#, " 1"]
        );
        assert_eq!(split_top_level("'a, 1", ','), None);
        assert_eq!(matching_close(r#"f("\")", 2)"#, 1), Some(11));
    }
}
