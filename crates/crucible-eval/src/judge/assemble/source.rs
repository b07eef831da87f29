//! Source-text helpers for assembly: finding function definitions, removing a solution's own
//! `main`, and the per-language glue (Go imports and test runner, Rust test module as `main`).
//!
//! These are deliberately lexical: they skip strings and comments when matching braces but do not
//! parse. They run on model output, so every path returns something rather than panicking.

use crucible_types::Language;

/// Whether `text` defines the function `name` (rather than only calling it).
pub(crate) fn defines_function(language: Language, text: &str, name: &str) -> bool {
    match language {
        Language::Python => text.lines().any(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("async ").unwrap_or(line).trim_start();
            line.strip_prefix("def ")
                .is_some_and(|rest| ident_then(rest.trim_start(), name, &['(']))
        }),
        Language::Rust => keyword_defines(text, "fn", name, &['(', '<']),
        Language::Go => keyword_defines(text, "func", name, &['(', '[']),
        Language::JavaScript => {
            keyword_defines(text, "function", name, &['('])
                || ["const", "let", "var"]
                    .iter()
                    .any(|kw| keyword_defines(text, kw, name, &['=']))
        }
        Language::C | Language::Cpp | Language::Java => c_like_defines(text, name),
    }
}

/// The name of the last function `declaration` declares (HumanEval-X gives no entry point).
pub(crate) fn declared_function(language: Language, declaration: &str) -> Option<String> {
    let keyword = match language {
        Language::Python => Some("def"),
        Language::Rust => Some("fn"),
        Language::Go => Some("func"),
        Language::JavaScript => Some("const"),
        Language::C | Language::Cpp | Language::Java => None,
    };
    if let Some(keyword) = keyword {
        return declaration
            .lines()
            .rev()
            .filter_map(|line| {
                let line = line.trim_start();
                let line = line.strip_prefix("pub ").unwrap_or(line);
                let rest = line.strip_prefix(keyword)?.strip_prefix(' ')?;
                let name = leading_ident(rest.trim_start());
                (!name.is_empty()).then(|| name.to_owned())
            })
            .next();
    }
    declaration
        .lines()
        .rev()
        .filter(|line| line.contains('(') && !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let before = line[..line.find('(')?].trim_end();
            let name = trailing_ident(before);
            (!name.is_empty()).then(|| name.to_owned())
        })
        .next()
}

/// Remove a solution's own entry (`main`, Python's `if __name__ == "__main__":` block, Java's
/// `class Main`), which would clash with the test harness's.
pub(crate) fn strip_main(language: Language, code: &str) -> String {
    match language {
        Language::Python => strip_python_main(code),
        Language::C | Language::Cpp => {
            strip_block(code, &["int main(", "int main (", "void main("])
        }
        Language::Rust => strip_block(code, &["fn main(", "fn main ("]),
        Language::Go => strip_block(code, &["func main(", "func main ("]),
        Language::Java => strip_block(code, &["public class Main", "class Main "]),
        Language::JavaScript => code.to_owned(),
    }
}

