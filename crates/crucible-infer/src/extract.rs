//! Pulling the program out of a model's answer: fenced blocks, language tags, several blocks,
//! prose around them, an unterminated block, or bare code.

use crucible_types::Language;

/// Where the extracted code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A complete fenced block.
    Fenced,
    /// A block whose closing fence never came (the answer was cut off).
    Unterminated,
    /// No fence: the whole answer, trimmed.
    Whole,
}

/// The code found in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub code: String,
    pub source: Source,
}

#[derive(Debug)]
struct Block<'a> {
    tag: &'a str,
    body: &'a str,
    terminated: bool,
}

/// Extract the program written in `language` from `answer`.
///
/// Rules, in order: among fenced blocks, prefer those tagged with the language (or untagged);
/// if `entry_point` is given, prefer a block that defines it; then take the longest such block,
/// which is the program rather than a usage example. When every block is tagged with another
/// language, fall back to the longest block. With no fence at all, the whole answer is the code.
/// For Python with an `entry_point`, only the definitions are kept ([`crate::keep_definitions`]).
pub fn extract_code(answer: &str, language: Language, entry_point: Option<&str>) -> Extracted {
    let blocks = fenced_blocks(answer);
    if blocks.is_empty() {
        return Extracted {
            code: definitions_only(trim_blank_lines(answer), language, entry_point),
            source: Source::Whole,
        };
    }
    let matching: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.tag.is_empty() || language.matches_tag(b.tag))
        .collect();
    let pool: Vec<&Block> = if matching.is_empty() {
        blocks.iter().collect()
    } else {
        matching
    };
    let defining: Vec<&Block> = match entry_point {
        Some(name) => pool
            .iter()
            .copied()
            .filter(|b| defines(b.body, name))
            .collect(),
        None => Vec::new(),
    };
    let pool = if defining.is_empty() { pool } else { defining };
    let best = pool
        .iter()
        .max_by_key(|b| b.body.trim().len())
        .expect("pool is non-empty: blocks is non-empty");
    Extracted {
        code: definitions_only(trim_blank_lines(best.body), language, entry_point),
        source: if best.terminated {
            Source::Fenced
        } else {
            Source::Unterminated
        },
    }
}

/// A Python function task is judged on its definitions: example calls, prints and `__main__`
/// blocks the model appended would run on import, so they are dropped (see `python_defs`).
fn definitions_only(code: &str, language: Language, entry_point: Option<&str>) -> String {
    if language == Language::Python
        && let Some(name) = entry_point
        && let Some(kept) = crate::keep_definitions(code, name)
    {
        return trim_blank_lines(&kept).to_owned();
    }
    code.to_owned()
}

/// Whether `code` seems to define `name` (a function, method or class), in any language.
fn defines(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(pos, _)| {
        let after = code[pos + name.len()..].trim_start();
        let before_ok = code[..pos]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        before_ok && (after.starts_with('(') || after.starts_with('<')) && {
            let line_start = code[..pos].rfind('\n').map_or(0, |i| i + 1);
            let head = code[line_start..pos].trim();
            // A definition has something before the name on its line (`def`, `fn`, a type),
            // a call in an expression usually has `=`/`(`/`return` or nothing.
            !head.is_empty()
                && !head.ends_with('=')
                && !head.ends_with('(')
                && !head.starts_with("return")
                && !head.starts_with("assert")
                && !head.starts_with("print")
        }
    })
}

/// All fenced blocks (``` or ~~~), in order. A fence opens at the start of a line (after
/// optional indentation); the block closes at the next line that is just the same fence.
fn fenced_blocks(text: &str) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut offset = 0usize;
    while let Some((fence, tag, body_start)) = next_fence(text, offset) {
        let body = &text[body_start..];
        match find_closing(body, fence) {
            Some((body_len, after)) => {
                blocks.push(Block {
                    tag,
                    body: &body[..body_len],
                    terminated: true,
                });
                offset = body_start + after;
            }
            None => {
                blocks.push(Block {
                    tag,
                    body,
                    terminated: false,
                });
                break;
            }
        }
    }
    blocks
}

/// Find the next opening fence at or after `from`: (fence, tag, body start).
fn next_fence(text: &str, from: usize) -> Option<(&'static str, &str, usize)> {
    let mut line_start = from;
    while line_start < text.len() {
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |i| line_start + i);
        let line = &text[line_start..line_end];
        let trimmed = line.trim_start();
        for fence in ["```", "~~~"] {
            if let Some(info) = trimmed.strip_prefix(fence) {
                let info = info.trim_start_matches(fence.chars().next().unwrap_or('`'));
                let tag = info.split_whitespace().next().unwrap_or("");
                let tag = tag.trim_start_matches('{').trim_end_matches('}');
                let body_start = (line_end + 1).min(text.len());
                return Some((fence, tag, body_start));
            }
        }
        line_start = line_end + 1;
    }
    None
}

