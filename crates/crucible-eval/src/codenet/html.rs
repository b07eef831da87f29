//! A lenient HTML tokenizer and element tree for CodeNet's statements: start, end and void
//! tags, comments, raw `script`/`style` text and character references, with the leniency of
//! Python's `html.parser` (which the shipped parse used), so that both read the same text out
//! of the same malformed pages.

use super::entities::ENTITIES;

/// One token of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// Text, character references decoded.
    Text(String),
    /// A start tag (lowercase name); `closed` for `<name ... />`.
    Start { name: String, closed: bool },
    /// An end tag (lowercase name).
    End(String),
    /// A comment, declaration, processing instruction or bogus comment (no text).
    Comment,
    /// The raw content of a `script` or `style` element (no text).
    Raw,
}

/// Elements with no content and no end tag.
pub(super) const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// The tokens of `page`.
pub(super) fn tokenize(page: &str) -> Vec<Token> {
    let s = page.as_bytes();
    let n = s.len();
    let mut out = Vec::new();
    let mut i = 0;
    let rest_as_text = |out: &mut Vec<Token>, i: usize| out.push(Token::Text(page[i..].to_owned()));
    while i < n {
        if s[i] != b'<' && s[i] != b'&' {
            let next = s[i..]
                .iter()
                .position(|&c| c == b'<' || c == b'&')
                .map_or(n, |p| i + p);
            out.push(Token::Text(page[i..next].to_owned()));
            i = next;
            continue;
        }
        if s[i] == b'<' {
            let at = |k: usize| s.get(k).copied().unwrap_or(0);
            if at(i + 1).is_ascii_alphabetic() {
                let Some(end) = start_tag_end(s, i) else {
                    rest_as_text(&mut out, i);
                    break;
                };
                let name_end = (i + 1..n)
                    .find(|&k| {
                        matches!(
                            s[k],
                            b'\t' | b'\n' | b'\r' | b'\x0c' | b' ' | b'/' | b'>' | 0
                        )
                    })
                    .unwrap_or(n);
                let name = page[i + 1..name_end].to_ascii_lowercase();
                let closed = s[..end].ends_with(b"/>");
                i = end;
                let raw = name == "script" || name == "style";
                out.push(Token::Start {
                    name: name.clone(),
                    closed,
                });
                if raw {
                    match raw_end(page, i, &name) {
                        Some(after) => {
                            out.push(Token::Raw);
                            out.push(Token::End(name));
                            i = after;
                        }
                        None => {
                            out.push(Token::Raw);
                            break;
                        }
                    }
                }
                continue;
            }
            if s[i..].starts_with(b"</") {
                let Some(gt) = find(s, i + 2, b">") else {
                    rest_as_text(&mut out, i);
                    break;
                };
                if !at(i + 2).is_ascii_alphabetic() && !is_space(at(i + 2)) {
                    if s[i..].starts_with(b"</>") {
                        i += 3;
                    } else {
                        out.push(Token::Comment);
                        i = gt + 1;
                    }
                    continue;
                }
                // `</ name >` (spaces allowed), else the name up to a space, `/` or `>`.
                let mut k = i + 2;
                while k < gt && is_space(s[k]) {
                    k += 1;
                }
                if k < gt && s[k].is_ascii_alphabetic() {
                    let strict_end = (k..gt)
                        .find(|&m| !(s[m].is_ascii_alphanumeric() || b"-.:_".contains(&s[m])))
                        .unwrap_or(gt);
                    let strict = s[strict_end..gt].iter().all(|&c| is_space(c));
                    let name_end = if strict {
                        strict_end
                    } else if k == i + 2 {
                        (k..gt)
                            .find(|&m| {
                                matches!(s[m], b'\t' | b'\n' | b'\r' | b'\x0c' | b' ' | b'/' | 0)
                            })
                            .unwrap_or(gt)
                    } else {
                        // `</ name junk>`: no tolerant name directly after `</`.
                        out.push(Token::Comment);
                        i = gt + 1;
                        continue;
                    };
                    out.push(Token::End(page[k..name_end].to_ascii_lowercase()));
                } else {
                    out.push(Token::Comment);
                }
                i = gt + 1;
                continue;
            }
            let terminator: &[u8] = if s[i..].starts_with(b"<!--") {
                b"-->"
            } else if s[i..].starts_with(b"<!") || s[i..].starts_with(b"<?") {
                b">"
            } else {
                out.push(Token::Text("<".to_owned()));
                i += 1;
                continue;
            };
            let from = if terminator == b"-->" { i + 4 } else { i + 2 };
            match find(s, from, terminator) {
                Some(k) => {
                    out.push(Token::Comment);
                    i = k + terminator.len();
                }
                None => {
                    rest_as_text(&mut out, i);
                    break;
                }
            }
            continue;
        }
        // `&`: a character reference, an entity, or a literal ampersand.
        if let Some((text, after)) = char_ref(page, i) {
            out.push(Token::Text(text));
            i = after;
        } else if let Some((text, after)) = entity_ref(page, i) {
            out.push(Token::Text(text));
            i = after;
        } else if s
            .get(i + 1)
            .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'#')
        {
            // An unterminated reference: `html.parser` keeps the rest of the page as text.
            rest_as_text(&mut out, i);
            break;
        } else {
            out.push(Token::Text("&".to_owned()));
            i += 1;
        }
    }
    out
}

