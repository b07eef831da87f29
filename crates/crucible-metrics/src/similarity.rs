//! Exact match, edit similarity (two variants) and identifier match.
//!
//! - [`exact_match`]: the prediction and the reference have the same lines once comments are
//!   removed (by the language's grammar), each line is trimmed and blank lines are dropped.
//!   CrossCodeEval compares lines the same way but removes comments with the regexes `#.*` and
//!   `//.*`, which also delete C's `#include` lines and `//` inside strings; the grammar does not.
//! - [`edit_similarity`] gives both variants papers report, on the trimmed texts:
//!   `fuzz_ratio`, fuzzywuzzy's `fuzz.ratio` as CodeXGLUE's and CrossCodeEval's evaluators
//!   compute it (installed without python-Levenshtein, so difflib's Ratcliff/Obershelp ratio
//!   `2M/T`, times 100, rounded half to even), and `levenshtein`, `1 - distance / max length`
//!   in code points. Reports print `fuzz_ratio` (0-100) as "edit similarity", as those papers do.
//! - [`identifier_match`]: CrossCodeEval's identifier precision, recall and F1 between the
//!   sets of identifiers: comments removed by its regexes, string literals removed, `\w+`
//!   tokens that start with a letter or `_` and are not keywords of the language (Python's
//!   keyword list without `True`/`False`, as CrossCodeEval; other languages' reserved words
//!   from crucible-syntax).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crucible_syntax::{SyntaxLanguage, SyntaxParser, walk};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Whether two programs are the same, line for line, ignoring comments, indentation and blank lines.
pub fn exact_match(
    parser: &mut SyntaxParser,
    language: SyntaxLanguage,
    prediction: &str,
    reference: &str,
) -> Result<bool, Error> {
    let prediction = walk::strip_comments(&parser.parse(language, prediction)?);
    let reference = walk::strip_comments(&parser.parse(language, reference)?);
    Ok(walk::code_lines(&prediction) == walk::code_lines(&reference))
}

/// Both edit similarities of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EditSimilarity {
    /// fuzzywuzzy's `fuzz.ratio`: difflib's ratio times 100, rounded (0-100). The one printed.
    pub fuzz_ratio: f64,
    /// `1 - levenshtein / max(len)` in code points (0-1).
    pub levenshtein: f64,
}

/// Edit similarity of the trimmed texts, in both variants.
pub fn edit_similarity(prediction: &str, reference: &str) -> EditSimilarity {
    let prediction = prediction.trim();
    let reference = reference.trim();
    EditSimilarity {
        fuzz_ratio: fuzz_ratio(prediction, reference),
        levenshtein: strsim::normalized_levenshtein(prediction, reference),
    }
}

/// fuzzywuzzy's `fuzz.ratio(a, b)` (pure-Python difflib path).
pub fn fuzz_ratio(a: &str, b: &str) -> f64 {
    if a == b {
        return 100.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let matched = matching_characters(&a, &b);
    let ratio = 2.0 * matched as f64 / (a.len() + b.len()) as f64;
    round_half_even(100.0 * ratio)
}

/// Python's `round`: halves go to the even neighbour.
fn round_half_even(value: f64) -> f64 {
    let rounded = value.round();
    if (value - value.trunc()).abs() == 0.5 && rounded % 2.0 != 0.0 {
        rounded - value.signum()
    } else {
        rounded
    }
}

/// difflib's `SequenceMatcher(None, a, b)`: total size of the matching blocks, found by
/// recursively taking the longest common block (earliest in `a`, then in `b`) left and right
/// of it. With `autojunk`, elements of a `b` of 200 or more that occur more than
/// `len(b) / 100 + 1` times are "popular": never used to start a block, but a block may grow
/// over them.
fn matching_characters(a: &[char], b: &[char]) -> usize {
    let mut b2j: HashMap<char, Vec<usize>> = HashMap::default();
    for (j, c) in b.iter().enumerate() {
        b2j.entry(*c).or_default().push(j);
    }
    if b.len() >= 200 {
        let limit = b.len() / 100 + 1;
        b2j.retain(|_, positions| positions.len() <= limit);
    }
    let mut total = 0;
    let mut queue = vec![(0, a.len(), 0, b.len())];
    while let Some((alo, ahi, blo, bhi)) = queue.pop() {
        let (i, j, k) = longest_match(a, b, &b2j, (alo, ahi, blo, bhi));
        if k == 0 {
            continue;
        }
        total += k;
        if alo < i && blo < j {
            queue.push((alo, i, blo, j));
        }
        if i + k < ahi && j + k < bhi {
            queue.push((i + k, ahi, j + k, bhi));
        }
    }
    total
}

fn longest_match(
    a: &[char],
    b: &[char],
    b2j: &HashMap<char, Vec<usize>>,
    (alo, ahi, blo, bhi): (usize, usize, usize, usize),
) -> (usize, usize, usize) {
    let (mut besti, mut bestj, mut bestsize) = (alo, blo, 0);
    let mut j2len: HashMap<usize, usize> = HashMap::default();
    for (i, c) in a.iter().enumerate().take(ahi).skip(alo) {
        let mut next: HashMap<usize, usize> = HashMap::default();
        for &j in b2j.get(c).map(Vec::as_slice).unwrap_or(&[]) {
            if j < blo {
                continue;
            }
            if j >= bhi {
                break;
            }
            let k = j
                .checked_sub(1)
                .and_then(|prev| j2len.get(&prev))
                .copied()
                .unwrap_or(0)
                + 1;
            next.insert(j, k);
            if k > bestsize {
                (besti, bestj, bestsize) = (i + 1 - k, j + 1 - k, k);
            }
        }
        j2len = next;
    }
    while besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1] {
        besti -= 1;
        bestj -= 1;
        bestsize += 1;
    }
    while besti + bestsize < ahi
        && bestj + bestsize < bhi
        && a[besti + bestsize] == b[bestj + bestsize]
    {
        bestsize += 1;
    }
    (besti, bestj, bestsize)
}

