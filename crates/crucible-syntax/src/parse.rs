//! Parsing: a reusable parser per thread of work and the parsed tree with its source.

use crate::{Error, SyntaxLanguage};

/// A tree-sitter parser that keeps its state between calls; create one per thread and reuse it.
///
/// Switching language is cheap (the grammar tables are static).
pub struct SyntaxParser {
    parser: tree_sitter::Parser,
    current: Option<SyntaxLanguage>,
}

impl std::fmt::Debug for SyntaxParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntaxParser")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl Default for SyntaxParser {
    fn default() -> Self {
        SyntaxParser::new()
    }
}

impl SyntaxParser {
    /// A parser with no language set yet.
    pub fn new() -> SyntaxParser {
        SyntaxParser {
            parser: tree_sitter::Parser::new(),
            current: None,
        }
    }

    /// Parse `source` as `language`.
    ///
    /// Source that does not parse still gives a tree: tree-sitter recovers with `ERROR` and
    /// `MISSING` nodes, and [`SyntaxTree::has_errors`] tells whether it had to.
    pub fn parse(&mut self, language: SyntaxLanguage, source: &str) -> Result<SyntaxTree, Error> {
        if self.current != Some(language) {
            self.parser
                .set_language(&language.grammar())
                .map_err(|err| Error::Grammar {
                    language,
                    detail: err.to_string(),
                })?;
            self.current = Some(language);
        }
        let tree = self
            .parser
            .parse(source, None)
            .ok_or(Error::ParseAborted { language })?;
        Ok(SyntaxTree {
            tree,
            source: source.to_string(),
            language,
        })
    }
}

/// Parse `source` as `language` with a fresh parser (use a [`SyntaxParser`] in loops).
pub fn parse(language: SyntaxLanguage, source: &str) -> Result<SyntaxTree, Error> {
    SyntaxParser::new().parse(language, source)
}

/// A parsed source file: the tree, the text it was parsed from, and the language.
#[derive(Clone)]
pub struct SyntaxTree {
    tree: tree_sitter::Tree,
    source: String,
    language: SyntaxLanguage,
}

impl std::fmt::Debug for SyntaxTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntaxTree")
            .field("language", &self.language)
            .field("root", &self.root().kind())
            .field("bytes", &self.source.len())
            .finish()
    }
}

impl SyntaxTree {
    /// The root node.
    pub fn root(&self) -> tree_sitter::Node<'_> {
        self.tree.root_node()
    }

    /// The source text the tree was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The language it was parsed as.
    pub fn language(&self) -> SyntaxLanguage {
        self.language
    }

    /// The underlying tree-sitter tree.
    pub fn tree(&self) -> &tree_sitter::Tree {
        &self.tree
    }

    /// The text a node covers.
    pub fn text(&self, node: tree_sitter::Node<'_>) -> &str {
        self.source.get(node.byte_range()).unwrap_or("")
    }

    /// Whether tree-sitter had to recover from a syntax error (an `ERROR` or `MISSING` node).
    pub fn has_errors(&self) -> bool {
        self.root().has_error()
    }

    /// The first syntax error's position (0-based row and column in bytes), if any.
    pub fn first_error(&self) -> Option<tree_sitter::Point> {
        if !self.has_errors() {
            return None;
        }
        crate::walk::preorder(self.root())
            .find(|node| node.is_error() || node.is_missing())
            .map(|node| node.start_position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_language() {
        let samples = [
            (SyntaxLanguage::Python, "def f(x):\n    return x + 1\n"),
            (SyntaxLanguage::C, "int f(int x) { return x + 1; }"),
            (
                SyntaxLanguage::Cpp,
                "template <class T> T f(T x) { return x + 1; }",
            ),
            (
                SyntaxLanguage::Java,
                "class A { int f(int x) { return x + 1; } }",
            ),
            (
                SyntaxLanguage::JavaScript,
                "function f(x) { return x + 1; }",
            ),
            (
                SyntaxLanguage::TypeScript,
                "function f(x: number): number { return x + 1; }",
            ),
            (
                SyntaxLanguage::Go,
                "package main\nfunc f(x int) int { return x + 1 }\n",
            ),
            (SyntaxLanguage::Rust, "fn f(x: i32) -> i32 { x + 1 }"),
            (
                SyntaxLanguage::CSharp,
                "class A { int F(int x) { return x + 1; } }",
            ),
            (
                SyntaxLanguage::Php,
                "<?php function f($x) { return $x + 1; }",
            ),
        ];
        let mut parser = SyntaxParser::new();
        for (language, source) in samples {
            let tree = parser.parse(language, source).unwrap();
            assert!(!tree.has_errors(), "{language}: {}", tree.root().to_sexp());
            assert_eq!(tree.language(), language);
            assert_eq!(tree.text(tree.root()).trim_end(), source.trim_end());
        }
    }

    #[test]
    fn broken_code_still_gives_a_tree_with_the_error_located() {
        let tree = parse(SyntaxLanguage::Java, "class A {\n  int f( { return 1 }\n").unwrap();
        assert!(tree.has_errors());
        let at = tree.first_error().expect("an error node");
        assert_eq!(at.row, 1, "{}", tree.root().to_sexp());
        assert!(
            parse(SyntaxLanguage::Python, "")
                .unwrap()
                .first_error()
                .is_none()
        );
    }
}
