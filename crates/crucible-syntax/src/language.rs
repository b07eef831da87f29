//! The language registry: names, aliases, file extensions, grammar, keywords and comment syntax.

use std::path::Path;

use crate::Error;

/// A language crucible-syntax can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyntaxLanguage {
    /// Python 3.
    Python,
    /// C (C11 keywords).
    C,
    /// C++ (C++20 keywords).
    Cpp,
    /// Java.
    Java,
    /// JavaScript (ECMAScript, with JSX).
    JavaScript,
    /// TypeScript (not TSX).
    TypeScript,
    /// Go.
    Go,
    /// Rust.
    Rust,
    /// C#.
    CSharp,
    /// PHP (the full grammar: a file may start in HTML and open `<?php`).
    Php,
}

/// How a language writes comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentSyntax {
    /// Markers that start a comment running to the end of the line (`//`, `#`).
    pub line: &'static [&'static str],
    /// Opening and closing markers of block comments (`/*`, `*/`).
    pub block: &'static [(&'static str, &'static str)],
    /// The grammar's node kinds for comments.
    pub node_kinds: &'static [&'static str],
}

/// One row of the registry.
struct Entry {
    language: SyntaxLanguage,
    name: &'static str,
    aliases: &'static [&'static str],
    extensions: &'static [&'static str],
    keywords: &'static [&'static str],
    comments: CommentSyntax,
}

const C_STYLE: CommentSyntax = CommentSyntax {
    line: &["//"],
    block: &[("/*", "*/")],
    node_kinds: &["comment"],
};

