//! A small JSON reader that keeps numbers as written and accepts `Infinity`/`NaN`, and a
//! converter from JSON values to Python literal expressions.
//!
//! EvalPlus files store test inputs as JSON values that are really Python values: integers beyond
//! 64 bits (`9999999999999999999999999`), and Python's `json` module's `Infinity` tokens. A
//! general-purpose parser would round the former to floats and reject the latter, silently changing
//! the tests, so inputs are read with this parser instead.

use std::fmt::Write as _;

/// A parsed JSON value. Numbers keep their source text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The number as written, or `Infinity`, `-Infinity`, `NaN`.
    Number(String),
    Str(String),
    Array(Vec<Json>),
    /// Members in file order.
    Object(Vec<(String, Json)>),
}

/// A syntax error, with the byte offset where it was noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub(crate) offset: usize,
    pub(crate) message: &'static str,
}

/// Nesting limit: the deepest EvalPlus input nests about 20 levels; far deeper input is refused
/// rather than risking the stack.
const MAX_DEPTH: usize = 512;

/// Parse one complete JSON text (surrounding whitespace allowed).
pub(crate) fn parse(text: &str) -> Result<Json, JsonError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        pos: 0,
    };
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error("trailing characters after the JSON value"));
    }
    Ok(value)
}

impl Json {
    /// The member `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// A number as `f64` (for fields such as `atol`).
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(raw) => raw.parse().ok(),
            _ => None,
        }
    }

    /// The value as a Python expression: lists stay lists, objects become dicts, `null` becomes
    /// `None`, infinities become `float("inf")`.
    pub(crate) fn to_python(&self) -> String {
        let mut out = String::new();
        self.write_python(&mut out, Shape::AsIs);
        out
    }

    /// Like [`Json::to_python`], with lists turned into tuples as `shape` says.
    pub(crate) fn to_python_shaped(&self, shape: Shape) -> String {
        let mut out = String::new();
        self.write_python(&mut out, shape);
        out
    }

    fn write_python(&self, out: &mut String, shape: Shape) {
        match self {
            Json::Null => out.push_str("None"),
            Json::Bool(true) => out.push_str("True"),
            Json::Bool(false) => out.push_str("False"),
            Json::Number(raw) => match raw.as_str() {
                "Infinity" => out.push_str("float(\"inf\")"),
                "-Infinity" => out.push_str("-float(\"inf\")"),
                "NaN" => out.push_str("float(\"nan\")"),
                _ => out.push_str(raw),
            },
            Json::Str(s) => push_python_str(out, s),
            Json::Array(items) => {
                let as_tuple = shape != Shape::AsIs;
                let inner = if shape == Shape::TuplesDeep {
                    Shape::TuplesDeep
                } else {
                    Shape::AsIs
                };
                out.push(if as_tuple { '(' } else { '[' });
                for (idx, item) in items.iter().enumerate() {
                    if idx > 0 {
                        out.push_str(", ");
                    }
                    item.write_python(out, inner);
                }
                if as_tuple && items.len() == 1 {
                    out.push(',');
                }
                out.push(if as_tuple { ')' } else { ']' });
            }
            Json::Object(members) => {
                out.push('{');
                for (idx, (key, value)) in members.iter().enumerate() {
                    if idx > 0 {
                        out.push_str(", ");
                    }
                    push_python_str(out, key);
                    out.push_str(": ");
                    value.write_python(out, Shape::AsIs);
                }
                out.push('}');
            }
        }
    }
}

/// How arrays are written as Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Arrays are lists.
    AsIs,
    /// The outermost array is a tuple; nested ones stay lists.
    Tuple,
    /// Every array, at any depth, is a tuple.
    TuplesDeep,
}

/// Append `s` as a double-quoted Python string literal.
pub(crate) fn push_python_str(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: &'static str) -> JsonError {
        JsonError {
            offset: self.pos,
            message,
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.skip_ws();
        let Some(&byte) = self.bytes.get(self.pos) else {
            return Err(self.error("unexpected end of input"));
        };
        match byte {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(Json::Str),
            b'n' if self.eat("null") => Ok(Json::Null),
            b't' if self.eat("true") => Ok(Json::Bool(true)),
            b'f' if self.eat("false") => Ok(Json::Bool(false)),
            b'N' if self.eat("NaN") => Ok(Json::Number("NaN".into())),
            b'I' if self.eat("Infinity") => Ok(Json::Number("Infinity".into())),
            b'-' if self.eat("-Infinity") => Ok(Json::Number("-Infinity".into())),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.error("unexpected character")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_ws();
        if self.eat("}") {
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if !self.eat(":") {
                return Err(self.error("expected `:`"));
            }
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_ws();
            if self.eat(",") {
                continue;
            }
            if self.eat("}") {
                return Ok(Json::Object(members));
            }
            return Err(self.error("expected `,` or `}`"));
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat("]") {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            if self.eat(",") {
                continue;
            }
            if self.eat("]") {
                return Ok(Json::Array(items));
            }
            return Err(self.error("expected `,` or `]`"));
        }
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        let raw = &self.text[start..self.pos];
        let well_formed = self.pos > digits_start && raw.parse::<f64>().is_ok();
        if !well_formed {
            return Err(JsonError {
                offset: start,
                message: "malformed number",
            });
        }
        Ok(Json::Number(raw.to_owned()))
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.error("control character in string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let Some(&b) = self.bytes.get(self.pos) else {
            return Err(self.error("unterminated string"));
        };
        self.pos += 1;
        let ch = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(out),
            _ => return Err(self.error("unknown escape")),
        };
        out.push(ch);
        Ok(())
    }

    fn unicode_escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.eat("\\u") {
                return Err(self.error("unpaired surrogate in string"));
            }
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("unpaired surrogate in string"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        let ch = char::from_u32(code).ok_or_else(|| self.error("unpaired surrogate in string"))?;
        out.push(ch);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("short \\u escape"))?;
        let code = u32::from_str_radix(digits, 16).map_err(|_| self.error("bad \\u escape"))?;
        self.pos += 4;
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str, python: &str) {
        assert_eq!(parse(json).unwrap().to_python(), python);
    }

    #[test]
    fn converts_to_python() {
        check(
            r#"[1, -2.5e3, true, null, "a\"b\n", {"k": [ ]}]"#,
            r#"[1, -2.5e3, True, None, "a\"b\n", {"k": []}]"#,
        );
        check("9999999999999999999999999", "9999999999999999999999999");
        check("[-Infinity, Infinity]", r#"[-float("inf"), float("inf")]"#);
        check(r#""\u00e9\ud83d\ude00""#, "\"é😀\"");
    }

    #[test]
    fn shapes() {
        let value = parse("[[1, [2]], [3]]").unwrap();
        assert_eq!(value.to_python_shaped(Shape::Tuple), "([1, [2]], [3])");
        assert_eq!(
            value.to_python_shaped(Shape::TuplesDeep),
            "((1, (2,)), (3,))"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse("[1,").unwrap_err().message, "unexpected end of input");
        assert_eq!(
            parse("[1] x").unwrap_err().message,
            "trailing characters after the JSON value"
        );
        assert_eq!(
            parse(r#""\ud800""#).unwrap_err().message,
            "unpaired surrogate in string"
        );
        assert_eq!(parse("-").unwrap_err().message, "malformed number");
    }
}
