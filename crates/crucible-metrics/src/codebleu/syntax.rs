//! CodeBLEU's syntactic AST match: subtrees of the candidate's tree found in the reference's.
//!
//! A subtree is the S-expression of a node that has children (named nodes and their fields,
//! as tree-sitter prints them), plus the root. Two counts are kept:
//! - the paper's (CodeBLEU, section 3.2, equation 4): candidate subtrees matched with the
//!   reference, each matched at most as often as the reference has it, over the number of
//!   reference subtrees;
//! - the reference implementation's: reference subtrees that occur anywhere in the candidate,
//!   over the number of reference subtrees. It counts a reference subtree repeated k times k
//!   times even when the candidate has it once, so it is never below the paper's count
//!   (CodeXGLUE issue #192 reports the gap; the reference's own comment marks it as a to-do).

use std::collections::HashMap;

use crucible_syntax::SyntaxTree;
use crucible_syntax::tree_sitter::Node;

/// Matched and total subtree counts of one candidate against one reference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SyntaxCounts {
    /// Candidate subtrees matched, clipped by the reference's counts (the paper).
    pub(crate) matched_clipped: usize,
    /// Reference subtrees present in the candidate (the reference implementation).
    pub(crate) matched_present: usize,
    /// Reference subtrees.
    pub(crate) total: usize,
}

impl SyntaxCounts {
    pub(crate) fn add(&mut self, other: SyntaxCounts) {
        self.matched_clipped += other.matched_clipped;
        self.matched_present += other.matched_present;
        self.total += other.total;
    }
}

/// The subtrees of a tree as S-expressions, with how often each occurs.
pub(crate) fn subtrees(tree: &SyntaxTree) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let mut stack: Vec<Node<'_>> = vec![tree.root()];
    let mut cursor = tree.root().walk();
    while let Some(node) = stack.pop() {
        *counts.entry(node.to_sexp()).or_insert(0) += 1;
        for child in node.children(&mut cursor) {
            if child.child_count() > 0 {
                stack.push(child);
            }
        }
    }
    counts
}

/// Compare the subtrees of a candidate and a reference.
pub(crate) fn match_subtrees(
    candidate: &HashMap<String, usize>,
    reference: &HashMap<String, usize>,
) -> SyntaxCounts {
    let mut counts = SyntaxCounts::default();
    for (subtree, &in_reference) in reference {
        counts.total += in_reference;
        if let Some(&in_candidate) = candidate.get(subtree) {
            counts.matched_present += in_reference;
            counts.matched_clipped += in_candidate.min(in_reference);
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_syntax::{SyntaxLanguage, parse};

    fn counts(candidate: &str, reference: &str) -> SyntaxCounts {
        let candidate = subtrees(&parse(SyntaxLanguage::Python, candidate).unwrap());
        let reference = subtrees(&parse(SyntaxLanguage::Python, reference).unwrap());
        match_subtrees(&candidate, &reference)
    }

    #[test]
    fn identical_code_matches_every_subtree() {
        let code = "def f(a, b):\n    return a + b\n";
        let got = counts(code, code);
        assert_eq!(got.matched_clipped, got.total);
        assert_eq!(got.matched_present, got.total);
        assert!(got.total >= 5, "{got:?}");
    }

    #[test]
    fn repeated_reference_subtrees_are_clipped_by_the_paper_rule() {
        // The reference calls g(x) three times, the candidate once.
        let got = counts("y = g(x)\n", "y = g(x)\nz = g(x)\nw = g(x)\n");
        assert!(got.matched_clipped < got.matched_present, "{got:?}");
    }
}