/// The registry, in the order `SyntaxLanguage::ALL` lists languages.
const REGISTRY: [Entry; 10] = [
    Entry {
        language: SyntaxLanguage::Python,
        name: "python",
        aliases: &["py", "python3"],
        extensions: &["py", "pyi"],
        keywords: &[
            "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
            "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
            "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
            "return", "try", "while", "with", "yield",
        ],
        comments: CommentSyntax {
            line: &["#"],
            block: &[],
            node_kinds: &["comment"],
        },
    },
    Entry {
        language: SyntaxLanguage::C,
        name: "c",
        aliases: &[],
        extensions: &["c", "h"],
        keywords: &[
            "_Alignas",
            "_Alignof",
            "_Atomic",
            "_Bool",
            "_Complex",
            "_Generic",
            "_Imaginary",
            "_Noreturn",
            "_Static_assert",
            "_Thread_local",
            "auto",
            "break",
            "case",
            "char",
            "const",
            "continue",
            "default",
            "do",
            "double",
            "else",
            "enum",
            "extern",
            "float",
            "for",
            "goto",
            "if",
            "inline",
            "int",
            "long",
            "register",
            "restrict",
            "return",
            "short",
            "signed",
            "sizeof",
            "static",
            "struct",
            "switch",
            "typedef",
            "union",
            "unsigned",
            "void",
            "volatile",
            "while",
        ],
        comments: C_STYLE,
    },
    Entry {
        language: SyntaxLanguage::Cpp,
        name: "cpp",
        aliases: &["c++", "cxx"],
        extensions: &["cpp", "cc", "cxx", "hpp", "hh", "hxx"],
        keywords: &[
            "alignas",
            "alignof",
            "and",
            "and_eq",
            "asm",
            "auto",
            "bitand",
            "bitor",
            "bool",
            "break",
            "case",
            "catch",
            "char",
            "char16_t",
            "char32_t",
            "char8_t",
            "class",
            "co_await",
            "co_return",
            "co_yield",
            "compl",
            "concept",
            "const",
            "const_cast",
            "consteval",
            "constexpr",
            "constinit",
            "continue",
            "decltype",
            "default",
            "delete",
            "do",
            "double",
            "dynamic_cast",
            "else",
            "enum",
            "explicit",
            "export",
            "extern",
            "false",
            "float",
            "for",
            "friend",
            "goto",
            "if",
            "inline",
            "int",
            "long",
            "mutable",
            "namespace",
            "new",
            "noexcept",
            "not",
            "not_eq",
            "nullptr",
            "operator",
            "or",
            "or_eq",
            "private",
            "protected",
            "public",
            "register",
            "reinterpret_cast",
            "requires",
            "return",
            "short",
            "signed",
            "sizeof",
            "static",
            "static_assert",
            "static_cast",
            "struct",
            "switch",
            "template",
            "this",
            "thread_local",
            "throw",
            "true",
            "try",
            "typedef",
            "typeid",
            "typename",
            "union",
            "unsigned",
            "using",
            "virtual",
            "void",
            "volatile",
            "wchar_t",
            "while",
            "xor",
            "xor_eq",
        ],
        comments: C_STYLE,
    },
    Entry {
        language: SyntaxLanguage::Java,
        name: "java",
        aliases: &[],
        extensions: &["java"],
        keywords: &[
            "abstract",
            "assert",
            "boolean",
            "break",
            "byte",
            "case",
            "catch",
            "char",
            "class",
            "const",
            "continue",
            "default",
            "do",
            "double",
            "else",
            "enum",
            "extends",
            "final",
            "finally",
            "float",
            "for",
            "goto",
            "if",
            "implements",
            "import",
            "instanceof",
            "int",
            "interface",
            "long",
            "native",
            "new",
            "package",
            "private",
            "protected",
            "public",
            "return",
            "short",
            "static",
            "strictfp",
            "super",
            "switch",
            "synchronized",
            "this",
            "throw",
            "throws",
            "transient",
            "try",
            "var",
            "void",
            "volatile",
            "while",
        ],
        comments: C_STYLE,
    },
    Entry {
        language: SyntaxLanguage::JavaScript,
        name: "javascript",
        aliases: &["js", "node"],
        extensions: &["js", "mjs", "cjs", "jsx"],
        keywords: &[
            "await",
            "break",
            "case",
            "catch",
            "class",
            "const",
            "continue",
            "debugger",
            "default",
            "delete",
            "do",
            "else",
            "enum",
            "export",
            "extends",
            "false",
            "finally",
            "for",
            "function",
            "if",
            "implements",
            "import",
            "in",
            "instanceof",
            "interface",
            "let",
            "new",
            "null",
            "package",
            "private",
            "protected",
            "public",
            "return",
            "static",
            "super",
            "switch",
            "this",
            "throw",
            "true",
            "try",
            "typeof",
            "var",
            "void",
            "while",
            "with",
            "yield",
        ],
        comments: C_STYLE,
    },
    Entry {
        language: SyntaxLanguage::TypeScript,
        name: "typescript",
        aliases: &["ts"],
        extensions: &["ts", "mts", "cts"],
        keywords: &[
            "abstract",
            "any",
            "as",
            "asserts",
            "await",
            "bigint",
            "boolean",
            "break",
            "case",
            "catch",
            "class",
            "const",
            "constructor",
            "continue",
            "debugger",
            "declare",
            "default",
            "delete",
            "do",
            "else",
            "enum",
            "export",
            "extends",
            "false",
            "finally",
            "for",
            "from",
            "function",
            "get",
            "if",
            "implements",
            "import",
            "in",
            "infer",
            "instanceof",
            "interface",
            "is",
            "keyof",
            "let",
            "module",
            "namespace",
            "never",
            "new",
            "null",
            "number",
            "object",
            "of",
            "package",
            "private",
            "protected",
            "public",
            "readonly",
            "return",
            "satisfies",
            "set",
            "static",
            "string",
            "super",
            "switch",
            "symbol",
            "this",
            "throw",
            "true",
            "try",
            "type",
            "typeof",
            "undefined",
            "unique",
            "unknown",
            "var",
            "void",
            "while",
            "with",
            "yield",
        ],
        comments: C_STYLE,
    },
    Entry {
        language: SyntaxLanguage::Go,
        name: "go",
        aliases: &["golang"],
        extensions: &["go"],
        keywords: &[
            "break",
            "case",
            "chan",
            "const",
            "continue",
            "default",
            "defer",
            "else",
            "fallthrough",
            "for",
            "func",
            "go",
            "goto",
            "if",
            "import",
            "interface",
            "map",
            "package",
            "range",
            "return",
            "select",
            "struct",
            "switch",
            "type",
            "var",
        ],
        comments: C_STYLE,
    },
    Entry {
        language: SyntaxLanguage::Rust,
        name: "rust",
        aliases: &["rs"],
        extensions: &["rs"],
        keywords: &[
            "Self", "abstract", "as", "async", "await", "become", "box", "break", "const",
            "continue", "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn",
            "for", "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut",
            "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super",
            "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual",
            "where", "while", "yield",
        ],
        comments: CommentSyntax {
            line: &["//"],
            block: &[("/*", "*/")],
            node_kinds: &["line_comment", "block_comment"],
        },
    },
    Entry {
        language: SyntaxLanguage::CSharp,
        name: "csharp",
        aliases: &["c#", "cs", "c_sharp"],
        extensions: &["cs"],
        keywords: &[
            "abstract",
            "as",
            "base",
            "bool",
            "break",
            "byte",
            "case",
            "catch",
            "char",
            "checked",
            "class",
            "const",
            "continue",
            "decimal",
            "default",
            "delegate",
            "do",
            "double",
            "else",
            "enum",
            "event",
            "explicit",
            "extern",
            "false",
            "finally",
            "fixed",
            "float",
            "for",
            "foreach",
            "goto",
            "if",
            "implicit",
            "in",
            "int",
            "interface",
            "internal",
            "is",
            "lock",
            "long",
            "namespace",
            "new",
            "null",
            "object",
            "operator",
            "out",
            "override",
            "params",
            "private",
            "protected",
            "public",
            "readonly",
            "ref",
            "return",
            "sbyte",
            "sealed",
            "short",
            "sizeof",
            "stackalloc",
            "static",
            "string",
            "struct",
            "switch",
            "this",
            "throw",
            "true",
            "try",
            "typeof",
            "uint",
            "ulong",
            "unchecked",
            "unsafe",
            "ushort",
            "using",
            "virtual",
            "void",
            "volatile",
            "while",
        ],
        comments: C_STYLE,
    },
    Entry {
        language: SyntaxLanguage::Php,
        name: "php",
        aliases: &[],
        extensions: &["php"],
        keywords: &[
            "__halt_compiler",
            "abstract",
            "and",
            "array",
            "as",
            "break",
            "callable",
            "case",
            "catch",
            "class",
            "clone",
            "const",
            "continue",
            "declare",
            "default",
            "die",
            "do",
            "echo",
            "else",
            "elseif",
            "empty",
            "enddeclare",
            "endfor",
            "endforeach",
            "endif",
            "endswitch",
            "endwhile",
            "enum",
            "eval",
            "exit",
            "extends",
            "final",
            "finally",
            "fn",
            "for",
            "foreach",
            "function",
            "global",
            "goto",
            "if",
            "implements",
            "include",
            "include_once",
            "instanceof",
            "insteadof",
            "interface",
            "isset",
            "list",
            "match",
            "namespace",
            "new",
            "or",
            "print",
            "private",
            "protected",
            "public",
            "readonly",
            "require",
            "require_once",
            "return",
            "static",
            "switch",
            "throw",
            "trait",
            "try",
            "unset",
            "use",
            "var",
            "while",
            "xor",
            "yield",
        ],
        comments: CommentSyntax {
            line: &["//", "#"],
            block: &[("/*", "*/")],
            node_kinds: &["comment"],
        },
    },
];

