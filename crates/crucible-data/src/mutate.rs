//! Simple syntactic mutants of a Python solution, to measure whether its tests catch wrong
//! programs: flipped comparisons, off-by-one integer constants, swapped operands of a
//! non-commutative operator, and a `return` of a constant. Only code is mutated: string
//! literals and comments are left alone.

use serde::{Deserialize, Serialize};

/// What a mutant changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MutantKind {
    /// `<` became `>=`, `==` became `!=`, and so on.
    FlipComparison,
    /// An integer literal `n` became `n + 1`.
    OffByOne,
    /// `a - b` became `b - a` (also `/`, `//`, `%`).
    SwapOperands,
    /// `return <expr>` became `return 0` (or `return None` when it was `0`).
    ReturnConstant,
}

/// One mutant: the whole mutated source and what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutant {
    pub kind: MutantKind,
    /// 1-based line of the change.
    pub line: usize,
    pub source: String,
}

/// For every byte of `src`: whether it is code (not inside a string literal or a comment).
fn code_mask(src: &str) -> Vec<bool> {
    let bytes = src.as_bytes();
    let mut mask = vec![true; bytes.len()];
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    mask[i] = false;
                    i += 1;
                }
            }
            quote @ (b'"' | b'\'') => {
                let triple = bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote);
                let len = if triple { 3 } else { 1 };
                let start = i;
                i += len;
                loop {
                    if i >= bytes.len() {
                        break;
                    }
                    if bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if !triple && bytes[i] == b'\n' {
                        break;
                    }
                    if bytes[i] == quote
                        && (!triple
                            || (bytes.get(i + 1) == Some(&quote)
                                && bytes.get(i + 2) == Some(&quote)))
                    {
                        i += len;
                        break;
                    }
                    i += 1;
                }
                let end = i.min(bytes.len());
                mask[start..end].iter_mut().for_each(|m| *m = false);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    mask
}

fn line_of(src: &str, at: usize) -> usize {
    src[..at].matches('\n').count() + 1
}