/// Identifier match of a pair, as CrossCodeEval defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentifierMatch {
    /// The identifier lists are equal (order and repeats included).
    pub exact: bool,
    /// Shared identifiers over the prediction's distinct identifiers (0 when it has none).
    pub precision: f64,
    /// Shared identifiers over the reference's distinct identifiers (0 when it has none).
    pub recall: f64,
    /// `2tp / (2tp + fp + fn)` (0 when both have none).
    pub f1: f64,
}

/// CrossCodeEval's identifier match between a prediction and a reference.
pub fn identifier_match(
    language: SyntaxLanguage,
    prediction: &str,
    reference: &str,
) -> IdentifierMatch {
    let predicted = identifiers(language, prediction);
    let expected = identifiers(language, reference);
    let predicted_set: HashSet<&str> = predicted.iter().map(String::as_str).collect();
    let expected_set: HashSet<&str> = expected.iter().map(String::as_str).collect();
    let tp = predicted_set.intersection(&expected_set).count() as f64;
    let fp = predicted_set.len() as f64 - tp;
    let fn_ = expected_set.len() as f64 - tp;
    let share = |numerator: f64, denominator: f64| {
        if denominator == 0.0 {
            0.0
        } else {
            numerator / denominator
        }
    };
    IdentifierMatch {
        exact: predicted == expected,
        precision: share(tp, tp + fp),
        recall: share(tp, tp + fn_),
        f1: share(2.0 * tp, 2.0 * tp + fp + fn_),
    }
}

/// CrossCodeEval's identifier extraction (see the module docs), in order, with repeats.
pub fn identifiers(language: SyntaxLanguage, code: &str) -> Vec<String> {
    let code = cut_lines_at(code, "#");
    let code = cut_lines_at(&code, "//");
    let code = remove_strings(&code);
    let is_keyword = |word: &str| match language {
        SyntaxLanguage::Python => word != "True" && word != "False" && language.is_keyword(word),
        _ => language.is_keyword(word),
    };
    code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| {
            word.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        })
        .filter(|word| !is_keyword(word))
        .map(str::to_string)
        .collect()
}

/// `re.sub(marker + '.*', '', code)`: every line loses what follows the marker's first
/// occurrence, marker included.
fn cut_lines_at(code: &str, marker: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for (index, line) in code.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        out.push_str(line.find(marker).map_or(line, |at| &line[..at]));
    }
    out
}

/// `re.sub(r'"([^"\\]*(\\.[^"\\]*)*)"|\'([^\'\\]*(\\.[^\'\\]*)*)\'', '', code)`: quoted
/// literals removed; a backslash escapes any character but a newline, and an unclosed quote
/// is left as it is.
fn remove_strings(code: &str) -> String {
    let bytes = code.as_bytes();
    let mut out = String::with_capacity(code.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        if (bytes[at] == b'"' || bytes[at] == b'\'')
            && let Some(end) = string_end(bytes, at)
        {
            out.push_str(&code[copied..at]);
            copied = end;
            at = end;
            continue;
        }
        at += 1;
    }
    out.push_str(&code[copied..]);
    out
}

fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let quote = bytes[start];
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => {
                if bytes.get(at + 1).is_none_or(|next| *next == b'\n') {
                    return None;
                }
                at += 2;
                // Step over the rest of a multi-byte character.
                while at < bytes.len() && (bytes[at] & 0xC0) == 0x80 {
                    at += 1;
                }
            }
            c if c == quote => return Some(at + 1),
            _ => at += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests;
