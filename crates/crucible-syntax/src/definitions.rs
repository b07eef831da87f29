//! Definitions in a tree: which node kinds are functions, classes and types per language, their
//! names, bodies and signatures (for chunking repositories and finding definitions).

use tree_sitter::Node;

use crate::{SyntaxLanguage, SyntaxTree};

/// What a definition node defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefinitionKind {
    /// A function, method or constructor.
    Function,
    /// A definition that holds others: a class, `impl` block, trait, interface with methods,
    /// namespace or module.
    Container,
    /// A type with no methods inside it: a struct, enum, union, type alias or Go type.
    Type,
}

impl DefinitionKind {
    /// A lowercase name for output (`function`, `container`, `type`).
    pub fn name(self) -> &'static str {
        match self {
            DefinitionKind::Function => "function",
            DefinitionKind::Container => "container",
            DefinitionKind::Type => "type",
        }
    }
}

/// One definition found in a tree.
#[derive(Debug, Clone, Copy)]
pub struct Definition<'tree> {
    /// What it defines.
    pub kind: DefinitionKind,
    /// The outermost node of the definition, wrappers included (a Python decorator, a C++
    /// `template <...>`, a JavaScript `export`): the text a reader would copy.
    pub node: Node<'tree>,
    /// The definition node itself, inside any wrapper.
    pub inner: Node<'tree>,
}

/// Node kinds per language. Wrappers are kinds that hold one definition and add to it.
struct Kinds {
    functions: &'static [&'static str],
    containers: &'static [&'static str],
    types: &'static [&'static str],
    wrappers: &'static [&'static str],
}

fn kinds(language: SyntaxLanguage) -> Kinds {
    match language {
        SyntaxLanguage::Python => Kinds {
            functions: &["function_definition"],
            containers: &["class_definition"],
            types: &[],
            wrappers: &["decorated_definition"],
        },
        SyntaxLanguage::C => Kinds {
            functions: &["function_definition"],
            containers: &[],
            types: &["struct_specifier", "union_specifier", "enum_specifier"],
            wrappers: &[],
        },
        SyntaxLanguage::Cpp => Kinds {
            functions: &["function_definition"],
            containers: &[
                "class_specifier",
                "struct_specifier",
                "namespace_definition",
            ],
            types: &["union_specifier", "enum_specifier"],
            wrappers: &["template_declaration"],
        },
        SyntaxLanguage::Java => Kinds {
            functions: &["method_declaration", "constructor_declaration"],
            containers: &[
                "class_declaration",
                "interface_declaration",
                "enum_declaration",
                "record_declaration",
            ],
            types: &["annotation_type_declaration"],
            wrappers: &[],
        },
        SyntaxLanguage::JavaScript => Kinds {
            functions: &[
                "function_declaration",
                "generator_function_declaration",
                "method_definition",
            ],
            containers: &["class_declaration"],
            types: &[],
            wrappers: &["export_statement"],
        },
        SyntaxLanguage::TypeScript => Kinds {
            functions: &[
                "function_declaration",
                "generator_function_declaration",
                "method_definition",
            ],
            containers: &[
                "class_declaration",
                "abstract_class_declaration",
                "internal_module",
            ],
            types: &[
                "interface_declaration",
                "type_alias_declaration",
                "enum_declaration",
            ],
            wrappers: &["export_statement"],
        },
        SyntaxLanguage::Go => Kinds {
            functions: &["function_declaration", "method_declaration"],
            containers: &[],
            types: &["type_declaration"],
            wrappers: &[],
        },
        SyntaxLanguage::Rust => Kinds {
            functions: &["function_item"],
            containers: &["impl_item", "trait_item", "mod_item"],
            types: &[
                "struct_item",
                "enum_item",
                "union_item",
                "type_item",
                "macro_definition",
            ],
            wrappers: &[],
        },
        SyntaxLanguage::CSharp => Kinds {
            functions: &[
                "method_declaration",
                "constructor_declaration",
                "local_function_statement",
            ],
            containers: &[
                "class_declaration",
                "struct_declaration",
                "interface_declaration",
                "record_declaration",
                "namespace_declaration",
            ],
            types: &["enum_declaration", "delegate_declaration"],
            wrappers: &[],
        },
        SyntaxLanguage::Php => Kinds {
            functions: &["function_definition", "method_declaration"],
            containers: &[
                "class_declaration",
                "interface_declaration",
                "trait_declaration",
                "namespace_definition",
            ],
            types: &["enum_declaration"],
            wrappers: &[],
        },
    }
}

