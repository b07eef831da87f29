//! Chunking a file: by syntax where crucible-syntax has a grammar (functions, classes and types,
//! each method carrying the signatures of what encloses it), in line windows elsewhere.
//!
//! A container (class, `impl`, namespace) with members is opened: its header and fields become a
//! chunk and its members are chunked in turn, each with the container's signature as context. A
//! function or type of at most [`ChunkParams::max_lines`] lines is one chunk, with the comments
//! and attributes just above it; a longer function is cut into windows that each carry its
//! signature. Lines outside every definition (imports, globals,
//! top-level statements) are windowed. Definitions that tree-sitter could not parse cleanly are
//! windowed as plain lines, so one syntax error costs structure only where it is.

use crucible_syntax::{
    Definition, DefinitionKind, SyntaxLanguage, SyntaxParser, SyntaxTree, definitions,
    tree_sitter::Node,
};

/// Sizes of chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkParams {
    /// Functions and types up to this many lines are one chunk (default 80).
    pub max_lines: usize,
    /// Lines per window for text outside definitions and for long functions (default 40).
    pub window_lines: usize,
    /// Lines shared by consecutive windows (default 10).
    pub window_overlap: usize,
}

impl Default for ChunkParams {
    fn default() -> ChunkParams {
        ChunkParams {
            max_lines: 80,
            window_lines: 40,
            window_overlap: 10,
        }
    }
}

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkKind {
    /// A function or method, whole.
    Function,
    /// A whole class, `impl`, trait or namespace without members (an enum class, an empty
    /// `impl`).
    Container,
    /// A type definition (struct, enum, interface, alias).
    Type,
    /// A window of a function too long for one chunk.
    FunctionPart,
    /// Lines of a parsed file outside any definition (imports, globals, a class's fields).
    Code,
    /// A window of a file without a grammar or that failed to parse.
    Window,
}

impl ChunkKind {
    /// Lowercase name, as stored in the index.
    pub fn name(self) -> &'static str {
        match self {
            ChunkKind::Function => "function",
            ChunkKind::Container => "container",
            ChunkKind::Type => "type",
            ChunkKind::FunctionPart => "function_part",
            ChunkKind::Code => "code",
            ChunkKind::Window => "window",
        }
    }

    /// The kind called `name` (the inverse of [`ChunkKind::name`]).
    pub fn from_name(name: &str) -> Option<ChunkKind> {
        [
            ChunkKind::Function,
            ChunkKind::Container,
            ChunkKind::Type,
            ChunkKind::FunctionPart,
            ChunkKind::Code,
            ChunkKind::Window,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

/// A piece of a file to index and retrieve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// First line, 1-based.
    pub start_line: usize,
    /// Last line, 1-based, inclusive.
    pub end_line: usize,
    /// What it holds.
    pub kind: ChunkKind,
    /// The qualified name of the definition (`Stack.push`, `impl Display for W::fmt`), if any.
    pub symbol: Option<String>,
    /// Signatures of the definitions around it, outermost first (a method's class header).
    pub context: Vec<String>,
    /// The lines, as in the file.
    pub text: String,
}

/// How a file was chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseOutcome {
    /// Parsed without errors; chunked by syntax.
    Parsed,
    /// Parsed with errors; chunked by syntax except where the errors are, which is windowed.
    ParsedWithErrors {
        /// Line (1-based) of the first error.
        first_error_line: usize,
    },
    /// The parser gave up; windowed.
    Failed {
        /// The parser's error.
        error: String,
    },
    /// No grammar for the file's extension; windowed.
    NoGrammar,
}

