//! Syntactic mutants of a Python solution, made on its tree-sitter syntax tree, to measure
//! whether its tests catch wrong programs: a wrong boundary returned, swapped comparison,
//! arithmetic and boolean operators, off-by-one integer constants, dropped statements and
//! branches, swapped operands. Only code is mutated (strings and comments are leaves the
//! operators never touch); every mutant re-parses without errors and differs from the solution.
//! Also the trivial program a test suite must reject (every function returns `None`).

use serde::{Deserialize, Serialize};

use crucible_syntax::tree_sitter::Node;
use crucible_syntax::walk::preorder;
use crucible_syntax::{SyntaxLanguage, SyntaxParser};

/// What a mutant changed (one mutation operator each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MutantKind {
    /// `return x` returns a boundary value instead: the empty value of a literal's kind (`[]`,
    /// `""`, `{}`, `0`), the other boolean, else `None`.
    #[serde(alias = "return_constant")]
    ReturnBoundary,
    /// `<` and `<=`, `>` and `>=`, `==` and `!=`, `in` and `not in`, `is` and `is not` swapped.
    #[serde(alias = "flip_comparison")]
    SwapComparison,
    /// `+` and `-` swapped; `*` to `//`, `//` and `/` to `*`, `%` to `//`, `**` to `*` (also
    /// in augmented assignments).
    SwapArithmetic,
    /// `and` and `or` swapped, `not x` to `x`.
    SwapBoolean,
    /// An integer literal `n` became `n + 1`.
    OffByOne,
    /// A statement of a block (an assignment, a call, `break`, `continue`) became `pass`.
    DropStatement,
    /// An `if`/`elif` condition became `False` (its branch never runs), or an `elif`/`else`
    /// clause was removed.
    DropBranch,
    /// `a - b` became `b - a` (also `/`, `//`, `%`) for names and numbers.
    SwapOperands,
}

impl MutantKind {
    /// Every operator, in the order mutants are taken.
    pub const ALL: [MutantKind; 8] = [
        MutantKind::ReturnBoundary,
        MutantKind::SwapComparison,
        MutantKind::SwapArithmetic,
        MutantKind::SwapBoolean,
        MutantKind::OffByOne,
        MutantKind::DropStatement,
        MutantKind::DropBranch,
        MutantKind::SwapOperands,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            MutantKind::ReturnBoundary => "return_boundary",
            MutantKind::SwapComparison => "swap_comparison",
            MutantKind::SwapArithmetic => "swap_arithmetic",
            MutantKind::SwapBoolean => "swap_boolean",
            MutantKind::OffByOne => "off_by_one",
            MutantKind::DropStatement => "drop_statement",
            MutantKind::DropBranch => "drop_branch",
            MutantKind::SwapOperands => "swap_operands",
        }
    }
}

/// One mutant: the whole mutated source and what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutant {
    pub kind: MutantKind,
    /// 1-based line of the change.
    pub line: usize,
    pub source: String,
}

/// An edit: replace `start..end` of the source with `with`.
struct Edit {
    kind: MutantKind,
    start: usize,
    end: usize,
    with: String,
}

fn text<'s>(src: &'s str, node: Node<'_>) -> &'s str {
    &src[node.start_byte()..node.end_byte()]
}

fn edit(kind: MutantKind, node: Node<'_>, with: impl Into<String>) -> Edit {
    Edit {
        kind,
        start: node.start_byte(),
        end: node.end_byte(),
        with: with.into(),
    }
}

/// The operator token of a binary node (its `operator` field, else its middle child).
fn operator_of(node: Node<'_>) -> Option<Node<'_>> {
    node.child_by_field_name("operator")
        .or_else(|| (node.child_count() == 3).then(|| node.child(1)).flatten())
}

fn arithmetic_swap(op: &str) -> Option<&'static str> {
    Some(match op {
        "+" => "-",
        "-" => "+",
        "*" => "//",
        "//" | "/" => "*",
        "%" => "//",
        "**" => "*",
        "+=" => "-=",
        "-=" => "+=",
        "*=" => "//=",
        "//=" | "/=" => "*=",
        "%=" => "//=",
        _ => return None,
    })
}

fn comparison_swap(op: &str) -> Option<&'static str> {
    Some(match op {
        "<" => "<=",
        "<=" => "<",
        ">" => ">=",
        ">=" => ">",
        "==" => "!=",
        "!=" => "==",
        "in" => "not in",
        "not in" => "in",
        "is" => "is not",
        "is not" => "is",
        _ => return None,
    })
}

