//! Walking a tree without recursion: preorder traversal, leaves, identifiers and comments.

use tree_sitter::{Node, TreeCursor};

use crate::SyntaxTree;

/// Every node under (and including) `root`, parents before children, children in source order.
///
/// Iterative, so arbitrarily deep trees (model output can nest thousands of brackets) cannot
/// overflow the stack.
pub fn preorder(root: Node<'_>) -> Preorder<'_> {
    Preorder {
        cursor: root.walk(),
        done: false,
    }
}

/// The iterator of [`preorder`].
pub struct Preorder<'tree> {
    cursor: TreeCursor<'tree>,
    done: bool,
}

impl std::fmt::Debug for Preorder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preorder")
            .field("done", &self.done)
            .finish()
    }
}

impl<'tree> Iterator for Preorder<'tree> {
    type Item = Node<'tree>;

    fn next(&mut self) -> Option<Node<'tree>> {
        if self.done {
            return None;
        }
        let node = self.cursor.node();
        if self.cursor.goto_first_child() {
            return Some(node);
        }
        loop {
            if self.cursor.goto_next_sibling() {
                return Some(node);
            }
            if !self.cursor.goto_parent() {
                self.done = true;
                return Some(node);
            }
        }
    }
}

/// The leaves (nodes without children) under `root`, in source order.
pub fn leaves(root: Node<'_>) -> impl Iterator<Item = Node<'_>> {
    preorder(root).filter(|node| node.child_count() == 0)
}

/// Whether a node kind names an identifier in the grammars of this crate.
///
/// The grammars call them `identifier`, `field_identifier`, `type_identifier`,
/// `property_identifier`, `shorthand_property_identifier`, ... and PHP calls them `name`.
pub fn is_identifier_kind(kind: &str) -> bool {
    kind.ends_with("identifier") || kind == "name"
}

/// The identifiers of a tree, in source order (with repeats), as the text they cover.
pub fn identifiers(tree: &SyntaxTree) -> Vec<&str> {
    leaves(tree.root())
        .filter(|node| node.is_named() && is_identifier_kind(node.kind()))
        .map(|node| tree.text(node))
        .collect()
}

/// The comment nodes of a tree, in source order.
pub fn comments(tree: &SyntaxTree) -> Vec<Node<'_>> {
    let kinds = tree.language().comments().node_kinds;
    preorder(tree.root())
        .filter(|node| kinds.contains(&node.kind()))
        .collect()
}

/// The source with every comment removed; line breaks inside block comments are kept, so
/// the lines of what remains keep their numbers.
pub fn strip_comments(tree: &SyntaxTree) -> String {
    let source = tree.source();
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    for comment in comments(tree) {
        let range = comment.byte_range();
        if range.start < at {
            continue; // nested inside a comment already removed
        }
        out.push_str(&source[at..range.start]);
        let newlines = source[range.clone()].matches('\n').count();
        out.extend(std::iter::repeat_n('\n', newlines));
        at = range.end;
    }
    out.push_str(&source[at..]);
    out
}

/// The non-blank lines of `text`, each trimmed of surrounding whitespace.
pub fn code_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SyntaxLanguage, parse};

    #[test]
    fn preorder_visits_parents_first_and_every_node_once() {
        let tree = parse(SyntaxLanguage::Python, "x = f(a, b)\n").unwrap();
        let kinds: Vec<&str> = preorder(tree.root())
            .filter(|node| node.is_named())
            .map(|node| node.kind())
            .collect();
        assert_eq!(
            kinds,
            [
                "module",
                "expression_statement",
                "assignment",
                "identifier",
                "call",
                "identifier",
                "argument_list",
                "identifier",
                "identifier"
            ]
        );
        let mut count = 0;
        let mut cursor = tree.root().walk();
        let mut stack = vec![tree.root()];
        while let Some(node) = stack.pop() {
            count += 1;
            stack.extend(node.children(&mut cursor));
        }
        assert_eq!(preorder(tree.root()).count(), count);
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let source = format!("x = {}1{}\n", "(".repeat(5000), ")".repeat(5000));
        let tree = parse(SyntaxLanguage::Python, &source).unwrap();
        assert!(preorder(tree.root()).count() > 5000);
    }

    #[test]
    fn identifiers_per_language() {
        let tree = parse(
            SyntaxLanguage::Php,
            "<?php function add($a, $b) { return $a + $b; }",
        )
        .unwrap();
        assert_eq!(identifiers(&tree), ["add", "a", "b", "a", "b"]);
        let tree = parse(
            SyntaxLanguage::Go,
            "package p\nfunc (s *S) Get() int { return s.n }\n",
        )
        .unwrap();
        assert_eq!(identifiers(&tree), ["p", "s", "S", "Get", "int", "s", "n"]);
    }

    #[test]
    fn strip_comments_keeps_lines_and_strings() {
        let source = "int x = 1; // one\n/* a\n b */ int y = 2; char *s = \"// not\";\n";
        let tree = parse(SyntaxLanguage::C, source).unwrap();
        let stripped = strip_comments(&tree);
        assert_eq!(
            stripped,
            "int x = 1; \n\n int y = 2; char *s = \"// not\";\n"
        );
        assert_eq!(
            code_lines(&stripped),
            ["int x = 1;", "int y = 2; char *s = \"// not\";"]
        );
        let tree = parse(SyntaxLanguage::Rust, "let a = 1; /* x */ // y\n").unwrap();
        assert_eq!(strip_comments(&tree).trim_end(), "let a = 1;");
        let tree = parse(SyntaxLanguage::Python, "# c\nx = '#'  # c\n").unwrap();
        assert_eq!(code_lines(&strip_comments(&tree)), ["x = '#'"]);
    }
}