/// Chunk `text`, the content of the file at `relative`, choosing the grammar by extension.
pub fn chunk_file(
    parser: &mut SyntaxParser,
    relative: &str,
    text: &str,
    params: &ChunkParams,
) -> (Vec<Chunk>, Option<SyntaxLanguage>, ParseOutcome) {
    let Ok(language) = SyntaxLanguage::from_path(std::path::Path::new(relative)) else {
        return (window_file(text, params), None, ParseOutcome::NoGrammar);
    };
    let tree = match parser.parse(language, text) {
        Ok(tree) => tree,
        Err(err) => {
            let outcome = ParseOutcome::Failed {
                error: err.to_string(),
            };
            return (window_file(text, params), Some(language), outcome);
        }
    };
    let outcome = match tree.first_error() {
        Some(at) => ParseOutcome::ParsedWithErrors {
            first_error_line: at.row + 1,
        },
        None => ParseOutcome::Parsed,
    };
    (chunk_tree(&tree, params), Some(language), outcome)
}

/// Windows over every line of `text` (files without a grammar).
pub fn window_file(text: &str, params: &ChunkParams) -> Vec<Chunk> {
    let lines = Lines::new(text);
    let mut out = Vec::new();
    if lines.count() > 0 {
        lines.windows(
            0,
            lines.count() - 1,
            params,
            ChunkKind::Window,
            &Scope::default(),
            &mut out,
        );
    }
    out
}

/// Chunks of a parsed file.
pub fn chunk_tree(tree: &SyntaxTree, params: &ChunkParams) -> Vec<Chunk> {
    let lines = Lines::new(tree.source());
    let mut chunker = Chunker {
        tree,
        lines: &lines,
        params,
        out: Vec::new(),
    };
    if lines.count() > 0 {
        let definitions = outermost_definitions(tree.language(), tree.root());
        chunker.region(definitions, 0, lines.count() - 1, &Scope::default(), 0);
    }
    let mut out = chunker.out;
    out.sort_by_key(|chunk| (chunk.start_line, chunk.end_line));
    out
}

/// Where a chunk sits: the enclosing signatures and qualified name prefix.
#[derive(Debug, Clone, Default)]
struct Scope {
    signatures: Vec<String>,
    names: Vec<String>,
}

impl Scope {
    fn qualify(&self, name: Option<&str>) -> Option<String> {
        let name = name?;
        let mut parts = self.names.clone();
        parts.push(name.to_string());
        Some(parts.join("."))
    }
}

/// Containers nest (a namespace in a namespace in a class); past this depth the rest is windowed.
const MAX_DEPTH: usize = 8;

/// Longest signature kept as context.
const MAX_SIGNATURE_CHARS: usize = 200;

struct Chunker<'a> {
    tree: &'a SyntaxTree,
    lines: &'a Lines<'a>,
    params: &'a ChunkParams,
    out: Vec<Chunk>,
}

