//! What a file imports, read from its syntax tree: the names in its import statements
//! (`import`, `from … import`, `use`, `#include`, Go and Java imports), so repository context
//! can bring in the definitions of the symbols a file uses from other files.

use std::collections::BTreeSet;

use crucible_syntax::{SyntaxLanguage, SyntaxParser, walk};

/// Node kinds of import statements, over the grammars crucible-syntax pins.
const IMPORT_KINDS: &[&str] = &[
    // Python
    "import_statement",
    "import_from_statement",
    // Rust
    "use_declaration",
    "extern_crate_declaration",
    // Go, Java (JavaScript and TypeScript share `import_statement`)
    "import_declaration",
    // C, C++
    "preproc_include",
    // C#
    "using_directive",
    // PHP
    "namespace_use_declaration",
];

/// The language of a file by its extension, for [`imported_names`].
pub fn language_of(path: &std::path::Path) -> Result<SyntaxLanguage, crucible_syntax::Error> {
    SyntaxLanguage::from_path(path)
}

/// Most names returned: a file importing more than this gets its first ones.
pub const MAX_IMPORTED_NAMES: usize = 64;

/// The names a file of `language` imports, in source order without repeats: identifiers in
/// its import statements (modules and symbols alike) and the file stems of quoted paths
/// (`#include "util/strings.h"` gives `strings`, `from './parse'` gives `parse`).
///
/// Source that does not parse is read as far as tree-sitter recovers it; a parser failure
/// gives no names.
pub fn imported_names(language: SyntaxLanguage, source: &str) -> Vec<String> {
    let Ok(tree) = SyntaxParser::new().parse(language, source) else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    let statements = walk::preorder(tree.root()).filter(|node| IMPORT_KINDS.contains(&node.kind()));
    for statement in statements {
        for leaf in walk::preorder(statement) {
            let name = if leaf.child_count() == 0
                && leaf.is_named()
                && walk::is_identifier_kind(leaf.kind())
            {
                Some(tree.text(leaf).to_string())
            } else if is_path_literal(leaf.kind()) {
                path_stem(tree.text(leaf))
            } else {
                None
            };
            let Some(name) = name else { continue };
            if name.is_empty() || language.is_keyword(&name) || !seen.insert(name.clone()) {
                continue;
            }
            names.push(name);
            if names.len() == MAX_IMPORTED_NAMES {
                return names;
            }
        }
    }
    names
}

/// An import statement of a file: where it is and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportStatement {
    /// First line, 1-based.
    pub start_line: usize,
    /// Last line, 1-based, inclusive.
    pub end_line: usize,
    /// Its source text.
    pub text: String,
}

/// The import statements of a file of `language`, in source order (the node kinds
/// [`imported_names`] reads), for callers that need more than the names: which module a name
/// comes from, and where the statement is. Source that does not parse gives none.
pub fn import_statements(language: SyntaxLanguage, source: &str) -> Vec<ImportStatement> {
    let Ok(tree) = SyntaxParser::new().parse(language, source) else {
        return Vec::new();
    };
    walk::preorder(tree.root())
        .filter(|node| IMPORT_KINDS.contains(&node.kind()))
        .map(|node| ImportStatement {
            start_line: node.start_position().row + 1,
            end_line: node.end_position().row + 1,
            text: tree.text(node).to_string(),
        })
        .collect()
}

fn is_path_literal(kind: &str) -> bool {
    matches!(
        kind,
        "string_literal" | "system_lib_string" | "interpreted_string_literal" | "string"
    )
}

/// `"util/strings.h"` → `strings`; `'./parse'` → `parse`; `<vector>` → `vector`.
fn path_stem(literal: &str) -> Option<String> {
    let inner = literal.trim_matches(|ch| matches!(ch, '"' | '\'' | '<' | '>' | '`'));
    let last = inner.rsplit('/').next()?;
    let stem = last.split('.').next()?;
    let valid = !stem.is_empty() && stem.chars().all(|ch| ch.is_alphanumeric() || ch == '_');
    valid.then(|| stem.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(language: &str, source: &str) -> Vec<String> {
        imported_names(language.parse().unwrap(), source)
    }

    #[test]
    fn import_statements_have_their_lines_and_text() {
        let source = "import os\nfrom .shapes import (\n    area,\n)\n\ndef f():\n    use_it = 1\n";
        let found = import_statements("python".parse().unwrap(), source);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].start_line, found[0].end_line), (1, 1));
        assert_eq!(found[0].text, "import os");
        assert_eq!((found[1].start_line, found[1].end_line), (2, 4));
        assert!(found[1].text.starts_with("from .shapes import ("));
    }

    #[test]
    fn python_modules_and_symbols() {
        let source = "import os\nfrom geometry.shapes import area, Circle as C\n\ndef f():\n    return area(1)\n";
        assert_eq!(
            names("python", source),
            ["os", "geometry", "shapes", "area", "Circle", "C"]
        );
    }

    #[test]
    fn rust_use_trees() {
        let source = "use crate::util::{parse_line, Token};\nfn main() {}\n";
        assert_eq!(names("rust", source), ["util", "parse_line", "Token"]);
    }

    #[test]
    fn includes_and_js_paths_give_file_stems() {
        assert_eq!(
            names(
                "c",
                "#include <stdio.h>\n#include \"util/strings.h\"\nint main(){}\n"
            ),
            ["stdio", "strings"]
        );
        assert_eq!(
            names("javascript", "import { tokenize } from './lexer.js';\n"),
            ["tokenize", "lexer"]
        );
    }

    #[test]
    fn a_file_without_imports_or_unparsable_gives_none() {
        assert!(names("python", "x = 1\n").is_empty());
        assert_eq!(names("python", "from ((( import\n"), Vec::<String>::new());
    }
}