impl SyntaxLanguage {
    /// Every language, in the order help texts and errors list them.
    pub const ALL: [SyntaxLanguage; 10] = [
        SyntaxLanguage::Python,
        SyntaxLanguage::C,
        SyntaxLanguage::Cpp,
        SyntaxLanguage::Java,
        SyntaxLanguage::JavaScript,
        SyntaxLanguage::TypeScript,
        SyntaxLanguage::Go,
        SyntaxLanguage::Rust,
        SyntaxLanguage::CSharp,
        SyntaxLanguage::Php,
    ];

    fn entry(self) -> &'static Entry {
        let entry = &REGISTRY[self as usize];
        debug_assert_eq!(entry.language, self, "REGISTRY follows the enum's order");
        entry
    }

    /// The canonical lowercase name (`python`, `cpp`, `csharp`, ...).
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// Other names accepted by [`SyntaxLanguage::from_name`] (`py`, `c++`, `c#`, ...).
    pub fn aliases(self) -> &'static [&'static str] {
        self.entry().aliases
    }

    /// File extensions, without the dot, that [`SyntaxLanguage::from_path`] maps here.
    pub fn extensions(self) -> &'static [&'static str] {
        self.entry().extensions
    }

    /// The reserved words of the language, sorted (byte order).
    ///
    /// Literal words the language reserves (`true`, `null`, Python's `None`) are included where
    /// the language's own keyword list has them.
    pub fn keywords(self) -> &'static [&'static str] {
        self.entry().keywords
    }

    /// Whether `word` is one of [`SyntaxLanguage::keywords`].
    pub fn is_keyword(self, word: &str) -> bool {
        self.keywords().binary_search(&word).is_ok()
    }

    /// How the language writes comments.
    pub fn comments(self) -> CommentSyntax {
        self.entry().comments
    }

    /// The tree-sitter grammar (the pinned version; see the crate's Cargo.toml).
    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            SyntaxLanguage::Python => tree_sitter_python::language(),
            SyntaxLanguage::C => tree_sitter_c::language(),
            SyntaxLanguage::Cpp => tree_sitter_cpp::language(),
            SyntaxLanguage::Java => tree_sitter_java::language(),
            SyntaxLanguage::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            SyntaxLanguage::TypeScript => tree_sitter_typescript::language_typescript(),
            SyntaxLanguage::Go => tree_sitter_go::language(),
            SyntaxLanguage::Rust => tree_sitter_rust::language(),
            SyntaxLanguage::CSharp => tree_sitter_c_sharp::language(),
            SyntaxLanguage::Php => tree_sitter_php::language_php(),
        }
    }

    /// The language called `name` (canonical name or alias, any case).
    ///
    /// An unknown name is an [`Error::UnknownLanguage`] that lists the supported languages.
    pub fn from_name(name: &str) -> Result<SyntaxLanguage, Error> {
        let wanted = name.trim().to_ascii_lowercase();
        SyntaxLanguage::ALL
            .into_iter()
            .find(|language| {
                language.name() == wanted || language.aliases().contains(&wanted.as_str())
            })
            .ok_or_else(|| Error::UnknownLanguage {
                given: name.to_string(),
                supported: supported_names(),
            })
    }

    /// The language of a file, by its extension (any case).
    pub fn from_path(path: &Path) -> Result<SyntaxLanguage, Error> {
        let extension = path
            .extension()
            .and_then(|ext| ext.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        SyntaxLanguage::ALL
            .into_iter()
            .find(|language| language.extensions().contains(&extension.as_str()))
            .ok_or_else(|| Error::UnknownExtension {
                path: path.to_path_buf(),
                supported: supported_names(),
            })
    }
}