fn find(s: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > s.len() {
        return None;
    }
    s[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Where the start tag at `i` ends (after its `>`), or `None` if no `>` follows.
fn start_tag_end(s: &[u8], i: usize) -> Option<usize> {
    let n = s.len();
    let mut j = i + 1;
    while j < n
        && !matches!(
            s[j],
            b'\t' | b'\n' | b'\r' | b'\x0c' | b' ' | b'/' | b'>' | 0
        )
    {
        j += 1;
    }
    // Attributes: `name`, `name=value`, `name='v'`, `name="v"`, separated by spaces or `/`.
    loop {
        let before = j;
        while j < n && (is_space(s[j]) || s[j] == b'/') {
            j += 1;
        }
        let lead_ok = j > 0 && (is_space(s[j - 1]) || matches!(s[j - 1], b'/' | b'\'' | b'"'));
        if j >= n || s[j] == b'>' || !lead_ok {
            j = if lead_ok { j } else { before };
            break;
        }
        // The attribute's name.
        j += 1;
        while j < n && !is_space(s[j]) && !matches!(s[j], b'/' | b'=' | b'>') {
            j += 1;
        }
        // `\s*=+\s*value`, if a value follows.
        let mut k = j;
        while k < n && is_space(s[k]) {
            k += 1;
        }
        if k < n && s[k] == b'=' {
            while k < n && s[k] == b'=' {
                k += 1;
            }
            while k < n && is_space(s[k]) {
                k += 1;
            }
            let value_end = match s.get(k) {
                Some(&q @ (b'\'' | b'"')) => find(s, k + 1, &[q]).map(|e| e + 1),
                _ => Some(
                    (k..n)
                        .find(|&m| s[m] == b'>' || is_space(s[m]))
                        .unwrap_or(n),
                ),
            };
            if let Some(e) = value_end {
                j = e;
            }
        }
        while j < n && is_space(s[j]) {
            j += 1;
        }
    }
    while j < n && is_space(s[j]) {
        j += 1;
    }
    if j < n && s[j] == b'>' {
        return Some(j + 1);
    }
    if s[j..].starts_with(b"/>") {
        return Some(j + 2);
    }
    find(s, j, b">").map(|k| k + 1)
}

/// The raw text of a `script`/`style` element starting at `from`: where its end tag
/// (`</name>`, spaces allowed, any case) ends.
fn raw_end(page: &str, from: usize, name: &str) -> Option<usize> {
    let s = page.as_bytes();
    let mut k = from;
    while let Some(lt) = find(s, k, b"</") {
        let mut m = lt + 2;
        while m < s.len() && is_space(s[m]) {
            m += 1;
        }
        if s.len() >= m + name.len() && s[m..m + name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            let mut e = m + name.len();
            while e < s.len() && is_space(s[e]) {
                e += 1;
            }
            if s.get(e) == Some(&b'>') {
                return Some(e + 1);
            }
        }
        k = lt + 2;
    }
    None
}

/// `&#NNN;` / `&#xHH;` at `i` (the `;` is optional but some other character must follow).
fn char_ref(page: &str, i: usize) -> Option<(String, usize)> {
    let s = page.as_bytes();
    if !s[i..].starts_with(b"&#") {
        return None;
    }
    let (digits_from, hex) = match s.get(i + 2) {
        Some(b'x' | b'X') => (i + 3, true),
        _ => (i + 2, false),
    };
    let digits_end = (digits_from..s.len())
        .find(|&k| {
            !(if hex {
                s[k].is_ascii_hexdigit()
            } else {
                s[k].is_ascii_digit()
            })
        })
        .unwrap_or(s.len());
    let next = *s.get(digits_end)?;
    if digits_end == digits_from || next.is_ascii_hexdigit() {
        return None;
    }
    let body = &page[i + 2..digits_end];
    let after = if next == b';' {
        digits_end + 1
    } else {
        digits_end
    };
    let digits = &page[digits_from..digits_end];
    let value = u32::from_str_radix(digits, if hex { 16 } else { 10 })
        .ok()
        .and_then(char::from_u32);
    let text = value.map_or_else(|| format!("&#{body};"), String::from);
    Some((text, after))
}

/// `&name;` at `i` (the `;` is optional but some non-alphanumeric character must follow): the
/// character for a known HTML 4 entity, else `&name` as written.
fn entity_ref(page: &str, i: usize) -> Option<(String, usize)> {
    let s = page.as_bytes();
    if !s.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let in_name = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'.';
    let mut end = (i + 1..s.len())
        .find(|&k| !in_name(s[k]))
        .unwrap_or(s.len());
    if end == s.len() {
        // At the end of the page a `-` or `.` inside the name ends it instead.
        end = (i + 2..s.len())
            .rev()
            .find(|&k| !s[k].is_ascii_alphanumeric())?;
    }
    let name = &page[i + 1..end];
    let after = if s[end] == b';' { end + 1 } else { end };
    let text = ENTITIES
        .binary_search_by(|(known, _)| known.cmp(&name))
        .ok()
        .and_then(|k| char::from_u32(ENTITIES[k].1))
        .map_or_else(|| format!("&{name}"), String::from);
    Some((text, after))
}

/// An element: its lowercase name and the tokens between its start and its end (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Element {
    pub name: String,
    pub start: usize,
    pub end: usize,
}

/// The elements of `tokens` in document order. An end tag closes the innermost open element of
/// its name and every element opened inside it; an end tag with no open element is ignored;
/// elements still open end with the page.
pub(super) fn elements(tokens: &[Token]) -> Vec<Element> {
    let mut all: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        match token {
            Token::Start { name, closed } => {
                let void = *closed || VOID.contains(&name.as_str());
                all.push(Element {
                    name: name.clone(),
                    start: index,
                    end: index,
                });
                if !void {
                    open.push(all.len() - 1);
                }
            }
            Token::End(name) => {
                if let Some(depth) = open.iter().rposition(|&e| all[e].name == *name) {
                    for &e in &open[depth..] {
                        all[e].end = index;
                    }
                    open.truncate(depth);
                }
            }
            _ => {}
        }
    }
    for &e in &open {
        all[e].end = tokens.len();
    }
    all
}