/// The preamble lines of a declaration: includes, `using`, `use` and `import` lines.
pub(crate) fn header_lines(declaration: &str) -> String {
    let mut out = String::new();
    for line in declaration.lines() {
        let trimmed = line.trim_start();
        let is_header = ["#include", "using ", "use ", "import "]
            .iter()
            .any(|prefix| trimmed.starts_with(prefix));
        if is_header {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A full Java solution: the declaration's imports, then the solution; a bare method is wrapped
/// in `class Solution` (its own imports hoisted out of the class).
pub(crate) fn java_full(declaration: &str, code: &str) -> String {
    let code = strip_main(Language::Java, code);
    let imports = header_lines(declaration);
    if code.contains("class Solution") {
        return format!("{imports}{code}");
    }
    let (own_imports, body): (Vec<&str>, Vec<&str>) = code
        .lines()
        .partition(|line| line.trim_start().starts_with("import "));
    format!(
        "{imports}{}\nclass Solution {{\n{}\n}}\n",
        own_imports.join("\n"),
        body.join("\n")
    )
}

/// Standard-library packages a Go solution may use without importing them itself (the upstream
/// harness adds imports for packages the code refers to).
const GO_STD_PACKAGES: &[&str] = &[
    "bytes",
    "crypto/md5",
    "encoding/hex",
    "errors",
    "fmt",
    "math",
    "math/big",
    "math/bits",
    "math/rand",
    "reflect",
    "regexp",
    "sort",
    "strconv",
    "strings",
    "time",
    "unicode",
    "unicode/utf8",
];

/// A Go program file: `package main`, one import block (the packages the code uses), then the
/// solution with its own package clause and imports removed. Imports are re-derived from use,
/// as the upstream harness does, because Go rejects unused imports.
pub(crate) fn go_program(body: &str) -> String {
    let (explicit, body) = take_go_imports(body);
    let mut candidates: Vec<String> = GO_STD_PACKAGES.iter().map(|p| (*p).to_owned()).collect();
    candidates.extend(explicit);
    let mut imports: Vec<String> = Vec::new();
    for package in candidates {
        let short = package.rsplit('/').next().unwrap_or(&package);
        let third_party = package.contains('.');
        if go_uses(&body, short) && !third_party && !imports.contains(&package) {
            imports.push(package);
        }
    }
    imports.sort();
    let mut out = String::from("package main\n\n");
    if !imports.is_empty() {
        out.push_str("import (\n");
        for package in imports {
            out.push_str(&format!("    \"{package}\"\n"));
        }
        out.push_str(")\n\n");
    }
    out.push_str(&body);
    out
}

/// Whether Go code refers to package `short` (`short.Name` outside `//` comments, on a word
/// boundary, so `operand.x` does not count as a use of `rand`).
fn go_uses(code: &str, short: &str) -> bool {
    let pattern = format!("{short}.");
    code.lines().any(|line| {
        let line = line.split("//").next().unwrap_or("");
        line.match_indices(&pattern).any(|(at, _)| {
            line[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'))
        })
    })
}

/// HumanEval-X Rust tests for the executor (which turns `#[test]` functions into calls).
///
/// Block comments are dropped first: `Rust/32` ships its whole test module inside `/* ... */`,
/// so it has no test (upstream's `cargo test` ran none either); such code gets an empty `main`,
/// and a solution passes when it compiles.
pub(crate) fn rust_tests(test_code: &str) -> String {
    let code = strip_block_comments(test_code);
    if code.contains("#[test]") || code.contains("fn main") {
        code
    } else {
        format!("{code}\nfn main() {{}}\n")
    }
}

/// Remove `/* ... */` comments (nested, as Rust allows).
fn strip_block_comments(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut depth = 0usize;
    let mut rest = code;
    while !rest.is_empty() {
        if rest.starts_with("/*") {
            depth += 1;
            rest = &rest[2..];
        } else if depth > 0 && rest.starts_with("*/") {
            depth -= 1;
            rest = &rest[2..];
        } else {
            let ch = rest.chars().next().unwrap_or(' ');
            if depth == 0 {
                out.push(ch);
            }
            rest = &rest[ch.len_utf8()..];
        }
    }
    out
}

/// Remove `package ...` and `import` declarations from Go code; return the imported paths too.
fn take_go_imports(code: &str) -> (Vec<String>, String) {
    let mut imports = Vec::new();
    let mut rest = String::with_capacity(code.len());
    let mut in_block = false;
    for line in code.lines() {
        let trimmed = line.trim();
        if in_block {
            if trimmed.starts_with(')') {
                in_block = false;
            } else if let Some(path) = quoted(trimmed) {
                imports.push(path);
            }
            continue;
        }
        if trimmed.starts_with("package ") {
            continue;
        }
        if let Some(spec) = trimmed.strip_prefix("import") {
            let spec = spec.trim();
            if spec.starts_with('(') {
                in_block = !spec.contains(')');
                imports.extend(spec.split('"').skip(1).step_by(2).map(str::to_owned));
            } else if let Some(path) = quoted(spec) {
                imports.push(path);
            }
            continue;
        }
        rest.push_str(line);
        rest.push('\n');
    }
    (imports, rest)
}

fn quoted(text: &str) -> Option<String> {
    let start = text.find('"')?;
    let end = text[start + 1..].find('"')?;
    Some(text[start + 1..start + 1 + end].to_owned())
}

/// `keyword name<one of follow>` somewhere in `text`, on a word boundary.
fn keyword_defines(text: &str, keyword: &str, name: &str, follow: &[char]) -> bool {
    let pattern = format!("{keyword} ");
    text.match_indices(&pattern).any(|(at, _)| {
        let boundary = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        boundary && ident_then(text[at + pattern.len()..].trim_start(), name, follow)
    })
}

/// `text` starts with the identifier `name` followed (after spaces) by one of `follow`.
fn ident_then(text: &str, name: &str, follow: &[char]) -> bool {
    let Some(rest) = text.strip_prefix(name) else {
        return false;
    };
    rest.trim_start().starts_with(follow)
}

/// C, C++ and Java: `name(...)` preceded by a type and followed, after the parameter list and
/// optional qualifiers, by `{`.
fn c_like_defines(text: &str, name: &str) -> bool {
    let pattern = format!("{name}(");
    let spaced = format!("{name} (");
    text.match_indices(&pattern)
        .chain(text.match_indices(&spaced))
        .any(|(at, matched)| {
            let before = text[..at].trim_end_matches([' ', '\t']);
            let prev = before.chars().next_back();
            let typed = prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || "*&>]".contains(c));
            let previous_word = trailing_ident(before);
            let not_expression = !matches!(previous_word, "return" | "new" | "else" | "case");
            let open = at + matched.len() - 1;
            let Some(close) = matching_paren(text, open) else {
                return false;
            };
            let after = text[close..].trim_start();
            let after = skip_qualifiers(after);
            typed && not_expression && after.starts_with('{')
        })
}

fn skip_qualifiers(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_start();
        let word = leading_ident(trimmed);
        match word {
            "const" | "noexcept" | "override" | "final" => text = &trimmed[word.len()..],
            "throws" => {
                let end = trimmed.find('{').unwrap_or(trimmed.len());
                text = &trimmed[end..];
            }
            _ => return trimmed,
        }
    }
}

fn matching_paren(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (idx, ch) in text[open..].char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(open + idx + 1);
                }
            }
            _ => {}
        }
    }
    None
}