/// In `body`, the length up to the closing fence line and the offset just after that line.
fn find_closing(body: &str, fence: &str) -> Option<(usize, usize)> {
    let mut line_start = 0usize;
    while line_start <= body.len() {
        let line_end = body[line_start..]
            .find('\n')
            .map_or(body.len(), |i| line_start + i);
        let line = body[line_start..line_end].trim();
        if line.starts_with(fence)
            && line
                .trim_start_matches(fence.chars().next().unwrap_or('`'))
                .is_empty()
        {
            return Some((line_start, (line_end + 1).min(body.len())));
        }
        if line_end == body.len() {
            break;
        }
        line_start = line_end + 1;
    }
    None
}

/// Drop leading and trailing blank lines, keeping the first line's indentation.
fn trim_blank_lines(text: &str) -> &str {
    let start = text
        .char_indices()
        .find(|&(_, c)| !c.is_whitespace())
        .map_or(text.len(), |(i, _)| {
            text[..i].rfind('\n').map_or(0, |nl| nl + 1)
        });
    text[start..].trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(answer: &str, lang: Language, entry: Option<&str>, code: &str, source: Source) {
        let got = extract_code(answer, lang, entry);
        assert_eq!(got.code, code, "answer: {answer:?}");
        assert_eq!(got.source, source);
    }

    #[test]
    fn python_function_answers_keep_only_definitions() {
        let answer = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n\n# Example usage\nprint(add(1, 2))\n```\n";
        let got = extract_code(answer, Language::Python, Some("add"));
        assert_eq!(got.code, "def add(a, b):\n    return a + b");
        // A program task (no entry point) keeps its top-level code.
        let got = extract_code(answer, Language::Python, None);
        assert!(got.code.ends_with("print(add(1, 2))"), "{}", got.code);
    }

    #[test]
    fn single_tagged_block_with_prose() {
        check(
            "Here you go:\n```python\ndef f(x):\n    return x\n```\nThis returns x.",
            Language::Python,
            None,
            "def f(x):\n    return x",
            Source::Fenced,
        );
    }

    #[test]
    fn untagged_block() {
        check(
            "```\nint main() { return 0; }\n```",
            Language::Cpp,
            None,
            "int main() { return 0; }",
            Source::Fenced,
        );
    }

    #[test]
    fn prefers_matching_language_tag() {
        let answer = "```bash\ng++ main.cpp && ./a.out\n```\n\n```cpp\n#include <cstdio>\nint main() {}\n```";
        check(
            answer,
            Language::Cpp,
            None,
            "#include <cstdio>\nint main() {}",
            Source::Fenced,
        );
        check(
            "```c++\nint x;\n```",
            Language::Cpp,
            None,
            "int x;",
            Source::Fenced,
        );
    }

    #[test]
    fn several_blocks_prefers_the_one_defining_the_entry_point() {
        let answer = "```python\ndef add(a, b):\n    return a + b\n```\nUsage:\n```python\nprint(add(1, 2))\nprint(add(3, 4))\nprint(add(5, 6))\n```";
        check(
            answer,
            Language::Python,
            Some("add"),
            "def add(a, b):\n    return a + b",
            Source::Fenced,
        );
    }

    #[test]
    fn several_blocks_without_entry_point_takes_longest() {
        let answer =
            "```js\nconst a = 1;\n```\n```js\nfunction main() {\n  console.log(1);\n}\n```";
        check(
            answer,
            Language::JavaScript,
            None,
            "function main() {\n  console.log(1);\n}",
            Source::Fenced,
        );
    }

    #[test]
    fn unterminated_block_runs_to_the_end() {
        check(
            "```rust\nfn main() {\n    println!(\"hi\");\n}\n",
            Language::Rust,
            None,
            "fn main() {\n    println!(\"hi\");\n}",
            Source::Unterminated,
        );
    }

    #[test]
    fn no_fence_is_the_whole_answer() {
        check(
            "\n\ndef f():\n    pass\n\n",
            Language::Python,
            None,
            "def f():\n    pass",
            Source::Whole,
        );
    }

    #[test]
    fn only_other_languages_falls_back_to_longest() {
        check(
            "```java\nclass A {}\n```",
            Language::Python,
            None,
            "class A {}",
            Source::Fenced,
        );
    }

    #[test]
    fn indentation_of_first_line_is_kept() {
        check(
            "```python\n    return 1\n```",
            Language::Python,
            None,
            "    return 1",
            Source::Fenced,
        );
    }

    #[test]
    fn tilde_fences_and_info_strings() {
        check(
            "~~~ go {.numberLines}\npackage main\n~~~",
            Language::Go,
            None,
            "package main",
            Source::Fenced,
        );
    }

    #[test]
    fn call_sites_are_not_definitions() {
        assert!(defines("def add(a, b):", "add"));
        assert!(defines("int add(int a) {", "add"));
        assert!(defines("fn add(a: i32)", "add"));
        assert!(!defines("print(add(1, 2))", "add"));
        assert!(!defines("x = add(1, 2)", "add"));
        assert!(!defines("assert add(1, 2) == 3", "add"));
        assert!(!defines("def badd(x):", "add"));
    }
}