impl std::fmt::Display for SyntaxLanguage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SyntaxLanguage {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        SyntaxLanguage::from_name(name)
    }
}

/// The canonical names of every language, comma-separated, for error messages.
pub fn supported_names() -> String {
    SyntaxLanguage::ALL.map(SyntaxLanguage::name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_follows_the_enum_and_keywords_are_sorted() {
        for language in SyntaxLanguage::ALL {
            assert_eq!(REGISTRY[language as usize].language, language);
            let keywords = language.keywords();
            assert!(
                keywords.windows(2).all(|pair| pair[0] < pair[1]),
                "{language}: keywords must be sorted and unique for binary search"
            );
        }
    }

    #[test]
    fn names_aliases_and_extensions_resolve() {
        assert_eq!(
            SyntaxLanguage::from_name("C++").unwrap(),
            SyntaxLanguage::Cpp
        );
        assert_eq!(
            SyntaxLanguage::from_name("c_sharp").unwrap(),
            SyntaxLanguage::CSharp
        );
        assert_eq!(
            SyntaxLanguage::from_name(" Py ").unwrap(),
            SyntaxLanguage::Python
        );
        assert_eq!(
            SyntaxLanguage::from_path(Path::new("src/Main.JAVA")).unwrap(),
            SyntaxLanguage::Java
        );
        for language in SyntaxLanguage::ALL {
            assert_eq!(
                SyntaxLanguage::from_name(language.name()).unwrap(),
                language
            );
        }
    }

    #[test]
    fn unknown_language_lists_the_supported_ones() {
        let err = SyntaxLanguage::from_name("cobol").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no grammar for language `cobol`; supported: python, c, cpp, java, javascript, \
             typescript, go, rust, csharp, php"
        );
        let err = SyntaxLanguage::from_path(Path::new("notes.txt")).unwrap_err();
        assert!(err.to_string().contains("`notes.txt`"), "{err}");
        assert!(err.to_string().contains("supported: python"), "{err}");
    }

    #[test]
    fn every_grammar_loads_into_the_one_runtime() {
        for language in SyntaxLanguage::ALL {
            let mut parser = tree_sitter::Parser::new();
            parser
                .set_language(&language.grammar())
                .unwrap_or_else(|err| panic!("{language}: {err}"));
        }
    }

    #[test]
    fn keyword_lookup() {
        assert!(SyntaxLanguage::Python.is_keyword("lambda"));
        assert!(!SyntaxLanguage::Python.is_keyword("print"));
        assert!(SyntaxLanguage::Go.is_keyword("defer"));
        assert!(!SyntaxLanguage::C.is_keyword("bool"));
    }
}
