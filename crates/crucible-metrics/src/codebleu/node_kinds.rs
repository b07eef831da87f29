//! Node kind names by kind id, read from the grammar once per scorer instead of once per node.
//!
//! `Node::kind` asks the C library for the name and checks it as UTF-8 (a `strlen` and a scan)
//! on every call; the subtree and data-flow walks ask for every node, several times. The name
//! of a kind id is fixed by the grammar, so a table read once gives the same string.

use crucible_syntax::tree_sitter::{Language, Node};

/// The kind names of one grammar, by kind id.
pub(crate) struct NodeKinds {
    names: Vec<&'static str>,
}

impl NodeKinds {
    pub(crate) fn new(grammar: &Language) -> NodeKinds {
        let names = (0..grammar.node_kind_count())
            .map(|id| {
                u16::try_from(id)
                    .ok()
                    .and_then(|id| grammar.node_kind_for_id(id))
                    .unwrap_or("")
            })
            .collect();
        NodeKinds { names }
    }

    /// `node.kind()`. Ids past the table (the runtime's `ERROR` symbols) ask the node.
    pub(crate) fn of(&self, node: Node<'_>) -> &'static str {
        match self.names.get(usize::from(node.kind_id())) {
            Some(name) => name,
            None => node.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_syntax::{SyntaxLanguage, parse, walk};

    /// The table gives what the node API gives, on every node of a tree of each language,
    /// including the error and missing nodes of a tree that does not parse.
    #[test]
    fn kinds_from_the_table_are_the_nodes_kinds() {
        let samples = [
            (
                SyntaxLanguage::Python,
                "def f(x):\n    return [y for y in x if y] + (\n",
            ),
            (SyntaxLanguage::C, "int f(int x) { return x +; }"),
            (
                SyntaxLanguage::Cpp,
                "template <class T> T f(T x) { return x + 1; }",
            ),
            (
                SyntaxLanguage::Java,
                "class A { int f(int x) { x++; return x; } }",
            ),
            (
                SyntaxLanguage::JavaScript,
                "const f = (x) => { let y = x ?? 1; return `${y}`; }",
            ),
            (
                SyntaxLanguage::Go,
                "package main\nfunc f(x int) int { for i := 0; i < x; i++ {}; return x }\n",
            ),
            (
                SyntaxLanguage::Rust,
                "fn f(x: i32) -> i32 { match x { 0 => 1, _ => x } }",
            ),
            (
                SyntaxLanguage::CSharp,
                "class A { int F(int x) { foreach (var y in z) {} return x; } }",
            ),
            (
                SyntaxLanguage::Php,
                "<?php function f($x) { return $x + 1; } }",
            ),
        ];
        for (language, source) in samples {
            let kinds = NodeKinds::new(&language.grammar());
            let tree = parse(language, source).unwrap();
            let mut checked = 0;
            for node in walk::preorder(tree.root()) {
                assert_eq!(kinds.of(node), node.kind(), "{language}");
                checked += 1;
            }
            assert!(checked > 10, "{language}: {checked}");
        }
    }
}