fn replace(src: &str, at: usize, len: usize, with: &str) -> String {
    format!("{}{with}{}", &src[..at], &src[at + len..])
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The mutants of `src`, at most `max`, taken round-robin over the kinds so that every kind
/// is represented; deterministic, with no mutant equal to `src` or to another.
pub fn mutants(src: &str, max: usize) -> Vec<Mutant> {
    let mask = code_mask(src);
    let bytes = src.as_bytes();
    let mut by_kind: [Vec<Mutant>; 4] = Default::default();
    let mut i = 0;
    while i < bytes.len() {
        if !mask[i] {
            i += 1;
            continue;
        }
        // Comparisons (two-byte operators first).
        let two = src.get(i..i + 2).unwrap_or("");
        let flip = match two {
            "<=" => Some(("<=", ">")),
            ">=" => Some((">=", "<")),
            "==" => Some(("==", "!=")),
            "!=" => Some(("!=", "==")),
            _ => None,
        };
        if let Some((from, to)) = flip {
            by_kind[0].push(Mutant {
                kind: MutantKind::FlipComparison,
                line: line_of(src, i),
                source: replace(src, i, from.len(), to),
            });
            i += 2;
            continue;
        }
        let prev = if i > 0 { bytes[i - 1] } else { b' ' };
        let next = bytes.get(i + 1).copied().unwrap_or(b' ');
        if (bytes[i] == b'<' || bytes[i] == b'>')
            && !matches!(prev, b'<' | b'>' | b'-')
            && !matches!(next, b'<' | b'>' | b'=')
        {
            let to = if bytes[i] == b'<' { ">=" } else { "<=" };
            by_kind[0].push(Mutant {
                kind: MutantKind::FlipComparison,
                line: line_of(src, i),
                source: replace(src, i, 1, to),
            });
        }
        // Integer literals not part of a name or a float.
        if bytes[i].is_ascii_digit() && !is_ident_byte(prev) && prev != b'.' {
            let end = (i..bytes.len())
                .find(|&j| !bytes[j].is_ascii_digit())
                .unwrap_or(bytes.len());
            let after = bytes.get(end).copied().unwrap_or(b' ');
            if !is_ident_byte(after)
                && after != b'.'
                && let Ok(n) = src[i..end].parse::<u64>()
            {
                by_kind[1].push(Mutant {
                    kind: MutantKind::OffByOne,
                    line: line_of(src, i),
                    source: replace(src, i, end - i, &(n + 1).to_string()),
                });
            }
            i = end;
            continue;
        }
        i += 1;
    }
    // Swapped operands: `a OP b` with simple names or numbers on both sides.
    let swap = regex::Regex::new(r"\b([A-Za-z_]\w*|\d+)(\s*)(//|-|/|%)(\s*)([A-Za-z_]\w*|\d+)\b")
        .expect("the pattern compiles");
    for cap in swap.captures_iter(src) {
        let all = cap.get(0).expect("group 0");
        if !mask[all.start()..all.end()].iter().all(|&m| m) {
            continue;
        }
        let (a, b) = (&cap[1], &cap[5]);
        if a == b || matches!(a, "return" | "in" | "not" | "and" | "or" | "if" | "else") {
            continue;
        }
        let with = format!("{b}{}{}{}{a}", &cap[2], &cap[3], &cap[4]);
        by_kind[2].push(Mutant {
            kind: MutantKind::SwapOperands,
            line: line_of(src, all.start()),
            source: replace(src, all.start(), all.len(), &with),
        });
    }
    // `return <expr>` to a constant.
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let body = line.trim();
        if let Some(expr) = body.strip_prefix("return ")
            && mask.get(offset + indent).copied().unwrap_or(false)
        {
            let constant = if expr.trim() == "0" { "None" } else { "0" };
            let start = offset + indent + "return ".len();
            let end = offset + line.trim_end().len();
            by_kind[3].push(Mutant {
                kind: MutantKind::ReturnConstant,
                line: line_of(src, offset),
                source: replace(src, start, end - start, constant),
            });
        }
        offset += line.len();
    }
    let mut out: Vec<Mutant> = Vec::new();
    let mut round = 0;
    while out.len() < max && by_kind.iter().any(|k| round < k.len()) {
        for kind in &by_kind {
            if out.len() >= max {
                break;
            }
            if let Some(m) = kind.get(round)
                && m.source != src
                && !out.iter().any(|o| o.source == m.source)
            {
                out.push(m.clone());
            }
        }
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_made_and_strings_and_comments_are_left_alone() {
        let src = "def f(a, b):\n    # a < b here\n    if a < b:\n        return a - b\n    s = \"x == 1\"\n    return len(s) + 2\n";
        let all = mutants(src, 100);
        let kinds: std::collections::BTreeSet<MutantKind> = all.iter().map(|m| m.kind).collect();
        assert_eq!(kinds.len(), 4, "{all:#?}");
        let has = |s: &str| all.iter().any(|m| m.source.contains(s));
        assert!(has("if a >= b:"));
        assert!(has("return b - a"));
        assert!(has("len(s) + 3"));
        assert!(has("        return 0\n"));
        for m in &all {
            assert!(m.source.contains("# a < b here"), "{}", m.source);
            assert!(m.source.contains("\"x == 1\""), "{}", m.source);
            assert_ne!(m.source, src);
        }
        let flip = all
            .iter()
            .find(|m| m.kind == MutantKind::FlipComparison)
            .unwrap();
        assert_eq!(flip.line, 3);
    }

    #[test]
    fn the_cap_keeps_every_kind_and_is_deterministic() {
        let src =
            "def g(x):\n    if x <= 1 and x != 2 and x > 3:\n        return x % 7\n    return 5\n";
        let four = mutants(src, 4);
        assert_eq!(four, mutants(src, 4));
        assert_eq!(four.len(), 4);
        let kinds: std::collections::BTreeSet<MutantKind> = four.iter().map(|m| m.kind).collect();
        assert_eq!(kinds.len(), 4, "{four:#?}");
    }

    #[test]
    fn names_with_digits_and_floats_are_not_constants() {
        let src = "def h(x1):\n    return x1 * 2.5\n";
        let all = mutants(src, 100);
        assert!(
            all.iter().all(|m| m.kind != MutantKind::OffByOne),
            "{all:#?}"
        );
    }
}