impl Chunker<'_> {
    /// Chunk the lines `first..=last` (0-based): the definitions as definitions, the lines
    /// between them as windows of code.
    fn region(
        &mut self,
        definitions: Vec<Definition<'_>>,
        first: usize,
        last: usize,
        scope: &Scope,
        depth: usize,
    ) {
        let mut covered_until = first; // next line not yet given to a chunk
        for def in definitions {
            let (start, end) = self.extent(&def);
            // A definition sharing a line with the previous one (one-liners, a trailing
            // comment) starts after it; one inside it was chunked with it.
            let start = start.max(covered_until);
            if end < start || end > last {
                continue;
            }
            if start > covered_until {
                self.code(covered_until, start - 1, scope);
            }
            self.definition(&def, start, end, scope, depth);
            covered_until = end + 1;
        }
        if covered_until <= last {
            self.code(covered_until, last, scope);
        }
    }

    fn definition(
        &mut self,
        def: &Definition<'_>,
        start: usize,
        end: usize,
        scope: &Scope,
        depth: usize,
    ) {
        let lines = end - start + 1;
        let name = definitions::name(self.tree, def);
        let symbol = scope.qualify(name);
        let broken = def.inner.has_error();
        let members = match def.kind {
            DefinitionKind::Container if depth < MAX_DEPTH => {
                let body = definitions::body(def).unwrap_or(def.inner);
                outermost_definitions(self.tree.language(), body)
            }
            _ => Vec::new(),
        };
        match def.kind {
            DefinitionKind::Container if !members.is_empty() || (broken && depth < MAX_DEPTH) => {
                let mut inner = scope.clone();
                inner
                    .signatures
                    .push(definitions::signature(self.tree, def, MAX_SIGNATURE_CHARS));
                inner.names.push(name.unwrap_or("?").to_string());
                let first_member = members
                    .first()
                    .map_or(end + 1, |member| self.extent(member).0.max(start));
                // The header and fields before the first member belong to the container: they
                // get its name but not its signature (it is in their text).
                let header = Scope {
                    signatures: scope.signatures.clone(),
                    names: inner.names.clone(),
                };
                if first_member > start {
                    self.code(start, first_member - 1, &header);
                }
                self.region(members, first_member, end, &inner, depth + 1);
            }
            _ if broken => self.code(start, end, scope),
            kind if lines > self.params.max_lines => {
                let mut inner = scope.clone();
                inner
                    .signatures
                    .push(definitions::signature(self.tree, def, MAX_SIGNATURE_CHARS));
                inner.names.push(name.unwrap_or("?").to_string());
                let part = match kind {
                    DefinitionKind::Function => ChunkKind::FunctionPart,
                    DefinitionKind::Container | DefinitionKind::Type => ChunkKind::Code,
                };
                let before = self.out.len();
                self.lines
                    .windows(start, end, self.params, part, &inner, &mut self.out);
                for chunk in &mut self.out[before..] {
                    chunk.symbol.clone_from(&symbol);
                }
            }
            kind => {
                let kind = match kind {
                    DefinitionKind::Function => ChunkKind::Function,
                    DefinitionKind::Container => ChunkKind::Container,
                    DefinitionKind::Type => ChunkKind::Type,
                };
                self.out.push(Chunk {
                    start_line: start + 1,
                    end_line: end + 1,
                    kind,
                    symbol,
                    context: scope.signatures.clone(),
                    text: self.lines.text(start, end).to_string(),
                });
            }
        }
    }

    /// Lines outside definitions, windowed.
    fn code(&mut self, first: usize, last: usize, scope: &Scope) {
        let before = self.out.len();
        self.lines.windows(
            first,
            last,
            self.params,
            ChunkKind::Code,
            scope,
            &mut self.out,
        );
        let symbol = (!scope.names.is_empty()).then(|| scope.names.join("."));
        for chunk in &mut self.out[before..] {
            chunk.symbol.clone_from(&symbol);
        }
    }

    /// The lines (0-based, inclusive) of a definition with the comments and attributes directly
    /// above it.
    fn extent(&self, def: &Definition<'_>) -> (usize, usize) {
        let mut start = def.node.start_position().row;
        let end_position = def.node.end_position();
        let end = if end_position.column == 0 && end_position.row > start {
            end_position.row - 1
        } else {
            end_position.row
        };
        let mut sibling = def.node.prev_named_sibling();
        while let Some(node) = sibling {
            let attached = is_attachment(node.kind()) && node.end_position().row + 1 >= start;
            if !attached {
                break;
            }
            start = node.start_position().row;
            sibling = node.prev_named_sibling();
        }
        (start, end.max(start))
    }
}

/// Comments, attributes and decorators that belong to the definition below them.
fn is_attachment(kind: &str) -> bool {
    kind.contains("comment")
        || kind == "attribute_item"
        || kind == "decorator"
        || kind == "attribute_list"
}

