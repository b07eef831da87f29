//! CodeBLEU's semantic data-flow match: the data-flow graph of each program, normalised and compared.
//!
//! Following the reference (GraphCodeBERT's extractor, as the CodeBLEU reference uses it):
//! 1. The program's tokens are the leaves of its tree (whole string and character literals
//!    count as one token), numbered in order. A token whose text differs from its node kind
//!    (identifiers, literals; not keywords or punctuation) is a "variable".
//! 2. A walk over the tree, with per-language rules for declarations, assignments,
//!    increments, conditionals and loops (loops walked twice), records for each variable
//!    occurrence where its value comes from: `comesFrom` an earlier occurrence or a
//!    declaration's value, `computedFrom` an assignment's right-hand side. C and C++ use the
//!    C# rules, as the reference does. A walk that meets a node a rule needs but the tree
//!    lacks (a declaration without a name, ...) gives the program no data-flow, as in the
//!    reference, where the exception is caught.
//! 3. Only occurrences with a source, or that are a source, are kept; occurrences at the same
//!    token are merged.
//! 4. Variable names are replaced by `var_0`, `var_1`, ... in order of first appearance.
//! 5. The score is the number of the reference's normalised edges found in the candidate's
//!    (each candidate edge used once) over the number of reference edges.
//!
//! Where the reference collects names into a Python `set` and reads them back as a list, the
//! order it gets depends on string hashing, which changes from process to process
//! (`PYTHONHASHSEED`); here such lists are sorted, a fixed order. The two can disagree on a
//! graph whose merged edges carry two or more distinct names.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::ops::Range;

use rustc_hash::FxHashMap as HashMap;

use crucible_syntax::tree_sitter::{Node, TreeCursor};
use crucible_syntax::{SyntaxLanguage, SyntaxTree};

use super::node_kinds::NodeKinds;
use crate::pytext;

/// How deep the walk goes before giving up, as the reference's recursion limit does (Python
/// allows 1000 frames; the walk uses about one per tree level).
const MAX_DEPTH: usize = 900;

/// A token's interned text.
type Sym = u32;

/// A list of numbers (names or token indices) written in the walk's arena. Lists are never
/// changed once written, so states and entries share them instead of copying them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct List {
    start: u32,
    len: u32,
}

impl List {
    const EMPTY: List = List { start: 0, len: 0 };
}

/// Where each variable's value comes from (the token indices of its last definitions, sorted),
/// by name; `None` for a name not defined yet. Indexed by [`Sym`], so the copy a conditional
/// makes of the states is one small vector, not a map of vectors.
#[derive(Debug, Clone)]
struct States(Vec<Option<List>>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Relation {
    ComesFrom,
    ComputedFrom,
}

/// One data-flow entry: variable `name` at token `idx` comes from / is computed from `parents`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Flow {
    name: Sym,
    idx: u32,
    relation: Relation,
    /// Names, in the arena.
    parents: List,
    /// Token indices, in the arena.
    parent_idx: List,
}

/// Why the walk stopped: the reference catches these and uses an empty graph.
#[derive(Debug)]
enum WalkError {
    MissingNode,
    TooDeep,
}

/// Every rule appends its entries to one output vector and sorts what it appended, which is
/// what the reference's `DFG += child_dfg; sorted(DFG, key=token index)` gives.
type Walked = Result<(), WalkError>;

/// The rule set of a language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rules {
    Python,
    Java,
    CSharp,
    Go,
    Php,
    JavaScript,
    Rust,
}

fn rules(language: SyntaxLanguage) -> Option<Rules> {
    Some(match language {
        SyntaxLanguage::Python => Rules::Python,
        SyntaxLanguage::Java => Rules::Java,
        SyntaxLanguage::CSharp | SyntaxLanguage::C | SyntaxLanguage::Cpp => Rules::CSharp,
        SyntaxLanguage::Go => Rules::Go,
        SyntaxLanguage::Php => Rules::Php,
        SyntaxLanguage::JavaScript => Rules::JavaScript,
        SyntaxLanguage::Rust => Rules::Rust,
        SyntaxLanguage::TypeScript => return None,
    })
}

/// A normalised edge: (variable, relation, parents), names replaced by first-appearance numbers.
pub(crate) type NormalEdge = (u32, bool, Vec<u32>);