/// The boundary value `return` gives instead of `expr`.
fn boundary(src: &str, expr: Node<'_>) -> Option<&'static str> {
    Some(match expr.kind() {
        "none" => return None,
        "list" | "list_comprehension" if text(src, expr) != "[]" => "[]",
        "string" | "concatenated_string" if !matches!(text(src, expr), "\"\"" | "''") => "\"\"",
        "dictionary" | "dictionary_comprehension" if text(src, expr) != "{}" => "{}",
        "set" | "set_comprehension" => "set()",
        "tuple" if text(src, expr) != "()" => "()",
        "true" => "False",
        "false" => "True",
        "integer" | "float" if text(src, expr).trim_start_matches(['0', '.']).is_empty() => "None",
        "integer" | "float" => "0",
        _ => "None",
    })
}

/// Every edit the operators make, in source order per operator.
fn edits(src: &str, root: Node<'_>) -> Vec<Edit> {
    let mut out = Vec::new();
    for node in preorder(root) {
        match node.kind() {
            "return_statement" => {
                if let Some(expr) = node.named_child(0)
                    && let Some(with) = boundary(src, expr)
                {
                    out.push(edit(MutantKind::ReturnBoundary, expr, with));
                }
            }
            "comparison_operator" => {
                let mut cursor = node.walk();
                for child in node.children(&mut cursor) {
                    if !child.is_named()
                        && let Some(to) = comparison_swap(child.kind())
                    {
                        out.push(edit(MutantKind::SwapComparison, child, to));
                    }
                }
            }
            "binary_operator" | "augmented_assignment" => {
                if let Some(op) = operator_of(node)
                    && let Some(to) = arithmetic_swap(op.kind())
                {
                    out.push(edit(MutantKind::SwapArithmetic, op, to));
                }
                if node.kind() == "binary_operator"
                    && let (Some(op), Some(left), Some(right)) = (
                        operator_of(node),
                        node.child_by_field_name("left"),
                        node.child_by_field_name("right"),
                    )
                    && matches!(op.kind(), "-" | "/" | "//" | "%")
                    && matches!(left.kind(), "identifier" | "integer")
                    && matches!(right.kind(), "identifier" | "integer")
                    && text(src, left) != text(src, right)
                {
                    let with = format!(
                        "{}{}{}",
                        text(src, right),
                        &src[left.end_byte()..right.start_byte()],
                        text(src, left)
                    );
                    out.push(edit(MutantKind::SwapOperands, node, with));
                }
            }
            "boolean_operator" => {
                if let Some(op) = operator_of(node) {
                    let to = if op.kind() == "and" { "or" } else { "and" };
                    out.push(edit(MutantKind::SwapBoolean, op, to));
                }
            }
            "not_operator" => {
                if let Some(arg) = node.child_by_field_name("argument") {
                    out.push(edit(MutantKind::SwapBoolean, node, text(src, arg)));
                }
            }
            "integer" => {
                if let Ok(n) = text(src, node).parse::<u64>()
                    && let Some(m) = n.checked_add(1)
                {
                    out.push(edit(MutantKind::OffByOne, node, m.to_string()));
                }
            }
            "expression_statement" | "break_statement" | "continue_statement" => {
                let in_block = node.parent().is_some_and(|p| p.kind() == "block");
                let docstring = node.named_child(0).is_some_and(|c| c.kind() == "string");
                if in_block && !docstring {
                    out.push(edit(MutantKind::DropStatement, node, "pass"));
                }
            }
            "if_statement" | "elif_clause" => {
                if let Some(condition) = node.child_by_field_name("condition")
                    && !matches!(condition.kind(), "false")
                {
                    out.push(edit(MutantKind::DropBranch, condition, "False"));
                }
                if node.kind() == "elif_clause" {
                    out.push(edit(MutantKind::DropBranch, node, ""));
                }
            }
            "else_clause" if node.parent().is_some_and(|p| p.kind() == "if_statement") => {
                out.push(edit(MutantKind::DropBranch, node, ""));
            }
            _ => {}
        }
    }
    out
}

fn apply(src: &str, e: &Edit) -> String {
    format!("{}{}{}", &src[..e.start], e.with, &src[e.end..])
}

fn parses_cleanly(parser: &mut SyntaxParser, src: &str) -> bool {
    parser
        .parse(SyntaxLanguage::Python, src)
        .is_ok_and(|tree| !tree.has_errors())
}

/// The mutants of `src`, at most `max`, taken round-robin over the operators so that every
/// operator is represented; deterministic, each one parsing cleanly, none equal to `src` or
/// to another. A source that does not parse gives none.
pub fn mutants(src: &str, max: usize) -> Vec<Mutant> {
    let mut parser = SyntaxParser::new();
    let Ok(tree) = parser.parse(SyntaxLanguage::Python, src) else {
        return Vec::new();
    };
    if tree.has_errors() {
        return Vec::new();
    }
    let mut by_kind: Vec<Vec<Edit>> = MutantKind::ALL.iter().map(|_| Vec::new()).collect();
    for e in edits(src, tree.root()) {
        let slot = MutantKind::ALL
            .iter()
            .position(|k| *k == e.kind)
            .expect("every kind is listed");
        by_kind[slot].push(e);
    }
    let mut next = vec![0usize; by_kind.len()];
    let mut out: Vec<Mutant> = Vec::new();
    while out.len() < max {
        let mut any = false;
        for (slot, list) in by_kind.iter().enumerate() {
            if out.len() >= max {
                break;
            }
            // The next edit of this operator that gives a new, valid program.
            while let Some(e) = list.get(next[slot]) {
                next[slot] += 1;
                let source = apply(src, e);
                if source != src
                    && !out.iter().any(|o| o.source == source)
                    && parses_cleanly(&mut parser, &source)
                {
                    out.push(Mutant {
                        kind: e.kind,
                        line: src[..e.start].matches('\n').count() + 1,
                        source,
                    });
                    any = true;
                    break;
                }
            }
        }
        if !any {
            break;
        }
    }
    out
}

/// The trivial program for `src`: the body of every top-level function (and method) becomes
/// `return None`. Tests this program passes cannot fail on a wrong solution of that kind;
/// `None` when `src` defines no function or does not parse.
pub fn trivial(src: &str) -> Option<String> {
    let mut parser = SyntaxParser::new();
    let tree = parser.parse(SyntaxLanguage::Python, src).ok()?;
    if tree.has_errors() {
        return None;
    }
    let mut bodies: Vec<(usize, usize)> = Vec::new();
    let mut cursor = tree.root().walk();
    let mut defs: Vec<Node<'_>> = Vec::new();
    for child in tree.root().children(&mut cursor) {
        match child.kind() {
            "function_definition" => defs.push(child),
            "decorated_definition" | "class_definition" => {
                for inner in preorder(child) {
                    if inner.kind() == "function_definition" {
                        defs.push(inner);
                    }
                }
            }
            _ => {}
        }
    }
    for def in defs {
        if let Some(body) = def.child_by_field_name("body")
            && !bodies
                .iter()
                .any(|&(s, e)| s <= body.start_byte() && body.end_byte() <= e)
        {
            bodies.push((body.start_byte(), body.end_byte()));
        }
    }
    if bodies.is_empty() {
        return None;
    }
    bodies.sort_unstable();
    let mut out = String::with_capacity(src.len());
    let mut at = 0;
    for (start, end) in bodies {
        out.push_str(&src[at..start]);
        out.push_str("return None");
        at = end;
    }
    out.push_str(&src[at..]);
    parses_cleanly(&mut parser, &out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(src: &str, kind: MutantKind) -> Vec<String> {
        mutants(src, 1000)
            .into_iter()
            .filter(|m| m.kind == kind)
            .map(|m| m.source)
            .collect()
    }

    const SRC: &str = "def f(a, b):\n    \"\"\"Docs: a < b + 1 and x.\"\"\"\n    # a < b here\n    total = 0\n    if a < b and not b == 3:\n        total += a - b\n    elif a in [1, 2]:\n        return [a]\n    else:\n        total = a * 2\n    s = \"x == 1 - 2\"\n    return total\n";

    #[test]
    fn every_mutant_parses_differs_and_leaves_strings_and_comments_alone() {
        let all = mutants(SRC, 1000);
        let kinds: std::collections::BTreeSet<MutantKind> = all.iter().map(|m| m.kind).collect();
        assert_eq!(kinds.len(), MutantKind::ALL.len(), "{all:#?}");
        let mut parser = SyntaxParser::new();
        for m in &all {
            assert_ne!(m.source, SRC);
            assert!(parses_cleanly(&mut parser, &m.source), "{}", m.source);
            assert!(m.source.contains("# a < b here"), "{}", m.source);
            // Dropping the assignment `s = "..."` removes the string with it; no mutant changes it.
            if m.kind != MutantKind::DropStatement {
                assert!(m.source.contains("\"x == 1 - 2\""), "{}", m.source);
            }
            assert!(!m.source.contains("\"x != 1 - 2\"") && !m.source.contains("\"x == 1 + 2\""));
            assert!(m.source.contains("Docs: a < b + 1 and x."), "{}", m.source);
        }
        let unique: std::collections::BTreeSet<&str> =
            all.iter().map(|m| m.source.as_str()).collect();
        assert_eq!(unique.len(), all.len());
    }

    #[test]
    fn return_boundary_returns_the_empty_value_or_none() {
        let got = of(SRC, MutantKind::ReturnBoundary);
        assert!(
            got.iter().any(|s| s.contains("        return []\n")),
            "{got:#?}"
        );
        assert!(
            got.iter().any(|s| s.ends_with("    return None\n")),
            "{got:#?}"
        );
        let lit = of("def g():\n    return 5\n", MutantKind::ReturnBoundary);
        assert_eq!(lit, vec!["def g():\n    return 0\n"]);
        assert!(of("def g():\n    return None\n", MutantKind::ReturnBoundary).is_empty());
    }

    #[test]
    fn swap_comparison_moves_the_boundary() {
        let got = of(SRC, MutantKind::SwapComparison);
        assert!(got.iter().any(|s| s.contains("if a <= b and")), "{got:#?}");
        assert!(got.iter().any(|s| s.contains("not b != 3")), "{got:#?}");
        assert!(
            got.iter().any(|s| s.contains("elif a not in [1, 2]")),
            "{got:#?}"
        );
    }

    #[test]
    fn swap_arithmetic_changes_operators_and_augmented_assignments() {
        let got = of(SRC, MutantKind::SwapArithmetic);
        assert!(got.iter().any(|s| s.contains("total -= a - b")), "{got:#?}");
        assert!(got.iter().any(|s| s.contains("total += a + b")), "{got:#?}");
        assert!(got.iter().any(|s| s.contains("total = a // 2")), "{got:#?}");
    }

    #[test]
    fn swap_boolean_swaps_and_or_and_drops_not() {
        let got = of(SRC, MutantKind::SwapBoolean);
        assert!(
            got.iter().any(|s| s.contains("if a < b or not b == 3:")),
            "{got:#?}"
        );
        assert!(
            got.iter().any(|s| s.contains("if a < b and b == 3:")),
            "{got:#?}"
        );
    }

    #[test]
    fn off_by_one_bumps_integers_but_not_names_or_floats() {
        let got = of(SRC, MutantKind::OffByOne);
        assert!(got.iter().any(|s| s.contains("total = 1\n")), "{got:#?}");
        assert!(got.iter().any(|s| s.contains("a * 3")), "{got:#?}");
        assert!(of("def h(x1):\n    return x1 * 2.5\n", MutantKind::OffByOne).is_empty());
    }

    #[test]
    fn drop_statement_replaces_a_statement_with_pass_but_not_the_docstring() {
        let got = of(SRC, MutantKind::DropStatement);
        assert!(
            got.iter().any(|s| s.contains("    pass\n    if a < b")),
            "{got:#?}"
        );
        assert!(
            got.iter().any(|s| s.contains("        pass\n    elif")),
            "{got:#?}"
        );
        assert!(got.iter().all(|s| s.contains("\"\"\"Docs")), "{got:#?}");
    }

    #[test]
    fn drop_branch_falsifies_conditions_and_removes_clauses() {
        let got = of(SRC, MutantKind::DropBranch);
        assert!(got.iter().any(|s| s.contains("    if False:")), "{got:#?}");
        assert!(got.iter().any(|s| s.contains("elif False:")), "{got:#?}");
        assert!(got.iter().any(|s| !s.contains("elif")), "{got:#?}");
        assert!(got.iter().any(|s| !s.contains("else:")), "{got:#?}");
    }

    #[test]
    fn swap_operands_only_for_non_commutative_operators_on_simple_operands() {
        let got = of(SRC, MutantKind::SwapOperands);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].contains("total += b - a"));
        assert!(of("def p(a, b):\n    return a + b\n", MutantKind::SwapOperands).is_empty());
    }

    #[test]
    fn the_cap_keeps_operators_round_robin_and_is_deterministic() {
        let five = mutants(SRC, 5);
        assert_eq!(five, mutants(SRC, 5));
        let kinds: Vec<MutantKind> = five.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, MutantKind::ALL[..5].to_vec());
        assert!(mutants("def broken(:\n", 10).is_empty());
    }

    #[test]
    fn the_trivial_program_returns_none_from_every_function() {
        let src = "import math\n\ndef f(x):\n    y = x + 1\n    return y\n\nclass C:\n    def m(self):\n        return 3\n";
        let t = trivial(src).unwrap();
        assert_eq!(
            t,
            "import math\n\ndef f(x):\n    return None\n\nclass C:\n    def m(self):\n        return None\n"
        );
        assert_eq!(trivial("x = 1\n"), None);
    }

    #[test]
    fn old_kind_names_still_read() {
        let k: MutantKind = serde_json::from_str("\"flip_comparison\"").unwrap();
        assert_eq!(k, MutantKind::SwapComparison);
        let k: MutantKind = serde_json::from_str("\"return_constant\"").unwrap();
        assert_eq!(k, MutantKind::ReturnBoundary);
        assert_eq!(MutantKind::DropBranch.name(), "drop_branch");
    }
}