/// The definitions under `node` that no other definition under it encloses, in source order.
fn outermost_definitions<'tree>(
    language: SyntaxLanguage,
    node: Node<'tree>,
) -> Vec<Definition<'tree>> {
    let mut out = Vec::new();
    let mut cursor = node.walk();
    let mut stack: Vec<Node<'tree>> = node.named_children(&mut cursor).collect();
    stack.reverse();
    while let Some(next) = stack.pop() {
        if let Some(def) = definitions::definition(language, next) {
            out.push(def);
            continue;
        }
        let mut cursor = next.walk();
        let children: Vec<Node<'tree>> = next.named_children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

/// The lines of a text, by byte offsets.
struct Lines<'a> {
    text: &'a str,
    /// Byte offset of each line's start, plus the text's length at the end.
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        if starts.last() == Some(&text.len()) && !text.is_empty() {
            starts.pop(); // a final newline does not start a line
        }
        starts.push(text.len());
        if text.is_empty() {
            starts = vec![0];
        }
        Lines { text, starts }
    }

    fn count(&self) -> usize {
        self.starts.len() - 1
    }

    /// Lines `first..=last` (0-based), without the final newline.
    fn text(&self, first: usize, last: usize) -> &'a str {
        let from = self.starts[first];
        let to = self.starts[last + 1];
        self.text[from..to].trim_end_matches('\n')
    }

    /// Windows over lines `first..=last`, leaving out windows with no word in them.
    fn windows(
        &self,
        first: usize,
        last: usize,
        params: &ChunkParams,
        kind: ChunkKind,
        scope: &Scope,
        out: &mut Vec<Chunk>,
    ) {
        let size = params.window_lines.max(1);
        let step = size.saturating_sub(params.window_overlap).max(1);
        let mut start = first;
        loop {
            let end = (start + size - 1).min(last);
            let text = self.text(start, end);
            if has_words(text) {
                out.push(Chunk {
                    start_line: start + 1,
                    end_line: end + 1,
                    kind,
                    symbol: None,
                    context: scope.signatures.clone(),
                    text: text.to_string(),
                });
            }
            if end >= last {
                break;
            }
            start += step;
        }
    }
}

