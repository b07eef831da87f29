//! The code tokenizer: identifiers are indexed whole and split at `snake_case` and `camelCase`
//! boundaries, all lowercased, so `parseHttpRequest` is found by `parse_http_request`, by
//! `request` and by itself.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the tokenizer is registered under in the index.
pub(crate) const CODE_TOKENIZER: &str = "crucible_code";

/// Longest term kept; longer runs (hashes, base64) are kept only by their parts.
const MAX_TERM_BYTES: usize = 64;

/// The terms of `text`, in order, with repeats: each identifier's parts, then the whole
/// identifier when it has more than one part. Single characters and over-long runs are dropped.
pub fn code_terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_term(text, |term, _, _| out.push(term.to_string()));
    out
}

/// Call `emit(term, byte_start, byte_end)` for every term of `text` (one path for the index
/// and for queries).
fn for_each_term(text: &str, mut emit: impl FnMut(&str, usize, usize)) {
    let mut lower = String::new();
    let mut start = None;
    for (at, ch) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        let is_word = ch.is_alphanumeric() || ch == '_';
        match (is_word, start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                identifier_terms(&text[from..at], from, &mut lower, &mut emit);
                start = None;
            }
            _ => {}
        }
    }
}

/// The terms of one identifier (a run of letters, digits and underscores).
fn identifier_terms(
    word: &str,
    offset: usize,
    lower: &mut String,
    emit: &mut impl FnMut(&str, usize, usize),
) {
    let mut parts = 0;
    for (from, to) in split_identifier(word) {
        let part = &word[from..to];
        if part.len() < 2 || part.len() > MAX_TERM_BYTES {
            continue;
        }
        lower.clear();
        lower.extend(part.chars().flat_map(char::to_lowercase));
        emit(lower, offset + from, offset + to);
        parts += 1;
    }
    let whole = word.trim_matches('_');
    let whole_is_new = parts > 1 || (parts == 0 && whole.len() >= 2);
    if whole_is_new && whole.len() <= MAX_TERM_BYTES {
        lower.clear();
        lower.extend(whole.chars().flat_map(char::to_lowercase));
        emit(lower, offset, offset + word.len());
    }
}

/// Byte ranges of the parts of an identifier: split at `_`, at a lowercase-to-uppercase step
/// (`parseHttp`), before the last capital of an acronym (`HTTPServer` -> `HTTP`, `Server`) and
/// between letters and digits only where a capital follows digits (`utf8Decode` -> `utf8`,
/// `Decode`).
fn split_identifier(word: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &(at, ch)) in chars.iter().enumerate() {
        if ch == '_' {
            if let Some(from) = start.take() {
                parts.push((from, at));
            }
            continue;
        }
        let Some(from) = start else {
            start = Some(at);
            continue;
        };
        let prev = chars[i - 1].1;
        let next = chars.get(i + 1).map(|&(_, c)| c);
        let lower_to_upper = ch.is_uppercase() && (prev.is_lowercase() || prev.is_numeric());
        let acronym_end =
            ch.is_uppercase() && prev.is_uppercase() && next.is_some_and(char::is_lowercase);
        if lower_to_upper || acronym_end {
            parts.push((from, at));
            start = Some(at);
        }
    }
    if let Some(from) = start {
        parts.push((from, word.len()));
    }
    parts
}

/// [`code_terms`] as a tantivy tokenizer.
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeTokenizer {
    tokens: Vec<Token>,
}

/// The stream of [`CodeTokenizer`]: the terms of one text, made up front.
pub(crate) struct CodeTokenStream<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        self.tokens.clear();
        let tokens = &mut self.tokens;
        for_each_term(text, |term, from, to| {
            let position = tokens.len();
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: term.to_string(),
                position_length: 1,
            });
        });
        CodeTokenStream {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

impl TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_camel_and_snake_case_and_keeps_the_whole() {
        assert_eq!(
            code_terms("parseHttpRequest(raw_bytes)"),
            [
                "parse",
                "http",
                "request",
                "parsehttprequest",
                "raw",
                "bytes",
                "raw_bytes"
            ]
        );
        assert_eq!(
            code_terms("HTTPServer::new"),
            ["http", "server", "httpserver", "new"]
        );
        assert_eq!(code_terms("utf8Decode"), ["utf8", "decode", "utf8decode"]);
        assert_eq!(code_terms("__init__"), ["init"]);
        assert_eq!(code_terms("MAX_LEN = 10"), ["max", "len", "max_len", "10"]);
    }

    #[test]
    fn drops_single_characters_and_overlong_runs() {
        assert_eq!(code_terms("for i in x: y"), ["for", "in"]);
        let hash = "a".repeat(100);
        assert!(code_terms(&hash).is_empty());
        assert_eq!(code_terms(&format!("{hash}_tail")), ["tail"]);
    }

    #[test]
    fn unicode_identifiers_are_words() {
        assert_eq!(code_terms("größe = maße"), ["größe", "maße"]);
    }

    #[test]
    fn the_tantivy_stream_matches_code_terms() {
        let mut tokenizer = CodeTokenizer::default();
        let text = "fn readAll(buf: &mut Vec<u8>)";
        let mut stream = tokenizer.token_stream(text);
        let mut seen = Vec::new();
        while stream.advance() {
            let token = stream.token();
            seen.push((
                token.text.clone(),
                &text[token.offset_from..token.offset_to],
            ));
        }
        assert_eq!(
            seen,
            [
                ("fn".to_string(), "fn"),
                ("read".to_string(), "read"),
                ("all".to_string(), "All"),
                ("readall".to_string(), "readAll"),
                ("buf".to_string(), "buf"),
                ("mut".to_string(), "mut"),
                ("vec".to_string(), "Vec"),
                ("u8".to_string(), "u8"),
            ]
        );
    }
}