/// The normalised data-flow edges of a parsed program (empty when the walk fails); `kinds`
/// are the node kinds of the tree's grammar.
pub(crate) fn normalized_edges(tree: &SyntaxTree, kinds: &NodeKinds) -> Vec<NormalEdge> {
    let Some(rules) = rules(tree.language()) else {
        return Vec::new();
    };
    let mut walker = Walker::new(tree, kinds, rules);
    let mut states = States(vec![None; walker.names.texts.len()]);
    let mut flows = Vec::new();
    // A failed walk is an empty graph, as in the reference.
    if walker
        .walk(Some(tree.root()), &mut states, 0, &mut flows)
        .is_err()
    {
        flows.clear();
    }
    let merged = walker.keep_connected(flows);
    walker.normalize(&merged)
}

/// Reference edges found in the candidate, each candidate edge used at most once.
pub(crate) fn count_matches(candidate: &[NormalEdge], reference: &[NormalEdge]) -> usize {
    let mut available: Vec<Option<&NormalEdge>> = candidate.iter().map(Some).collect();
    let mut matched = 0;
    for edge in reference {
        if let Some(slot) = available.iter_mut().find(|slot| **slot == Some(edge)) {
            *slot = None;
            matched += 1;
        }
    }
    matched
}

/// Interned token texts; most borrow the source.
#[derive(Default)]
struct Names<'t> {
    texts: Vec<Cow<'t, str>>,
    ids: HashMap<Cow<'t, str>, Sym>,
}

impl<'t> Names<'t> {
    fn intern(&mut self, text: Cow<'t, str>) -> Sym {
        if let Some(id) = self.ids.get(text.as_ref()) {
            return *id;
        }
        let id = self.texts.len() as Sym;
        self.ids.insert(text.clone(), id);
        self.texts.push(text);
        id
    }
}

fn is_token_node(kinds: &NodeKinds, node: Node<'_>) -> bool {
    let kind = kinds.of(node);
    if node.child_count() == 0 {
        kind != "comment"
    } else {
        matches!(kind, "string_literal" | "string" | "character_literal")
    }
}

/// The text of a token as the reference cuts it: from the source split at `\n`, with the
/// node's byte columns used as code-point indices, and a multi-line token's lines joined
/// without their line breaks.
fn token_text<'s>(lines: &[&'s str], node: Node<'_>) -> Cow<'s, str> {
    let start = node.start_position();
    let end = node.end_position();
    let line = |row: usize| lines.get(row).copied().unwrap_or("");
    if start.row == end.row {
        return Cow::Borrowed(pytext::slice_chars(
            line(start.row),
            start.column,
            Some(end.column),
        ));
    }
    let mut text = pytext::slice_chars(line(start.row), start.column, None).to_string();
    for row in start.row + 1..end.row {
        text.push_str(line(row));
    }
    text.push_str(pytext::slice_chars(line(end.row), 0, Some(end.column)));
    Cow::Owned(text)
}

/// Moves `cursor` to the next node in preorder outside the current node's subtree; false when
/// none is left under the node the cursor was reset to.
fn skip_subtree(cursor: &mut TreeCursor<'_>) -> bool {
    loop {
        if cursor.goto_next_sibling() {
            return true;
        }
        if !cursor.goto_parent() {
            return false;
        }
    }
}

struct Walker<'t> {
    rules: Rules,
    kinds: &'t NodeKinds,
    /// (start byte, end byte) of a token -> (token index, text).
    tokens: HashMap<(usize, usize), (u32, Sym)>,
    n_tokens: usize,
    names: Names<'t>,
    /// Every list the walk writes: entries' parents and sources, the states' sources.
    arena: Vec<u32>,
    /// The children of the nodes being walked, as a stack: a rule pushes a node's children,
    /// walks them (the walk pushes and pops above them) and pops them.
    children: Vec<Node<'t>>,
    /// The variables `variables` found, as a stack of the same kind.
    found: Vec<(u32, Sym)>,
    /// Merges' working space.
    scratch: Vec<u32>,
    cursor: TreeCursor<'t>,
}