fn leading_ident(text: &str) -> &str {
    let end = text
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(text.len(), |(idx, _)| idx);
    &text[..end]
}

fn trailing_ident(text: &str) -> &str {
    let start = text
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(0, |(idx, c)| idx + c.len_utf8());
    &text[start..]
}

/// Drop `if __name__ == "__main__":` and the indented block under it.
fn strip_python_main(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut skipping: Option<usize> = None;
    for line in code.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(block_indent) = skipping {
            if line.trim().is_empty() || indent > block_indent {
                continue;
            }
            skipping = None;
        }
        let trimmed = line.trim_start();
        let is_main_guard = trimmed.starts_with("if __name__")
            && trimmed.contains("__main__")
            && trimmed.trim_end().ends_with(':');
        if is_main_guard {
            skipping = Some(indent);
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Remove the first top-level block whose header line starts with one of `headers`.
fn strip_block(code: &str, headers: &[&str]) -> String {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if headers.iter().any(|h| trimmed.starts_with(h)) {
            let Some(open) = code[offset..].find('{').map(|i| offset + i) else {
                break;
            };
            let Some(close) = matching_brace(code, open) else {
                break;
            };
            let end = code[close..]
                .find('\n')
                .map_or(code.len(), |i| close + i + 1);
            return format!("{}{}", &code[..offset], &code[end..]);
        }
        offset += line.len();
    }
    code.to_owned()
}

/// Index just past the `}` matching the `{` at `open`, skipping strings and comments.
fn matching_brace(code: &str, open: usize) -> Option<usize> {
    let bytes = code.as_bytes();
    let mut depth = 0usize;
    let mut idx = open;
    while idx < bytes.len() {
        match bytes[idx] {
            b'"' | b'`' => {
                let quote = bytes[idx];
                idx += 1;
                while idx < bytes.len() && bytes[idx] != quote {
                    if bytes[idx] == b'\\' {
                        idx += 1;
                    }
                    idx += 1;
                }
            }
            b'/' if bytes.get(idx + 1) == Some(&b'/') => {
                while idx < bytes.len() && bytes[idx] != b'\n' {
                    idx += 1;
                }
            }
            b'/' if bytes.get(idx + 1) == Some(&b'*') => {
                idx += 2;
                while idx + 1 < bytes.len() && !(bytes[idx] == b'*' && bytes[idx + 1] == b'/') {
                    idx += 1;
                }
                idx += 1;
            }
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(idx + 1);
                }
            }
            _ => {}
        }
        idx += 1;
    }
    None
}