impl SyntaxLanguage {
    /// What a node of kind `node_kind` defines in this language, if it is a definition
    /// (wrappers such as decorators are not: see [`definition`]).
    pub fn definition_kind(self, node_kind: &str) -> Option<DefinitionKind> {
        let kinds = kinds(self);
        if kinds.functions.contains(&node_kind) {
            Some(DefinitionKind::Function)
        } else if kinds.containers.contains(&node_kind) {
            Some(DefinitionKind::Container)
        } else if kinds.types.contains(&node_kind) {
            Some(DefinitionKind::Type)
        } else {
            None
        }
    }
}

/// The definition `node` is, looking through wrappers (a decorated Python function, a C++
/// template, an exported JavaScript class); `None` when it is not one.
///
/// A C or C++ `struct` counts only with a body (`struct S { ... }`), not where it is used as a
/// type (`struct S *p;`).
pub fn definition<'tree>(language: SyntaxLanguage, node: Node<'tree>) -> Option<Definition<'tree>> {
    let wrappers = kinds(language).wrappers;
    let mut inner = node;
    // Wrappers nest at most a few deep (`export` of a decorated class); bound the loop anyway.
    for _ in 0..4 {
        if !wrappers.contains(&inner.kind()) {
            break;
        }
        let wrapped = inner
            .child_by_field_name("definition")
            .or_else(|| inner.child_by_field_name("declaration"))
            .or_else(|| last_named_child(inner))?;
        inner = wrapped;
    }
    let kind = language.definition_kind(inner.kind())?;
    let is_bodiless_type_use = matches!(language, SyntaxLanguage::C | SyntaxLanguage::Cpp)
        && inner.kind().ends_with("_specifier")
        && inner.child_by_field_name("body").is_none();
    if is_bodiless_type_use {
        return None;
    }
    Some(Definition { kind, node, inner })
}

/// The node holding a container's members (`body` in every grammar here), if it has one.
pub fn body<'tree>(definition: &Definition<'tree>) -> Option<Node<'tree>> {
    definition.inner.child_by_field_name("body")
}

/// The name a definition introduces, as written (`Foo`, `Foo::bar` for a C++ method defined
/// outside its class; for a Rust `impl`, the type, with `Trait for` before it).
pub fn name<'a>(tree: &'a SyntaxTree, definition: &Definition<'_>) -> Option<&'a str> {
    let inner = definition.inner;
    if inner.kind() == "impl_item" {
        let start = inner
            .child_by_field_name("trait")
            .or_else(|| inner.child_by_field_name("type"))?;
        let end = inner.child_by_field_name("type")?;
        return tree.source().get(start.start_byte()..end.end_byte());
    }
    if let Some(name) = inner.child_by_field_name("name") {
        return Some(tree.text(name));
    }
    if inner.kind() == "type_declaration" {
        // Go: `type ( A int; B string )` names its first spec.
        let mut cursor = inner.walk();
        let spec = inner
            .named_children(&mut cursor)
            .find(|child| child.kind() == "type_spec")?;
        return spec.child_by_field_name("name").map(|name| tree.text(name));
    }
    // C and C++ functions: follow the declarator chain (`*f(int)` -> `f(int)` -> `f`).
    let mut declarator = inner.child_by_field_name("declarator")?;
    for _ in 0..16 {
        match declarator.child_by_field_name("declarator") {
            Some(next) => declarator = next,
            None => return Some(tree.text(declarator)),
        }
    }
    None
}

/// A definition's header on one line: its text up to the body, whitespace collapsed and cut to
/// `max_chars` (`class Stack(Generic[T]):`, `impl<T: Clone> Stack<T>`, `fn push(&mut self, x: T)`).
pub fn signature(tree: &SyntaxTree, definition: &Definition<'_>, max_chars: usize) -> String {
    let start = definition.node.start_byte();
    let end = body(definition)
        .map(|body| body.start_byte())
        .unwrap_or_else(|| {
            let first_line_end = tree.source()[start..]
                .find('\n')
                .map_or(definition.node.end_byte(), |at| start + at);
            first_line_end.min(definition.node.end_byte())
        });
    let text = tree.source().get(start..end).unwrap_or("");
    let mut out = String::with_capacity(text.len().min(max_chars));
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    let out = out.trim_end_matches(['{', ' ']).to_string();
    match out.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &out[..cut]),
        None => out,
    }
}

