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

use rustc_hash::FxHashMap as HashMap;

use crucible_syntax::tree_sitter::Node;
use crucible_syntax::{SyntaxLanguage, SyntaxTree};

use crate::pytext;

/// How deep the walk goes before giving up, as the reference's recursion limit does (Python
/// allows 1000 frames; the walk uses about one per tree level).
const MAX_DEPTH: usize = 900;

/// A token's interned text.
type Sym = u32;
type States = HashMap<Sym, Vec<u32>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Relation {
    ComesFrom,
    ComputedFrom,
}

/// One data-flow entry: variable `name` at token `idx` comes from / is computed from `parents`.
#[derive(Debug, Clone, PartialEq)]
struct Flow {
    name: Sym,
    idx: u32,
    relation: Relation,
    parents: Vec<Sym>,
    parent_idx: Vec<u32>,
}

/// Why the walk stopped: the reference catches these and uses an empty graph.
#[derive(Debug)]
enum WalkError {
    MissingNode,
    TooDeep,
}

type Walk = Result<Vec<Flow>, WalkError>;

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

/// The normalised data-flow edges of a parsed program (empty when the walk fails).
pub(crate) fn normalized_edges(tree: &SyntaxTree) -> Vec<NormalEdge> {
    let Some(rules) = rules(tree.language()) else {
        return Vec::new();
    };
    let mut walker = Walker::new(tree, rules);
    // A failed walk is an empty graph, as in the reference.
    let flows = walker
        .walk(Some(tree.root()), &mut States::default(), 0)
        .unwrap_or_default();
    let merged = keep_connected(flows, &walker.names);
    normalize(&merged)
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

/// Interned token texts.
#[derive(Default)]
struct Names {
    texts: Vec<String>,
    ids: HashMap<String, Sym>,
}

impl Names {
    fn intern(&mut self, text: String) -> Sym {
        if let Some(id) = self.ids.get(&text) {
            return *id;
        }
        let id = self.texts.len() as Sym;
        self.ids.insert(text.clone(), id);
        self.texts.push(text);
        id
    }

    /// `list(set(names))`, in a fixed order (by text) instead of Python's hash order.
    fn dedup(&self, mut names: Vec<Sym>) -> Vec<Sym> {
        names.sort_by(|a, b| self.texts[*a as usize].cmp(&self.texts[*b as usize]));
        names.dedup();
        names
    }
}

fn is_token_node(node: Node<'_>) -> bool {
    let kind = node.kind();
    (node.child_count() == 0 || matches!(kind, "string_literal" | "string" | "character_literal"))
        && kind != "comment"
}

/// The text of a token as the reference cuts it: from the source split at `\n`, with the
/// node's byte columns used as code-point indices, and a multi-line token's lines joined
/// without their line breaks.
fn token_text(lines: &[&str], node: Node<'_>) -> String {
    let start = node.start_position();
    let end = node.end_position();
    let line = |row: usize| lines.get(row).copied().unwrap_or("");
    if start.row == end.row {
        return pytext::slice_chars(line(start.row), start.column, Some(end.column)).to_string();
    }
    let mut text = pytext::slice_chars(line(start.row), start.column, None).to_string();
    for row in start.row + 1..end.row {
        text.push_str(line(row));
    }
    text.push_str(pytext::slice_chars(line(end.row), 0, Some(end.column)));
    text
}

struct Walker<'t> {
    rules: Rules,
    /// (start byte, end byte) of a token -> (token index, text).
    tokens: HashMap<(usize, usize), (u32, Sym)>,
    names: Names,
    _tree: std::marker::PhantomData<&'t ()>,
}