/// The text of the tokens strictly between `start` and `end`.
pub(super) fn text_between(tokens: &[Token], start: usize, end: usize) -> String {
    tokens
        .get(start + 1..end)
        .unwrap_or_default()
        .iter()
        .filter_map(|t| match t {
            Token::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(page: &str) -> String {
        let tokens = tokenize(page);
        text_between(&tokens, 0, tokens.len()) // token 0 is skipped: start with a tag
    }

    #[test]
    fn references_decode_and_unknown_ones_stay() {
        assert_eq!(
            texts("<p>a &lt; b &amp;&amp; c&#x41;&#66; &le; &nope; x & y</p>"),
            "a < b && cAB ≤ &nope x & y"
        );
    }

    #[test]
    fn an_unterminated_reference_keeps_the_rest_as_text() {
        // As html.parser: `&#.` starts a reference that never ends, so `</pre><h2>` is text.
        let tokens = tokenize("<pre>#&#.#</pre><h2>x</h2>");
        assert_eq!(tokens.len(), 3, "{tokens:?}");
        assert_eq!(tokens[2], Token::Text("&#.#</pre><h2>x</h2>".into()));
    }

    #[test]
    fn end_tags_close_what_they_match_and_comments_and_scripts_have_no_text() {
        let tokens = tokenize("<h3>A<h3>\n<pre>1</pre></3><!-- c --><script>x</script>B</h3>");
        let elements = elements(&tokens);
        let names: Vec<&str> = elements.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["h3", "h3", "pre", "script"]);
        // `</3>` is a bogus comment, so `</h3>` closes the inner heading; the outer one stays open.
        assert_eq!(
            text_between(&tokens, elements[0].start, elements[0].end),
            "A\n1B"
        );
        assert_eq!(
            text_between(&tokens, elements[1].start, elements[1].end),
            "\n1B"
        );
        assert_eq!(elements[0].end, tokens.len());
        assert!(tokens.contains(&Token::Comment) && tokens.contains(&Token::Raw));
    }

    #[test]
    fn void_and_self_closed_tags_hold_nothing() {
        let tokens = tokenize("<p><img src=\"a>b\" alt=x><br/>t</p>");
        let elements = elements(&tokens);
        assert_eq!(elements[1].name, "img");
        assert_eq!(elements[1].start, elements[1].end);
        assert_eq!(
            text_between(&tokens, elements[0].start, elements[0].end),
            "t"
        );
    }
}
