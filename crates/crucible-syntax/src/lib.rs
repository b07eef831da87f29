//! Tree-sitter parsing for the languages Crucible reads: one pinned runtime, a language registry, tree walking.
//!
//! [`SyntaxLanguage`] is the registry: for each of Python, C, C++, Java, JavaScript,
//! TypeScript, Go, Rust, C# and PHP its canonical name, aliases, file extensions, tree-sitter
//! grammar, reserved words and comment syntax. An unknown name is an error that lists the
//! supported languages.
//!
//! [`definitions`] knows which node kinds are functions, classes (containers) and types in each
//! language, with their names, bodies and one-line signatures (repository chunking uses them).
//!
//! [`SyntaxParser`] parses source into a [`SyntaxTree`] (the tree with its text). Source that
//! does not parse still yields a tree; tree-sitter recovers with `ERROR`/`MISSING` nodes and
//! [`SyntaxTree::has_errors`] reports it. The [`walk`] helpers traverse trees without recursion
//! (model output can nest deeply) and extract leaves, identifiers and comments.
//!
//! The runtime and every grammar are pinned together (see Cargo.toml): crucible-metrics checks
//! its CodeBLEU against a reference that parses with these grammar versions.
//!
//! ```
//! use crucible_syntax::{SyntaxLanguage, SyntaxParser, walk};
//! let language: SyntaxLanguage = "py".parse()?;
//! let tree = SyntaxParser::new().parse(language, "def add(a, b):\n    return a + b  # sum\n")?;
//! assert!(!tree.has_errors());
//! assert_eq!(walk::identifiers(&tree), ["add", "a", "b", "a", "b"]);
//! assert_eq!(walk::code_lines(&walk::strip_comments(&tree)), ["def add(a, b):", "return a + b"]);
//! # Ok::<(), crucible_syntax::Error>(())
//! ```

#![warn(missing_docs)]

pub mod definitions;
mod language;
mod parse;
pub mod walk;

pub use definitions::{Definition, DefinitionKind};
pub use language::{CommentSyntax, SyntaxLanguage, supported_names};
pub use parse::{SyntaxParser, SyntaxTree, parse};
/// The tree-sitter runtime this crate pins, for callers that walk nodes themselves.
pub use tree_sitter;

/// What can go wrong when choosing a language or parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A language name with no grammar here.
    #[error("no grammar for language `{given}`; supported: {supported}")]
    UnknownLanguage {
        /// The name given.
        given: String,
        /// The supported languages, comma-separated.
        supported: String,
    },
    /// A file extension no language claims.
    #[error("cannot tell the language of `{}` from its extension; supported: {supported}", path.display())]
    UnknownExtension {
        /// The path given.
        path: std::path::PathBuf,
        /// The supported languages, comma-separated.
        supported: String,
    },
    /// The grammar does not fit the runtime (a build with mismatched pins).
    #[error("the `{language}` grammar does not load into the tree-sitter runtime: {detail}")]
    Grammar {
        /// The language.
        language: SyntaxLanguage,
        /// tree-sitter's message.
        detail: String,
    },
    /// tree-sitter gave up without a tree (only on a timeout or cancellation).
    #[error("parsing `{language}` source was aborted")]
    ParseAborted {
        /// The language.
        language: SyntaxLanguage,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