fn last_named_child(node: Node<'_>) -> Option<Node<'_>> {
    let count = node.named_child_count();
    (count > 0).then(|| node.named_child(count - 1)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, walk};

    /// Every definition of a source, as `kind name | signature`, in preorder.
    fn outline(language: SyntaxLanguage, source: &str) -> Vec<String> {
        let tree = parse(language, source).unwrap();
        assert!(!tree.has_errors(), "{language}: {}", tree.root().to_sexp());
        let mut seen_inner = Vec::new();
        let mut out = Vec::new();
        for node in walk::preorder(tree.root()) {
            let Some(def) = definition(language, node) else {
                continue;
            };
            if seen_inner.contains(&def.inner.id()) {
                continue; // the wrapper was reported already
            }
            seen_inner.push(def.inner.id());
            out.push(format!(
                "{} {} | {}",
                def.kind.name(),
                name(&tree, &def).unwrap_or("?"),
                signature(&tree, &def, 60)
            ));
        }
        out
    }

    #[test]
    fn python_classes_methods_and_decorators() {
        let source = "import os\n\n@dataclass\nclass Stack(Base):\n    \"\"\"A stack.\"\"\"\n    def push(self, x):\n        self.items.append(x)\n\ndef top(s):\n    return s[-1]\n";
        assert_eq!(
            outline(SyntaxLanguage::Python, source),
            [
                "container Stack | @dataclass class Stack(Base):",
                "function push | def push(self, x):",
                "function top | def top(s):",
            ]
        );
    }

    #[test]
    fn c_and_cpp_functions_structs_templates_and_namespaces() {
        let source = "struct point { int x; };\nstruct point *origin(void);\nstatic int *find(int *a, int n) { return a; }\n";
        assert_eq!(
            outline(SyntaxLanguage::C, source),
            [
                "type point | struct point",
                "function find | static int *find(int *a, int n)",
            ]
        );
        let source = "namespace geo {\ntemplate <class T>\nclass Box {\n public:\n  T get() const { return v; }\n  T v;\n};\n}\nint geo::area(int w) { return w; }\n";
        assert_eq!(
            outline(SyntaxLanguage::Cpp, source),
            [
                "container geo | namespace geo",
                "container Box | template <class T> class Box",
                "function get | T get() const",
                "function geo::area | int geo::area(int w)",
            ]
        );
    }

    #[test]
    fn java_javascript_typescript() {
        let source = "class A extends B {\n  A() {}\n  int f(int x) { return x; }\n}\n";
        assert_eq!(
            outline(SyntaxLanguage::Java, source),
            [
                "container A | class A extends B",
                "function A | A()",
                "function f | int f(int x)"
            ]
        );
        let source =
            "export class Cart {\n  total() { return 0; }\n}\nfunction helper(a) { return a; }\n";
        assert_eq!(
            outline(SyntaxLanguage::JavaScript, source),
            [
                "container Cart | export class Cart",
                "function total | total()",
                "function helper | function helper(a)"
            ]
        );
        let source = "interface Shape { area(): number }\nexport abstract class Base {\n  abstract name(): string;\n  describe(): string { return this.name(); }\n}\n";
        assert_eq!(
            outline(SyntaxLanguage::TypeScript, source),
            [
                "type Shape | interface Shape",
                "container Base | export abstract class Base",
                "function describe | describe(): string"
            ]
        );
    }

    #[test]
    fn go_rust_csharp_php() {
        let source = "package p\ntype S struct{ n int }\nfunc (s *S) Get() int { return s.n }\nfunc New() *S { return &S{} }\n";
        assert_eq!(
            outline(SyntaxLanguage::Go, source),
            [
                "type S | type S struct{ n int }",
                "function Get | func (s *S) Get() int",
                "function New | func New() *S"
            ]
        );
        let source = "struct W<T>(T);\nimpl<T: Clone> Clone for W<T> {\n    fn clone(&self) -> Self { W(self.0.clone()) }\n}\nmod m { pub fn f() {} }\n";
        assert_eq!(
            outline(SyntaxLanguage::Rust, source),
            [
                "type W | struct W<T>",
                "container Clone for W<T> | impl<T: Clone> Clone for W<T>",
                "function clone | fn clone(&self) -> Self",
                "container m | mod m",
                "function f | pub fn f()"
            ]
        );
        let source =
            "namespace N {\n  public class C {\n    public int F(int x) { return x; }\n  }\n}\n";
        assert_eq!(
            outline(SyntaxLanguage::CSharp, source),
            [
                "container N | namespace N",
                "container C | public class C",
                "function F | public int F(int x)"
            ]
        );
        let source = "<?php\nclass K {\n  public function run($x) { return $x; }\n}\nfunction g() { return 1; }\n";
        assert_eq!(
            outline(SyntaxLanguage::Php, source),
            [
                "container K | class K",
                "function run | public function run($x)",
                "function g | function g()"
            ]
        );
    }

    #[test]
    fn long_signatures_are_cut() {
        let source = format!("def f({}):\n    pass\n", "a, ".repeat(50) + "b");
        let tree = parse(SyntaxLanguage::Python, &source).unwrap();
        let node = walk::preorder(tree.root())
            .find(|node| node.kind() == "function_definition")
            .unwrap();
        let def = definition(SyntaxLanguage::Python, node).unwrap();
        let signature = signature(&tree, &def, 20);
        assert_eq!(signature, "def f(a, a, a, a, a,...");
    }
}
