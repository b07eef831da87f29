//! Exact match, edit similarity and identifier match on fixed inputs (reference vectors: `tests/it`).

use super::*;

#[test]
fn exact_match_ignores_comments_indentation_and_blank_lines() {
    let mut parser = SyntaxParser::new();
    let prediction = "int f(int x) {\n    // double it\n    return x * 2;\n}\n";
    let reference = "int f(int x) {\n  return x * 2;  /* twice */\n\n}";
    assert!(exact_match(&mut parser, SyntaxLanguage::C, prediction, reference).unwrap());
    // `#include` is code in C, and `//` inside a string is not a comment.
    let with_include = "#include <stdio.h>\nint main() { puts(\"//\"); }";
    let without = "int main() { puts(\"//\"); }";
    assert!(!exact_match(&mut parser, SyntaxLanguage::C, with_include, without).unwrap());
    assert!(!exact_match(&mut parser, SyntaxLanguage::Python, "x = 1", "x = 2").unwrap());
}

#[test]
fn edit_similarity_variants() {
    let same = edit_similarity("  return x ", "return x");
    assert_eq!(same.fuzz_ratio, 100.0);
    assert_eq!(same.levenshtein, 1.0);
    let kitten = edit_similarity("kitten", "sitting");
    assert!((kitten.levenshtein - (1.0 - 3.0 / 7.0)).abs() < 1e-12);
    assert_eq!(kitten.fuzz_ratio, 62.0); // 2*4/13 = 61.5 -> 62
    assert_eq!(edit_similarity("", "").fuzz_ratio, 100.0);
    assert_eq!(edit_similarity("abc", "").fuzz_ratio, 0.0);
}

#[test]
fn python_rounding_is_half_to_even() {
    assert_eq!(round_half_even(62.5), 62.0);
    assert_eq!(round_half_even(63.5), 64.0);
    assert_eq!(round_half_even(61.49), 61.0);
}

#[test]
fn identifier_match_follows_crosscodeeval() {
    let got = identifier_match(
        SyntaxLanguage::Python,
        "total = compute(x, 'label')  # note",
        "total = compute(y)",
    );
    // prediction {total, compute, x}, reference {total, compute, y}.
    assert!(!got.exact);
    assert!((got.precision - 2.0 / 3.0).abs() < 1e-12);
    assert!((got.recall - 2.0 / 3.0).abs() < 1e-12);
    assert!((got.f1 - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(
        identifiers(SyntaxLanguage::Python, "if x is None: return True"),
        ["x", "True"]
    );
    let empty = identifier_match(SyntaxLanguage::Java, "", "");
    assert!(empty.exact);
    assert_eq!((empty.precision, empty.recall, empty.f1), (0.0, 0.0, 0.0));
}