impl<'t> Walker<'t> {
    fn new(tree: &'t SyntaxTree, rules: Rules) -> Walker<'t> {
        let lines: Vec<&str> = tree.source().split('\n').collect();
        let mut names = Names::default();
        let mut tokens = HashMap::default();
        let mut index = 0u32;
        // Tokens in source order: a preorder walk that stops at token nodes.
        let mut stack = vec![tree.root()];
        let mut cursor = tree.root().walk();
        while let Some(node) = stack.pop() {
            if is_token_node(node) {
                let text = names.intern(token_text(&lines, node));
                tokens.insert((node.start_byte(), node.end_byte()), (index, text));
                index += 1;
                continue;
            }
            let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
        Walker {
            rules,
            tokens,
            names,
            _tree: std::marker::PhantomData,
        }
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

    /// `tree_to_variable_index`: the tokens under `node` whose text is not their kind.
    fn variables(&self, node: Option<Node<'_>>) -> Result<Vec<(u32, Sym)>, WalkError> {
        let node = node.ok_or(WalkError::MissingNode)?;
        let mut found = Vec::new();
        let mut stack = vec![node];
        let mut cursor = node.walk();
        while let Some(node) = stack.pop() {
            if is_token_node(node) {
                let (idx, sym) = self.token(node);
                if node.kind() != self.text(sym) {
                    found.push((idx, sym));
                }
                continue;
            }
            let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
        Ok(found)
    }

    fn walk(&mut self, node: Option<Node<'_>>, states: &mut States, depth: usize) -> Walk {
        let node = node.ok_or(WalkError::MissingNode)?;
        if depth > MAX_DEPTH {
            return Err(WalkError::TooDeep);
        }
        if is_token_node(node) {
            return Ok(self.leaf(node, states));
        }
        let kind = node.kind();
        let depth = depth + 1;
        match (self.rules, kind) {
            (Rules::Python, "default_parameter")
            | (Rules::Java | Rules::JavaScript, "variable_declarator")
            | (Rules::Go, "var_spec") => self.declaration(
                node.child_by_field_name("name"),
                node.child_by_field_name("value"),
                states,
                depth,
            ),
            (Rules::Php, "simple_parameter") => self.declaration(
                node.child_by_field_name("name"),
                node.child_by_field_name("default_value"),
                states,
                depth,
            ),
            (Rules::CSharp, "variable_declarator") => {
                let name = Some(node.child(0).ok_or(WalkError::MissingNode)?);
                let value = if node.child_count() == 2 {
                    node.child(1)
                } else {
                    None
                };
                self.declaration(name, value, states, depth)
            }
            (Rules::Rust, "function_item") => {
                let name = Some(node.child(1).ok_or(WalkError::MissingNode)?);
                let value = if node.child_count() >= 3 {
                    node.child(2)
                } else {
                    None
                };
                self.declaration(name, value, states, depth)
            }
            (Rules::Python, "assignment" | "augmented_assignment" | "for_in_clause") => {
                self.python_assignment(node, states, depth)
            }
            (
                Rules::Java
                | Rules::CSharp
                | Rules::Go
                | Rules::Php
                | Rules::JavaScript
                | Rules::Rust,
                _,
            ) if self.is_assignment(kind) => self.assignment(node, states, depth),
            (Rules::Java | Rules::Php | Rules::JavaScript, "update_expression")
            | (Rules::CSharp, "postfix_unary_expression")
            | (Rules::Go, "inc_statement") => self.increment(node, states),
            (Rules::Python, "if_statement") => self.python_if(node, states, depth),
            (_, _) if self.is_if(kind) => self.if_statement(node, states, depth),
            (Rules::Python, "for_statement") => self.python_for(node, states, depth),
            (Rules::Java | Rules::CSharp | Rules::Php | Rules::JavaScript | Rules::Rust, _)
                if self.is_for(kind) =>
            {
                self.for_statement(node, states, depth)
            }
            (Rules::Go, "for_statement") => self.go_for(node, states, depth),
            (Rules::Java, "enhanced_for_statement") => self.enhanced_for(
                node.child_by_field_name("name"),
                node.child_by_field_name("value"),
                node.child_by_field_name("body"),
                states,
                depth,
            ),
            (Rules::CSharp, "for_each_statement") => self.enhanced_for(
                node.child_by_field_name("left"),
                node.child_by_field_name("right"),
                node.child_by_field_name("body"),
                states,
                depth,
            ),
            (Rules::Php, "foreach_statement") => {
                let mut cursor = node.walk();
                let mut value = None;
                let mut name = None;
                for child in node.children(&mut cursor) {
                    if child.kind() == "variable_name" && value.is_none() {
                        value = Some(child);
                    } else if child.kind() == "variable_name" && name.is_none() {
                        name = Some(child);
                        break;
                    }
                }
                self.enhanced_for(name, value, node.child_by_field_name("body"), states, depth)
            }
            (_, _) if self.is_while(kind) => self.while_statement(node, states, depth),
            _ => self.children_in_order(node, states, depth),
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
    fn leaf(&self, node: Node<'_>, states: &mut States) -> Vec<Flow> {
        let (idx, sym) = self.token(node);
        if node.kind() == self.text(sym) {
            return Vec::new();
        }
        if let Some(sources) = states.get(&sym) {
            return vec![Flow {
                name: sym,
                idx,
                relation: Relation::ComesFrom,
                parents: vec![sym],
                parent_idx: sources.clone(),
            }];
        }
        if node.kind() == "identifier" {
            states.insert(sym, vec![idx]);
        }
        vec![Flow {
            name: sym,
            idx,
            relation: Relation::ComesFrom,
            parents: Vec::new(),
            parent_idx: Vec::new(),
        }]
    }

    fn declaration(
        &mut self,
        name: Option<Node<'_>>,
        value: Option<Node<'_>>,
        states: &mut States,
        depth: usize,
    ) -> Walk {
        let mut flows = Vec::new();
        let Some(value) = value else {
            for (idx, sym) in self.variables(name)? {
                flows.push(Flow {
                    name: sym,
                    idx,
                    relation: Relation::ComesFrom,
                    parents: Vec::new(),
                    parent_idx: Vec::new(),
                });
                states.insert(sym, vec![idx]);
            }
            sort_by_token(&mut flows);
            return Ok(flows);
        };
        let names = self.variables(name)?;
        let values = self.variables(Some(value))?;
        flows.extend(self.walk(Some(value), states, depth)?);
        for &(idx1, sym1) in &names {
            for &(idx2, sym2) in &values {
                flows.push(Flow {
                    name: sym1,
                    idx: idx1,
                    relation: Relation::ComesFrom,
                    parents: vec![sym2],
                    parent_idx: vec![idx2],
                });
            }
            states.insert(sym1, vec![idx1]);
        }
        sort_by_token(&mut flows);
        Ok(flows)
    }

    /// `left = right` where each left variable comes from each right variable, one edge each.
    fn pairwise(
        &self,
        left: Option<Node<'_>>,
        right: Option<Node<'_>>,
        flows: &mut Vec<Flow>,
        states: &mut States,
    ) -> Result<(), WalkError> {
        let names = self.variables(left)?;
        let values = self.variables(right)?;
        for &(idx1, sym1) in &names {
            for &(idx2, sym2) in &values {
                flows.push(Flow {
                    name: sym1,
                    idx: idx1,
                    relation: Relation::ComputedFrom,
                    parents: vec![sym2],
                    parent_idx: vec![idx2],
                });
            }
            states.insert(sym1, vec![idx1]);
        }
        Ok(())
    }

    fn assignment(&mut self, node: Node<'_>, states: &mut States, depth: usize) -> Walk {
        let left = node.child_by_field_name("left");
        let right = node.child_by_field_name("right");
        let mut flows = self.walk(right, states, depth)?;
        self.pairwise(left, right, &mut flows, states)?;
        sort_by_token(&mut flows);
        Ok(flows)
    }

    fn increment(&self, node: Node<'_>, states: &mut States) -> Walk {
        let mut flows = Vec::new();
        let variables = self.variables(Some(node))?;
        for &(idx1, sym1) in &variables {
            for &(idx2, sym2) in &variables {
                flows.push(Flow {
                    name: sym1,
                    idx: idx1,
                    relation: Relation::ComputedFrom,
                    parents: vec![sym2],
                    parent_idx: vec![idx2],
                });
            }
            states.insert(sym1, vec![idx1]);
        }
        sort_by_token(&mut flows);
        Ok(flows)
    }

    /// Left and right sides of a Python assignment (or loop target), split at commas when
    /// both sides have as many parts.
    fn python_sides<'n>(
        &self,
        left: Option<Node<'n>>,
        right: Option<Node<'n>>,
    ) -> Result<(Vec<Node<'n>>, Vec<Node<'n>>), WalkError> {
        let left = left.ok_or(WalkError::MissingNode)?;
        let right = right.ok_or(WalkError::MissingNode)?;
        let parts = |node: Node<'n>| -> Vec<Node<'n>> {
            let mut cursor = node.walk();
            node.children(&mut cursor)
                .filter(|child| child.kind() != ",")
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
        left_nodes: &[Node<'_>],
        right_nodes: &[Node<'_>],
        states: &mut States,
        depth: usize,
    ) -> Walk {
        let mut flows = Vec::new();
        for &node in right_nodes {
            flows.extend(self.walk(Some(node), states, depth)?);
        }
        for (&left, &right) in left_nodes.iter().zip(right_nodes) {
            let values = self.variables(Some(right))?;
            for (idx1, sym1) in self.variables(Some(left))? {
                flows.push(Flow {
                    name: sym1,
                    idx: idx1,
                    relation: Relation::ComputedFrom,
                    parents: values.iter().map(|(_, sym)| *sym).collect(),
                    parent_idx: values.iter().map(|(idx, _)| *idx).collect(),
                });
                states.insert(sym1, vec![idx1]);
            }
        }
        Ok(flows)
    }

    fn python_assignment(&mut self, node: Node<'_>, states: &mut States, depth: usize) -> Walk {
        let (left_nodes, right_nodes) = if node.kind() == "for_in_clause" {
            let last = node
                .child(node.child_count().wrapping_sub(1))
                .ok_or(WalkError::MissingNode)?;
            let left = node
                .child_by_field_name("left")
                .ok_or(WalkError::MissingNode)?;
            (vec![left], vec![last])
        } else {
            if node.child_by_field_name("right").is_none() {
                return Ok(Vec::new());
            }
            self.python_sides(
                node.child_by_field_name("left"),
                node.child_by_field_name("right"),
            )?
        };
        let mut flows = self.python_bind(&left_nodes, &right_nodes, states, depth)?;
        sort_by_token(&mut flows);
        Ok(flows)
    }

    fn python_if(&mut self, node: Node<'_>, states: &mut States, depth: usize) -> Walk {
        let before = states.clone();
        let mut current = states.clone();
        let mut branches = Vec::new();
        let mut has_else = false;
        let mut flows = Vec::new();
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            if child.kind().contains("else") {
                has_else = true;
            }
            if matches!(child.kind(), "elif_clause" | "else_clause") {
                let mut branch = before.clone();
                flows.extend(self.walk(Some(child), &mut branch, depth)?);
                branches.push(branch);
            } else {
                flows.extend(self.walk(Some(child), &mut current, depth)?);
            }
        }
        branches.push(current);
        if !has_else {
            branches.push(before.clone());
        }
        *states = merge_states(&branches, None);
        sort_by_token(&mut flows);
        Ok(flows)
    }

    fn if_statement(&mut self, node: Node<'_>, states: &mut States, depth: usize) -> Walk {
        let before = states.clone();
        let mut current = states.clone();
        let mut branches = Vec::new();
        let if_kinds = self.if_kinds();
        let tracks_else = self.rules != Rules::Php;
        let mut has_else = node.kind().contains("else");
        let mut in_branches = false;
        let mut flows = Vec::new();
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            if child.kind().contains("else") {
                has_else = true;
            }
            if !if_kinds.contains(&child.kind()) && !in_branches {
                flows.extend(self.walk(Some(child), &mut current, depth)?);
            } else {
                in_branches = true;
                let mut branch = before.clone();
                flows.extend(self.walk(Some(child), &mut branch, depth)?);
                branches.push(branch);
            }
        }
        branches.push(current);
        if tracks_else && !has_else {
            branches.push(before.clone());
        }
        let adds_before = matches!(self.rules, Rules::Go | Rules::JavaScript | Rules::Php);
        *states = merge_states(&branches, adds_before.then_some(&before));
        sort_by_token(&mut flows);
        Ok(flows)
    }

    fn python_for(&mut self, node: Node<'_>, states: &mut States, depth: usize) -> Walk {
        let mut flows = Vec::new();
        for _ in 0..2 {
            let (left_nodes, right_nodes) = self.python_sides(
                node.child_by_field_name("left"),
                node.child_by_field_name("right"),
            )?;
            flows.extend(self.python_bind(&left_nodes, &right_nodes, states, depth)?);
            let last = node.child(node.child_count().wrapping_sub(1));
            if let Some(body) = last.filter(|last| last.kind() == "block") {
                flows.extend(self.walk(Some(body), states, depth)?);
            }
        }
        Ok(self.merge_loop(flows))
    }

    fn for_statement(&mut self, node: Node<'_>, states: &mut States, depth: usize) -> Walk {
        let marker = match self.rules {
            Rules::JavaScript => "variable_declaration",
            Rules::Php => "assignment_expression",
            _ => "local_variable_declaration",
        };
        let children: Vec<Node<'_>> = {
            let mut cursor = node.walk();
            node.children(&mut cursor).collect()
        };
        let mut flows = Vec::new();
        for &child in &children {
            flows.extend(self.walk(Some(child), states, depth)?);
        }
        let mut after_marker = false;
        for &child in &children {
            if after_marker {
                flows.extend(self.walk(Some(child), states, depth)?);
            } else if child.kind() == marker {
                after_marker = true;
            }
        }
        Ok(self.merge_loop(flows))
    }

    fn go_for(&mut self, node: Node<'_>, states: &mut States, depth: usize) -> Walk {
        let children: Vec<Node<'_>> = {
            let mut cursor = node.walk();
            node.children(&mut cursor).collect()
        };
        let mut flows = Vec::new();
        for &child in &children {
            flows.extend(self.walk(Some(child), states, depth)?);
        }
        let mut after_clause = false;
        for &child in &children {
            if after_clause {
                flows.extend(self.walk(Some(child), states, depth)?);
            } else if child.kind() == "for_clause" {
                if let Some(update) = child.child_by_field_name("update") {
                    flows.extend(self.walk(Some(update), states, depth)?);
                }
                after_clause = true;
            }
        }
        Ok(self.merge_loop(flows))
    }

    fn enhanced_for(
        &mut self,
        name: Option<Node<'_>>,
        value: Option<Node<'_>>,
        body: Option<Node<'_>>,
        states: &mut States,
        depth: usize,
    ) -> Walk {
        let mut flows = Vec::new();
        for _ in 0..2 {
            flows.extend(self.walk(value, states, depth)?);
            self.pairwise(name, value, &mut flows, states)?;
            flows.extend(self.walk(body, states, depth)?);
        }
        Ok(self.merge_loop(flows))
    }

    fn while_statement(&mut self, node: Node<'_>, states: &mut States, depth: usize) -> Walk {
        let children: Vec<Node<'_>> = {
            let mut cursor = node.walk();
            node.children(&mut cursor).collect()
        };
        let mut flows = Vec::new();
        for _ in 0..2 {
            for &child in &children {
                flows.extend(self.walk(Some(child), states, depth)?);
            }
        }
        Ok(self.merge_loop(flows))
    }

    fn children_in_order(&mut self, node: Node<'_>, states: &mut States, depth: usize) -> Walk {
        let children: Vec<Node<'_>> = {
            let mut cursor = node.walk();
            node.children(&mut cursor).collect()
        };
        let python = self.rules == Rules::Python;
        let do_first = |child: &Node<'_>| python && child.kind() == "for_in_clause";
        let mut flows = Vec::new();
        for child in children.iter().filter(|child| do_first(child)) {
            flows.extend(self.walk(Some(*child), states, depth)?);
        }
        for child in children.iter().filter(|child| !do_first(child)) {
            flows.extend(self.walk(Some(*child), states, depth)?);
        }
        sort_by_token(&mut flows);
        Ok(flows)
    }

    /// A loop's entries merged by (name, token, relation), in token order.
    fn merge_loop(&self, flows: Vec<Flow>) -> Vec<Flow> {
        type Key = (Sym, u32, Relation);
        let mut order: Vec<Key> = Vec::new();
        let mut merged: HashMap<Key, (Vec<Sym>, Vec<u32>)> = HashMap::default();
        for flow in flows {
            let key = (flow.name, flow.idx, flow.relation);
            match merged.get_mut(&key) {
                None => {
                    order.push(key);
                    merged.insert(key, (flow.parents, flow.parent_idx));
                }
                Some((parents, parent_idx)) => {
                    parents.extend(flow.parents);
                    *parents = self.names.dedup(std::mem::take(parents));
                    parent_idx.extend(flow.parent_idx);
                    parent_idx.sort_unstable();
                    parent_idx.dedup();
                }
            }
        }
        let mut out: Vec<Flow> = order
            .into_iter()
            .map(|key| {
                let (parents, parent_idx) = merged.remove(&key).unwrap_or_default();
                Flow {
                    name: key.0,
                    idx: key.1,
                    relation: key.2,
                    parents,
                    parent_idx,
                }
            })
            .collect();
        sort_by_token(&mut out);
        out
    }
}

/// The states after a conditional: each variable's sources in any branch (and, for the
/// rules that add them, before it), sorted and deduplicated.
fn merge_states(branches: &[States], before: Option<&States>) -> States {
    let mut merged = States::default();
    for branch in branches.iter().chain(before) {
        for (name, sources) in branch {
            merged.entry(*name).or_default().extend(sources);
        }
    }
    for sources in merged.values_mut() {
        sources.sort_unstable();
        sources.dedup();
    }
    merged
}

/// Python's `sorted(key=token index)`: stable.
fn sort_by_token(flows: &mut [Flow]) {
    flows.sort_by_key(|flow| flow.idx);
}

/// Keep entries that have a source or are one, then merge entries at the same token.
fn keep_connected(mut flows: Vec<Flow>, names: &Names) -> Vec<Flow> {
    sort_by_token(&mut flows);
    let mut connected = rustc_hash::FxHashSet::default();
    for flow in &flows {
        if !flow.parent_idx.is_empty() {
            connected.insert(flow.idx);
        }
        connected.extend(flow.parent_idx.iter().copied());
    }
    let mut order: Vec<u32> = Vec::new();
    let mut by_token: HashMap<u32, Flow> = HashMap::default();
    for flow in flows
        .into_iter()
        .filter(|flow| connected.contains(&flow.idx))
    {
        match by_token.get_mut(&flow.idx) {
            None => {
                order.push(flow.idx);
                by_token.insert(flow.idx, flow);
            }
            Some(existing) => {
                let mut parents = std::mem::take(&mut existing.parents);
                parents.extend(flow.parents);
                let mut parent_idx = std::mem::take(&mut existing.parent_idx);
                parent_idx.extend(flow.parent_idx);
                parent_idx.sort_unstable();
                parent_idx.dedup();
                *existing = Flow {
                    name: flow.name,
                    idx: flow.idx,
                    relation: flow.relation,
                    parents: names.dedup(parents),
                    parent_idx,
                };
            }
        }
    }
    order
        .into_iter()
        .filter_map(|idx| by_token.remove(&idx))
        .collect()
}

/// Replace names by their order of first appearance (parents before the variable).
fn normalize(flows: &[Flow]) -> Vec<NormalEdge> {
    let mut numbers: HashMap<Sym, u32> = HashMap::default();
    let mut number = |sym: Sym| {
        let next = numbers.len() as u32;
        *numbers.entry(sym).or_insert(next)
    };
    flows
        .iter()
        .map(|flow| {
            let parents: Vec<u32> = flow.parents.iter().map(|sym| number(*sym)).collect();
            let name = number(flow.name);
            (name, flow.relation == Relation::ComputedFrom, parents)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_syntax::parse;

    fn edges(language: SyntaxLanguage, source: &str) -> Vec<NormalEdge> {
        normalized_edges(&parse(language, source).unwrap())
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