impl<'t> Walker<'t> {
    fn new(tree: &'t SyntaxTree, kinds: &'t NodeKinds, rules: Rules) -> Walker<'t> {
        let lines: Vec<&'t str> = tree.source().split('\n').collect();
        let mut names = Names::default();
        let mut tokens = HashMap::default();
        let mut index = 0u32;
        // Tokens in source order: a preorder walk that stops at token nodes.
        let mut cursor = tree.root().walk();
        loop {
            let node = cursor.node();
            if is_token_node(kinds, node) {
                let text = names.intern(token_text(&lines, node));
                tokens.insert((node.start_byte(), node.end_byte()), (index, text));
                index += 1;
            } else if cursor.goto_first_child() {
                continue;
            }
            if !skip_subtree(&mut cursor) {
                break;
            }
        }
        Walker {
            rules,
            kinds,
            tokens,
            n_tokens: index as usize,
            names,
            arena: Vec::new(),
            children: Vec::new(),
            found: Vec::new(),
            scratch: Vec::new(),
            cursor,
        }
    }

    fn kind(&self, node: Node<'_>) -> &'static str {
        self.kinds.of(node)
    }

    fn token(&self, node: Node<'_>) -> (u32, Sym) {
        // Every token node was numbered when the walker was built.
        self.tokens
            .get(&(node.start_byte(), node.end_byte()))
            .copied()
            .unwrap_or((0, 0))
    }

    fn text(&self, sym: Sym) -> &str {
        &self.names.texts[sym as usize]
    }

    fn list(&mut self, items: &[u32]) -> List {
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(items);
        List {
            start,
            len: items.len() as u32,
        }
    }

    fn items(&self, list: List) -> &[u32] {
        &self.arena[list.start as usize..(list.start + list.len) as usize]
    }

    /// Pushes `node`'s children on the children stack; the caller pops them.
    fn push_children(&mut self, node: Node<'t>) -> Range<usize> {
        let start = self.children.len();
        self.cursor.reset(node);
        if self.cursor.goto_first_child() {
            loop {
                self.children.push(self.cursor.node());
                if !self.cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        start..self.children.len()
    }

    /// `tree_to_variable_index`: the tokens under `node` whose text is not their kind, pushed
    /// on the found stack; the caller pops them.
    fn variables(&mut self, node: Option<Node<'t>>) -> Result<Range<usize>, WalkError> {
        let node = node.ok_or(WalkError::MissingNode)?;
        let start = self.found.len();
        self.cursor.reset(node);
        loop {
            let current = self.cursor.node();
            if is_token_node(self.kinds, current) {
                let (idx, sym) = self.token(current);
                if self.kind(current) != self.text(sym) {
                    self.found.push((idx, sym));
                }
            } else if self.cursor.goto_first_child() {
                continue;
            }
            if !skip_subtree(&mut self.cursor) {
                break;
            }
        }
        Ok(start..self.found.len())
    }

    fn walk(
        &mut self,
        node: Option<Node<'t>>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let node = node.ok_or(WalkError::MissingNode)?;
        if depth > MAX_DEPTH {
            return Err(WalkError::TooDeep);
        }
        if is_token_node(self.kinds, node) {
            self.leaf(node, states, out);
            return Ok(());
        }
        let kind = self.kind(node);
        let depth = depth + 1;
        match (self.rules, kind) {
            (Rules::Python, "default_parameter")
            | (Rules::Java | Rules::JavaScript, "variable_declarator")
            | (Rules::Go, "var_spec") => self.declaration(
                node.child_by_field_name("name"),
                node.child_by_field_name("value"),
                states,
                depth,
                out,
            ),
            (Rules::Php, "simple_parameter") => self.declaration(
                node.child_by_field_name("name"),
                node.child_by_field_name("default_value"),
                states,
                depth,
                out,
            ),
            (Rules::CSharp, "variable_declarator") => {
                let name = Some(node.child(0).ok_or(WalkError::MissingNode)?);
                let value = if node.child_count() == 2 {
                    node.child(1)
                } else {
                    None
                };
                self.declaration(name, value, states, depth, out)
            }
            (Rules::Rust, "function_item") => {
                let name = Some(node.child(1).ok_or(WalkError::MissingNode)?);
                let value = if node.child_count() >= 3 {
                    node.child(2)
                } else {
                    None
                };
                self.declaration(name, value, states, depth, out)
            }
            (Rules::Python, "assignment" | "augmented_assignment" | "for_in_clause") => {
                self.python_assignment(node, states, depth, out)
            }
            (
                Rules::Java
                | Rules::CSharp
                | Rules::Go
                | Rules::Php
                | Rules::JavaScript
                | Rules::Rust,
                _,
            ) if self.is_assignment(kind) => self.assignment(node, states, depth, out),
            (Rules::Java | Rules::Php | Rules::JavaScript, "update_expression")
            | (Rules::CSharp, "postfix_unary_expression")
            | (Rules::Go, "inc_statement") => self.increment(node, states, out),
            (Rules::Python, "if_statement") => self.python_if(node, states, depth, out),
            (_, _) if self.is_if(kind) => self.if_statement(node, states, depth, out),
            (Rules::Python, "for_statement") => self.python_for(node, states, depth, out),
            (Rules::Java | Rules::CSharp | Rules::Php | Rules::JavaScript | Rules::Rust, _)
                if self.is_for(kind) =>
            {
                self.for_statement(node, states, depth, out)
            }
            (Rules::Go, "for_statement") => self.go_for(node, states, depth, out),
            (Rules::Java, "enhanced_for_statement") => self.enhanced_for(
                [
                    node.child_by_field_name("name"),
                    node.child_by_field_name("value"),
                    node.child_by_field_name("body"),
                ],
                states,
                depth,
                out,
            ),
            (Rules::CSharp, "for_each_statement") => self.enhanced_for(
                [
                    node.child_by_field_name("left"),
                    node.child_by_field_name("right"),
                    node.child_by_field_name("body"),
                ],
                states,
                depth,
                out,
            ),
            (Rules::Php, "foreach_statement") => {
                let children = self.push_children(node);
                let mut value = None;
                let mut name = None;
                for &child in &self.children[children.clone()] {
                    if self.kind(child) == "variable_name" && value.is_none() {
                        value = Some(child);
                    } else if self.kind(child) == "variable_name" && name.is_none() {
                        name = Some(child);
                        break;
                    }
                }
                self.children.truncate(children.start);
                let body = node.child_by_field_name("body");
                self.enhanced_for([name, value, body], states, depth, out)
            }
            (_, _) if self.is_while(kind) => self.while_statement(node, states, depth, out),
            _ => self.children_in_order(node, states, depth, out),
        }
    }

    fn is_assignment(&self, kind: &str) -> bool {
        match self.rules {
            Rules::Java | Rules::CSharp => kind == "assignment_expression",
            Rules::Go => kind == "assignment_statement",
            Rules::Php => matches!(
                kind,
                "assignment_expression" | "augmented_assignment_expression"
            ),
            Rules::JavaScript => matches!(
                kind,
                "assignment_pattern" | "augmented_assignment_expression"
            ),
            Rules::Rust => matches!(
                kind,
                "assignment_expression" | "compound_assignment_expr" | "let_expression"
            ),
            Rules::Python => false,
        }
    }

    /// The kinds the reference's conditional rule starts at (and, inside it, the kinds that
    /// start the branches walked from the state before the conditional).
    fn if_kinds(&self) -> &'static [&'static str] {
        match self.rules {
            Rules::Python => &["if_statement"],
            Rules::Java | Rules::CSharp | Rules::Go | Rules::JavaScript => {
                &["if_statement", "else"]
            }
            Rules::Php => &["if_statement", "else_clause"],
            Rules::Rust => &[
                "if_expression",
                "if_let_expression",
                "match_expression",
                "else",
            ],
        }
    }

    fn is_if(&self, kind: &str) -> bool {
        self.rules != Rules::Python && self.if_kinds().contains(&kind)
    }

    fn is_for(&self, kind: &str) -> bool {
        match self.rules {
            Rules::Rust => kind == "for_expression",
            _ => kind == "for_statement",
        }
    }

    fn is_while(&self, kind: &str) -> bool {
        match self.rules {
            Rules::Go => false,
            Rules::Rust => matches!(
                kind,
                "while_expression" | "while_let_expression" | "loop_expression"
            ),
            _ => kind == "while_statement",
        }
    }

    /// The token of a leaf: its source if the variable was seen, else a new variable.
    fn leaf(&mut self, node: Node<'t>, states: &mut States, out: &mut Vec<Flow>) {
        let (idx, sym) = self.token(node);
        let kind = self.kind(node);
        if kind == self.text(sym) {
            return;
        }
        if let Some(sources) = states.0[sym as usize] {
            let parents = self.list(&[sym]);
            out.push(Flow {
                name: sym,
                idx,
                relation: Relation::ComesFrom,
                parents,
                parent_idx: sources,
            });
            return;
        }
        if kind == "identifier" {
            states.0[sym as usize] = Some(self.list(&[idx]));
        }
        out.push(Flow {
            name: sym,
            idx,
            relation: Relation::ComesFrom,
            parents: List::EMPTY,
            parent_idx: List::EMPTY,
        });
    }

    fn declaration(
        &mut self,
        name: Option<Node<'t>>,
        value: Option<Node<'t>>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let start = out.len();
        let Some(value) = value else {
            let names = self.variables(name)?;
            for at in names.clone() {
                let (idx, sym) = self.found[at];
                out.push(Flow {
                    name: sym,
                    idx,
                    relation: Relation::ComesFrom,
                    parents: List::EMPTY,
                    parent_idx: List::EMPTY,
                });
                states.0[sym as usize] = Some(self.list(&[idx]));
            }
            self.found.truncate(names.start);
            sort_by_token(&mut out[start..]);
            return Ok(());
        };
        let names = self.variables(name)?;
        let values = self.variables(Some(value))?;
        self.walk(Some(value), states, depth, out)?;
        self.edges(
            names.clone(),
            values.clone(),
            Relation::ComesFrom,
            states,
            out,
        );
        self.found.truncate(names.start);
        sort_by_token(&mut out[start..]);
        Ok(())
    }

    /// An edge from every variable of `values` to every variable of `names` (ranges of
    /// `found`, as `variables` returns them), and each name's state is then its own token.
    fn edges(
        &mut self,
        names: Range<usize>,
        values: Range<usize>,
        relation: Relation,
        states: &mut States,
        out: &mut Vec<Flow>,
    ) {
        for at in names {
            let (idx1, sym1) = self.found[at];
            for value_at in values.clone() {
                let (idx2, sym2) = self.found[value_at];
                let parents = self.list(&[sym2]);
                let parent_idx = self.list(&[idx2]);
                out.push(Flow {
                    name: sym1,
                    idx: idx1,
                    relation,
                    parents,
                    parent_idx,
                });
            }
            states.0[sym1 as usize] = Some(self.list(&[idx1]));
        }
    }

    /// `left = right` where each left variable comes from each right variable, one edge each.
    fn pairwise(
        &mut self,
        left: Option<Node<'t>>,
        right: Option<Node<'t>>,
        states: &mut States,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let names = self.variables(left)?;
        let values = self.variables(right)?;
        self.edges(
            names.clone(),
            values.clone(),
            Relation::ComputedFrom,
            states,
            out,
        );
        self.found.truncate(names.start);
        Ok(())
    }

    fn assignment(
        &mut self,
        node: Node<'t>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let start = out.len();
        let left = node.child_by_field_name("left");
        let right = node.child_by_field_name("right");
        self.walk(right, states, depth, out)?;
        self.pairwise(left, right, states, out)?;
        sort_by_token(&mut out[start..]);
        Ok(())
    }

    fn increment(&mut self, node: Node<'t>, states: &mut States, out: &mut Vec<Flow>) -> Walked {
        let start = out.len();
        let variables = self.variables(Some(node))?;
        self.edges(
            variables.clone(),
            variables.clone(),
            Relation::ComputedFrom,
            states,
            out,
        );
        self.found.truncate(variables.start);
        sort_by_token(&mut out[start..]);
        Ok(())
    }

    /// Left and right sides of a Python assignment (or loop target), split at commas when
    /// both sides have as many parts.
    fn python_sides(
        &mut self,
        left: Option<Node<'t>>,
        right: Option<Node<'t>>,
    ) -> Result<(Vec<Node<'t>>, Vec<Node<'t>>), WalkError> {
        let left = left.ok_or(WalkError::MissingNode)?;
        let right = right.ok_or(WalkError::MissingNode)?;
        let mut parts = |node: Node<'t>| -> Vec<Node<'t>> {
            let children = self.push_children(node);
            self.children
                .drain(children)
                .filter(|child| self.kinds.of(*child) != ",")
                .collect()
        };
        let mut left_nodes = parts(left);
        let mut right_nodes = parts(right);
        if left_nodes.len() != right_nodes.len() {
            left_nodes = vec![left];
            right_nodes = vec![right];
        }
        if left_nodes.is_empty() {
            left_nodes = vec![left];
        }
        if right_nodes.is_empty() {
            right_nodes = vec![right];
        }
        Ok((left_nodes, right_nodes))
    }

    /// Each left variable is computed from all the right side's variables, one edge.
    fn python_bind(
        &mut self,
        left_nodes: &[Node<'t>],
        right_nodes: &[Node<'t>],
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        for &node in right_nodes {
            self.walk(Some(node), states, depth, out)?;
        }
        for (&left, &right) in left_nodes.iter().zip(right_nodes) {
            let values = self.variables(Some(right))?;
            let parents = self.found_list(values.clone(), |(_, sym)| sym);
            let parent_idx = self.found_list(values.clone(), |(idx, _)| idx);
            let names = self.variables(Some(left))?;
            for at in names {
                let (idx1, sym1) = self.found[at];
                out.push(Flow {
                    name: sym1,
                    idx: idx1,
                    relation: Relation::ComputedFrom,
                    parents,
                    parent_idx,
                });
                states.0[sym1 as usize] = Some(self.list(&[idx1]));
            }
            self.found.truncate(values.start);
        }
        Ok(())
    }

    /// One field of the found variables in `range`, as a list.
    fn found_list(&mut self, range: Range<usize>, field: fn((u32, Sym)) -> u32) -> List {
        let start = self.arena.len() as u32;
        self.arena
            .extend(self.found[range.clone()].iter().map(|found| field(*found)));
        List {
            start,
            len: range.len() as u32,
        }
    }

    fn python_assignment(
        &mut self,
        node: Node<'t>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let start = out.len();
        let (left_nodes, right_nodes) = if self.kind(node) == "for_in_clause" {
            let last = node
                .child(node.child_count().wrapping_sub(1))
                .ok_or(WalkError::MissingNode)?;
            let left = node
                .child_by_field_name("left")
                .ok_or(WalkError::MissingNode)?;
            (vec![left], vec![last])
        } else {
            if node.child_by_field_name("right").is_none() {
                return Ok(());
            }
            self.python_sides(
                node.child_by_field_name("left"),
                node.child_by_field_name("right"),
            )?
        };
        self.python_bind(&left_nodes, &right_nodes, states, depth, out)?;
        sort_by_token(&mut out[start..]);
        Ok(())
    }

    fn python_if(
        &mut self,
        node: Node<'t>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let start = out.len();
        let before = states.clone();
        let mut current = states.clone();
        let mut branches = Vec::new();
        let mut has_else = false;
        let children = self.push_children(node);
        for at in children.clone() {
            let child = self.children[at];
            let kind = self.kind(child);
            if kind.contains("else") {
                has_else = true;
            }
            if matches!(kind, "elif_clause" | "else_clause") {
                let mut branch = before.clone();
                self.walk(Some(child), &mut branch, depth, out)?;
                branches.push(branch);
            } else {
                self.walk(Some(child), &mut current, depth, out)?;
            }
        }
        self.children.truncate(children.start);
        branches.push(current);
        if !has_else {
            branches.push(before);
        }
        *states = self.merge_states(&branches, None);
        sort_by_token(&mut out[start..]);
        Ok(())
    }

    fn if_statement(
        &mut self,
        node: Node<'t>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let start = out.len();
        let before = states.clone();
        let mut current = states.clone();
        let mut branches = Vec::new();
        let if_kinds = self.if_kinds();
        let tracks_else = self.rules != Rules::Php;
        let mut has_else = self.kind(node).contains("else");
        let mut in_branches = false;
        let children = self.push_children(node);
        for at in children.clone() {
            let child = self.children[at];
            let kind = self.kind(child);
            if kind.contains("else") {
                has_else = true;
            }
            if !if_kinds.contains(&kind) && !in_branches {
                self.walk(Some(child), &mut current, depth, out)?;
            } else {
                in_branches = true;
                let mut branch = before.clone();
                self.walk(Some(child), &mut branch, depth, out)?;
                branches.push(branch);
            }
        }
        self.children.truncate(children.start);
        branches.push(current);
        if tracks_else && !has_else {
            branches.push(before.clone());
        }
        let adds_before = matches!(self.rules, Rules::Go | Rules::JavaScript | Rules::Php);
        *states = self.merge_states(&branches, adds_before.then_some(&before));
        sort_by_token(&mut out[start..]);
        Ok(())
    }

    fn python_for(
        &mut self,
        node: Node<'t>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let start = out.len();
        for _ in 0..2 {
            let (left_nodes, right_nodes) = self.python_sides(
                node.child_by_field_name("left"),
                node.child_by_field_name("right"),
            )?;
            self.python_bind(&left_nodes, &right_nodes, states, depth, out)?;
            let last = node.child(node.child_count().wrapping_sub(1));
            if let Some(body) = last.filter(|last| self.kind(*last) == "block") {
                self.walk(Some(body), states, depth, out)?;
            }
        }
        self.merge_loop(out, start);
        Ok(())
    }

    fn for_statement(
        &mut self,
        node: Node<'t>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let marker = match self.rules {
            Rules::JavaScript => "variable_declaration",
            Rules::Php => "assignment_expression",
            _ => "local_variable_declaration",
        };
        let start = out.len();
        let children = self.push_children(node);
        for at in children.clone() {
            self.walk(Some(self.children[at]), states, depth, out)?;
        }
        let mut after_marker = false;
        for at in children.clone() {
            let child = self.children[at];
            if after_marker {
                self.walk(Some(child), states, depth, out)?;
            } else if self.kind(child) == marker {
                after_marker = true;
            }
        }
        self.children.truncate(children.start);
        self.merge_loop(out, start);
        Ok(())
    }

    fn go_for(
        &mut self,
        node: Node<'t>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let start = out.len();
        let children = self.push_children(node);
        for at in children.clone() {
            self.walk(Some(self.children[at]), states, depth, out)?;
        }
        let mut after_clause = false;
        for at in children.clone() {
            let child = self.children[at];
            if after_clause {
                self.walk(Some(child), states, depth, out)?;
            } else if self.kind(child) == "for_clause" {
                if let Some(update) = child.child_by_field_name("update") {
                    self.walk(Some(update), states, depth, out)?;
                }
                after_clause = true;
            }
        }
        self.children.truncate(children.start);
        self.merge_loop(out, start);
        Ok(())
    }

    /// `for name in value body`, walked twice: `[name, value, body]`.
    fn enhanced_for(
        &mut self,
        [name, value, body]: [Option<Node<'t>>; 3],
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let start = out.len();
        for _ in 0..2 {
            self.walk(value, states, depth, out)?;
            self.pairwise(name, value, states, out)?;
            self.walk(body, states, depth, out)?;
        }
        self.merge_loop(out, start);
        Ok(())
    }

    fn while_statement(
        &mut self,
        node: Node<'t>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let start = out.len();
        let children = self.push_children(node);
        for _ in 0..2 {
            for at in children.clone() {
                self.walk(Some(self.children[at]), states, depth, out)?;
            }
        }
        self.children.truncate(children.start);
        self.merge_loop(out, start);
        Ok(())
    }

    fn children_in_order(
        &mut self,
        node: Node<'t>,
        states: &mut States,
        depth: usize,
        out: &mut Vec<Flow>,
    ) -> Walked {
        let start = out.len();
        let children = self.push_children(node);
        let python = self.rules == Rules::Python;
        if python {
            for at in children.clone() {
                let child = self.children[at];
                if self.kind(child) == "for_in_clause" {
                    self.walk(Some(child), states, depth, out)?;
                }
            }
        }
        for at in children.clone() {
            let child = self.children[at];
            if !(python && self.kind(child) == "for_in_clause") {
                self.walk(Some(child), states, depth, out)?;
            }
        }
        self.children.truncate(children.start);
        sort_by_token(&mut out[start..]);
        Ok(())
    }

    /// A loop's entries (`out[start..]`) merged by (name, token, relation), in token order.
    fn merge_loop(&mut self, out: &mut Vec<Flow>, start: usize) {
        let mut merged: Vec<Flow> = Vec::with_capacity(out.len() - start);
        let mut slots: HashMap<(Sym, u32, Relation), usize> = HashMap::default();
        for flow in out.drain(start..) {
            match slots.entry((flow.name, flow.idx, flow.relation)) {
                Entry::Vacant(slot) => {
                    slot.insert(merged.len());
                    merged.push(flow);
                }
                Entry::Occupied(slot) => {
                    let existing = merged[*slot.get()];
                    merged[*slot.get()] = Flow {
                        parents: self.union_of_names(existing.parents, flow.parents),
                        parent_idx: self.union_of_indices(existing.parent_idx, flow.parent_idx),
                        ..existing
                    };
                }
            }
        }
        sort_by_token(&mut merged);
        out.extend(merged);
    }

    /// `list(set(a + b))` of names, in a fixed order (by text) instead of Python's hash order.
    fn union_of_names(&mut self, a: List, b: List) -> List {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(self.items(a));
        scratch.extend_from_slice(self.items(b));
        let texts = &self.names.texts;
        scratch.sort_by(|x, y| texts[*x as usize].cmp(&texts[*y as usize]));
        scratch.dedup();
        let list = self.list(&scratch);
        self.scratch = scratch;
        list
    }

    /// `sorted(set(a + b))` of token indices.
    fn union_of_indices(&mut self, a: List, b: List) -> List {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(self.items(a));
        scratch.extend_from_slice(self.items(b));
        scratch.sort_unstable();
        scratch.dedup();
        let list = self.list(&scratch);
        self.scratch = scratch;
        list
    }

    /// The states after a conditional: each variable's sources in any branch (and, for the
    /// rules that add them, before it), sorted and deduplicated. Sources are kept sorted and
    /// deduplicated, so a variable with one list in every branch that has it keeps that list.
    fn merge_states(&mut self, branches: &[States], before: Option<&States>) -> States {
        let n_names = branches.first().map_or(0, |states| states.0.len());
        let mut merged = States(vec![None; n_names]);
        let mut scratch = std::mem::take(&mut self.scratch);
        for sym in 0..n_names {
            let mut lists = branches
                .iter()
                .chain(before)
                .filter_map(|states| states.0[sym]);
            let Some(first) = lists.next() else {
                continue;
            };
            if lists.all(|list| list == first) {
                merged.0[sym] = Some(first);
                continue;
            }
            scratch.clear();
            for states in branches.iter().chain(before) {
                if let Some(list) = states.0[sym] {
                    scratch.extend_from_slice(self.items(list));
                }
            }
            scratch.sort_unstable();
            scratch.dedup();
            merged.0[sym] = Some(self.list(&scratch));
        }
        self.scratch = scratch;
        merged
    }

    /// Keep entries that have a source or are one, then merge entries at the same token.
    fn keep_connected(&mut self, mut flows: Vec<Flow>) -> Vec<Flow> {
        sort_by_token(&mut flows);
        let mut connected = vec![false; self.n_tokens + 1];
        for flow in &flows {
            if flow.parent_idx.len > 0 {
                connected[flow.idx as usize] = true;
            }
            for &idx in self.items(flow.parent_idx) {
                connected[idx as usize] = true;
            }
        }
        let mut slots = vec![usize::MAX; self.n_tokens + 1];
        let mut kept: Vec<Flow> = Vec::new();
        for flow in flows {
            if !connected[flow.idx as usize] {
                continue;
            }
            let slot = &mut slots[flow.idx as usize];
            if *slot == usize::MAX {
                *slot = kept.len();
                kept.push(flow);
                continue;
            }
            let at = *slot;
            let existing = kept[at];
            kept[at] = Flow {
                parents: self.union_of_names(existing.parents, flow.parents),
                parent_idx: self.union_of_indices(existing.parent_idx, flow.parent_idx),
                ..flow
            };
        }
        kept
    }

    /// Replace names by their order of first appearance (parents before the variable).
    fn normalize(&self, flows: &[Flow]) -> Vec<NormalEdge> {
        let mut numbers = vec![u32::MAX; self.names.texts.len()];
        let mut next = 0;
        let mut number = |sym: Sym| {
            let slot = &mut numbers[sym as usize];
            if *slot == u32::MAX {
                *slot = next;
                next += 1;
            }
            *slot
        };
        flows
            .iter()
            .map(|flow| {
                let parents: Vec<u32> = self
                    .items(flow.parents)
                    .iter()
                    .map(|sym| number(*sym))
                    .collect();
                let name = number(flow.name);
                (name, flow.relation == Relation::ComputedFrom, parents)
            })
            .collect()
    }
}

/// Python's `sorted(key=token index)`: stable. Most rules append entries already in token
/// order, so the check comes first (a stable sort would still allocate its buffer).
fn sort_by_token(flows: &mut [Flow]) {
    if !flows.is_sorted_by_key(|flow| flow.idx) {
        flows.sort_by_key(|flow| flow.idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_syntax::parse;

    fn edges(language: SyntaxLanguage, source: &str) -> Vec<NormalEdge> {
        let kinds = NodeKinds::new(&language.grammar());
        normalized_edges(&parse(language, source).unwrap(), &kinds)
    }

    #[test]
    fn python_assignment_chain() {
        let got = edges(
            SyntaxLanguage::Python,
            "def f(a):\n    b = a + 1\n    return b\n",
        );
        // b is computed from a and 1; the later a and b come from their definitions.
        assert!(got.contains(&(2, true, vec![0, 1])), "{got:?}");
        assert!(
            got.iter()
                .any(|(_, computed, parents)| !computed && parents.len() == 1),
            "{got:?}"
        );
    }

    #[test]
    fn renaming_variables_keeps_the_graph() {
        let one = edges(
            SyntaxLanguage::Java,
            "int f(int a) { int b = a * 2; return b; }",
        );
        let two = edges(
            SyntaxLanguage::Java,
            "int g(int x) { int y = x * 2; return y; }",
        );
        assert!(!one.is_empty());
        assert_eq!(one, two);
        assert_eq!(count_matches(&one, &two), one.len());
    }

    #[test]
    fn a_rule_missing_its_node_gives_no_graph() {
        // PHP's foreach rule wants two plain variables; `$k => $v` is a pair, so the
        // reference's walk fails and the program has no data-flow.
        let got = edges(
            SyntaxLanguage::Php,
            "<?php foreach ($xs as $k => $v) { $s = $v; }",
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn deep_nesting_gives_up_instead_of_overflowing() {
        let source = format!("x = {}1{}\n", "(".repeat(3000), ")".repeat(3000));
        assert!(edges(SyntaxLanguage::Python, &source).is_empty());
    }
}