/// Whether a text has something to search for: a run of three letters or digits (not only
/// braces, blank lines and `*/`).
fn has_words(text: &str) -> bool {
    let mut run = 0;
    for ch in text.chars() {
        if ch.is_alphanumeric() || ch == '_' {
            run += 1;
            if run >= 3 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ChunkParams {
        ChunkParams {
            max_lines: 6,
            window_lines: 4,
            window_overlap: 1,
        }
    }

    /// Each chunk as `lines kind symbol [context]`.
    fn check(relative: &str, source: &str, params: &ChunkParams) -> Vec<String> {
        let (chunks, _, outcome) = chunk_file(&mut SyntaxParser::new(), relative, source, params);
        assert!(
            matches!(outcome, ParseOutcome::Parsed | ParseOutcome::NoGrammar),
            "{outcome:?}"
        );
        chunks
            .iter()
            .map(|chunk| {
                format!(
                    "{}-{} {} {} [{}]",
                    chunk.start_line,
                    chunk.end_line,
                    chunk.kind.name(),
                    chunk.symbol.as_deref().unwrap_or("-"),
                    chunk.context.join(" / ")
                )
            })
            .collect()
    }

    #[test]
    fn python_small_definitions_are_whole_and_loose_code_is_windowed() {
        let source = "import os\nimport sys\n\n# Adds.\ndef add(a, b):\n    return a + b\n\nclass Stack:\n    def push(self, x):\n        pass\n\nprint(add(1, 2))\n";
        assert_eq!(
            check("m.py", source, &ChunkParams::default()),
            [
                "1-3 code - []",
                "4-6 function add []",
                "8-8 code Stack []",
                "9-10 function Stack.push [class Stack:]",
                "11-12 code - []",
            ]
        );
    }

    #[test]
    fn a_long_class_is_opened_and_methods_carry_its_header() {
        let source = "class Stack(Base):\n    limit = 10\n\n    def push(self, x):\n        self.items.append(x)\n\n    def pop(self):\n        return self.items.pop()\n";
        assert_eq!(
            check("m.py", source, &small()),
            [
                "1-3 code Stack []",
                "4-5 function Stack.push [class Stack(Base):]",
                "7-8 function Stack.pop [class Stack(Base):]",
            ]
        );
    }

    #[test]
    fn a_long_function_is_windowed_with_its_signature() {
        let body: String = (0..8).map(|i| format!("    let x{i} = {i};\n")).collect();
        let source = format!("fn long_one(a: u8) -> u8 {{\n{body}    a.pow(2)\n}}\n");
        assert_eq!(
            check("lib.rs", &source, &small()),
            [
                "1-4 function_part long_one [fn long_one(a: u8) -> u8]",
                "4-7 function_part long_one [fn long_one(a: u8) -> u8]",
                "7-10 function_part long_one [fn long_one(a: u8) -> u8]",
                "10-11 function_part long_one [fn long_one(a: u8) -> u8]",
            ]
        );
    }

    #[test]
    fn rust_impl_methods_doc_comments_and_attributes() {
        let source = "/// A wrapper.\n#[derive(Debug)]\nstruct W(u8);\n\nimpl W {\n    /// Gets.\n    fn get(&self) -> u8 {\n        self.0\n    }\n\n    fn set(&mut self, v: u8) {\n        self.0 = v;\n    }\n}\n";
        assert_eq!(
            check("w.rs", source, &small()),
            [
                "1-3 type W []",
                "5-5 code W []",
                "6-9 function W.get [impl W]",
                "11-13 function W.set [impl W]",
            ]
        );
    }

    #[test]
    fn c_functions_inside_preprocessor_blocks_are_found() {
        let source = "#include <stdio.h>\n#ifdef FAST\nstatic int twice(int x) {\n  return 2 * x;\n}\n#endif\n";
        assert_eq!(
            check("t.c", source, &ChunkParams::default()),
            ["1-2 code - []", "3-5 function twice []", "6-6 code - []"]
        );
    }

    #[test]
    fn every_required_language_yields_function_chunks() {
        let samples = [
            ("a.py", "def f(x):\n    return x\n"),
            ("a.c", "int f(int x) {\n  return x;\n}\n"),
            ("a.cpp", "int f(int x) {\n  return x;\n}\n"),
            ("a.rs", "fn f(x: i32) -> i32 {\n    x\n}\n"),
            (
                "A.java",
                "class A {\n  int f(int x) {\n    return x;\n  }\n}\n",
            ),
            ("a.js", "function f(x) {\n  return x;\n}\n"),
            ("a.ts", "function f(x: number): number {\n  return x;\n}\n"),
            ("a.go", "package p\n\nfunc f(x int) int {\n\treturn x\n}\n"),
        ];
        for (relative, source) in samples {
            let params = ChunkParams {
                max_lines: 3,
                ..ChunkParams::default()
            };
            let chunks = check(relative, source, &params);
            assert!(
                chunks
                    .iter()
                    .any(|chunk| chunk.contains("function f") || chunk.contains("function A.f")),
                "{relative}: {chunks:?}"
            );
        }
    }

    #[test]
    fn unknown_languages_and_broken_code_are_windowed() {
        let text = "line one\nline two\nline three\nline four\nline five\n";
        assert_eq!(
            check("notes.txt", text, &small()),
            ["1-4 window - []", "4-5 window - []"]
        );
        let source = "def good(a):\n    return a\n\ndef bad(:\n    return\n";
        let (chunks, _, outcome) = chunk_file(
            &mut SyntaxParser::new(),
            "b.py",
            source,
            &ChunkParams::default(),
        );
        assert!(
            matches!(outcome, ParseOutcome::ParsedWithErrors { .. }),
            "{outcome:?}"
        );
        let covered: Vec<(usize, usize)> =
            chunks.iter().map(|c| (c.start_line, c.end_line)).collect();
        assert!(!chunks.is_empty());
        assert!(
            chunks.iter().any(|c| c.text.contains("def bad(")),
            "the broken part is still indexed: {covered:?}"
        );
    }

    #[test]
    fn empty_and_blank_files_have_no_chunks() {
        assert!(check("e.py", "", &ChunkParams::default()).is_empty());
        assert!(check("e.txt", "\n\n  \n", &ChunkParams::default()).is_empty());
    }
}
