//! Repository context for generation: the chunks of a repository that go into a prompt, and
//! why. One path behind `crucible generate --repo` and the language server's completions.
//!
//! [`gather`] takes the definitions of the names the current file imports (tree-sitter, then
//! the index by symbol; only where the import statement names the definition's file or
//! directory, or is relative), then search hits for the query (the current file or the task),
//! and packs them into a token budget: the definitions into at most half of it, those of names
//! the query uses first, the hits into the rest; the chunks are laid out best last. The hits are
//! BM25's, or, when the index was opened with the embedding model ([`RepoOptions::embeddings`]),
//! those of the hybrid search: BM25 and embedding similarity fused by reciprocal rank fusion,
//! each chunk's detail saying its rank in both and its cosine. [`WithContext`]
//! puts a context in front of every prompt a generator is asked, so plain requests and
//! strategies alike see it; with a model that has Qwen2.5-Coder's repository tokens
//! (`<|repo_name|>`, `<|file_sep|>`) completion prompts use that format, otherwise each chunk
//! gets a commented header. [`generate_with_repo`] adds
//! RepoCoder-style iterative retrieval: retrieve again with the first draft, generate again.
//! A completion's second round also gives [`ContextCache::gather`] the line the draft wrote:
//! the lines of the repository most like it (Jaccard similarity of their tokens, as RepoCoder
//! compares code), each with the lines around it, go in nearest the code ([`Reason::Similar`]).

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crucible_index::{Filters, Hit, pack};
use crucible_infer::{
    ExtraFile, Feed, FimTokens, GenRequest, Generation, Generator, Infill, Message, ModelInfo,
    Observer, Prompt, Role,
};
use crucible_strategy::Progress;
use crucible_types::{Language, Task, TaskKind};

use crate::generate::{Generated, Plan, Sandbox, generate_for_task};
use crate::repo_index::{IndexRequest, RepoIndex};
use crate::stopwatch::{PhaseTime, Stopwatch};
use crate::{Result, Settings};

/// Tokens of repository context when the caller gives no budget.
pub const DEFAULT_BUDGET_TOKENS: usize = 1024;
/// Search hits (BM25 or hybrid) considered for packing.
const BM25_CANDIDATES: usize = 24;
/// Chunks looked at per imported name when finding its definition (and a class's members).
const DEFINITION_CANDIDATES: usize = 16;
/// The part of the budget the imported names' definitions may take (numerator,
/// denominator): the rest is for the BM25 hits of the code around the cursor, which a file
/// importing many names would otherwise crowd out (issue 18 §4: on RepoBench-style tasks the
/// definitions of the first imported names filled the whole budget).
const DEFINITION_SHARE: (usize, usize) = (1, 2);

/// How to add repository context to a request (the library form of `--repo`).
#[derive(Debug, Clone, PartialEq)]
pub struct RepoOptions {
    /// The repository.
    pub repo: PathBuf,
    /// Its index directory; `None`: the default under `CRUCIBLE_HOME`.
    pub index_dir: Option<PathBuf>,
    /// Tokens of context at most (estimated, see [`estimate_tokens`]).
    pub budget_tokens: usize,
    /// Retrieve again with the first draft and generate again (RepoCoder).
    pub iterative: bool,
    /// Rank the candidates by BM25 and embeddings fused (hybrid search) instead of BM25
    /// alone: the embedding model is loaded and the index embeds its new chunks first.
    pub embeddings: bool,
}

/// Why a chunk went into the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The file a module the current file imports lives in.
    Import,
    /// The definition of a name the current file imports.
    Definition,
    /// A BM25 hit for the query.
    Bm25,
    /// A hit of the hybrid search for the query (BM25 and embeddings fused).
    Hybrid,
    /// A search hit for the draft of the previous round that the first round did not have.
    Iteration,
    /// Lines of the repository like the draft's line, with the lines around them (RepoCoder:
    /// code like what the model wrote shows what the repository writes there, and after it).
    Similar,
}

/// A chunk in the context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextChunk {
    /// Repository-relative path.
    pub path: String,
    /// First line, 1-based.
    pub start_line: usize,
    /// Last line, 1-based, inclusive.
    pub end_line: usize,
    /// Its symbol, if it is a definition.
    pub symbol: Option<String>,
    /// Score of the search that found it (BM25, or the fused score of a hybrid search).
    pub score: f32,
    /// Why it went in.
    pub reason: Reason,
    /// The detail: the imported name, or the ranking and matched terms.
    pub detail: String,
    /// Its tokens (estimated).
    pub tokens: usize,
    /// Its text.
    #[serde(skip)]
    pub text: String,
}

/// What [`gather`] chose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoContext {
    /// The repository's directory name (the `<|repo_name|>` line).
    pub repo_name: String,
    /// Chunks in, in prompt order.
    pub chunks: Vec<ContextChunk>,
    /// Tokens used (estimated).
    pub tokens: usize,
    /// The budget.
    pub budget_tokens: usize,
    /// Candidates that stayed out (over budget or overlapping one in).
    pub left_out: usize,
}

/// The file being worked on, when there is one.
#[derive(Debug, Clone, Copy)]
pub struct CurrentFile<'a> {
    /// Repository-relative path (never retrieved: its text is in the prompt already).
    pub path: &'a str,
    /// Its text (imports are read from it).
    pub text: &'a str,
}

/// Estimated tokens of `text`: one per three bytes, rounded up. Code runs at about three to
/// four bytes a token in the tokenizers of the code models Crucible runs, so the estimate errs
/// towards a shorter context.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3)
}

/// Open the index of `options.repo` (creating it) and bring it up to date: only new and
/// changed files are read. With `options.embeddings` the embedding model is loaded (an error
/// naming the fix when it is not installed), new chunks are embedded, and searches are hybrid.
pub fn open_index(settings: &Settings, options: &RepoOptions) -> Result<RepoIndex> {
    let request = IndexRequest {
        repo: options.repo.clone(),
        index_dir: options.index_dir.clone(),
        embeddings: options.embeddings,
    };
    let mut index = crate::repo_index::open(settings, &request)?;
    let updated = index.update()?;
    tracing::debug!(
        indexed = updated.report.files_indexed,
        unchanged = updated.report.files_unchanged,
        removed = updated.report.files_removed,
        embedded = updated.embedded.map(|e| e.embedded),
        "repository index updated"
    );
    Ok(index)
}

/// The context for `query` (the current file's text near the cursor, or the task): the
/// definitions of the names `current` imports first, then search hits (BM25, or hybrid when
/// `index` is), packed into `budget_tokens`.
pub fn gather(
    index: &RepoIndex,
    query: &str,
    current: Option<CurrentFile<'_>>,
    budget_tokens: usize,
) -> Result<RepoContext> {
    let names = current.map(imported_names).unwrap_or_default();
    let mut watch = Stopwatch::start();
    let inputs = Inputs {
        query,
        draft: None,
        current,
        imported: &names,
        budget_tokens,
    };
    gather_for(index, &inputs, &mut watch).map(|(context, _)| context)
}

/// Where a [`gather`] spent its time, by phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GatherTimings {
    /// Reading the names the current file imports (a tree-sitter parse of the whole file).
    pub import_names: PhaseTime,
    /// Searching the index for each imported name's definition.
    pub definitions: PhaseTime,
    /// The search for the query (BM25, or hybrid: the query embedded, BM25 and cosine
    /// rankings fused).
    pub bm25: PhaseTime,
    /// Packing the candidates into the budget.
    pub pack: PhaseTime,
}

impl GatherTimings {
    /// The phases together.
    pub fn total(&self) -> PhaseTime {
        self.import_names + self.definitions + self.bm25 + self.pack
    }
}

/// Two retrievals' phases together (iterative retrieval's rounds).
impl std::ops::Add for GatherTimings {
    type Output = GatherTimings;

    fn add(self, other: GatherTimings) -> GatherTimings {
        GatherTimings {
            import_names: self.import_names + other.import_names,
            definitions: self.definitions + other.definitions,
            bm25: self.bm25 + other.bm25,
            pack: self.pack + other.pack,
        }
    }
}

/// What [`ContextCache::gather`] gave.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// The context.
    pub context: RepoContext,
    /// Where the time went (searches and packing take no time when `cached`).
    pub timings: GatherTimings,
    /// Whether the context was the one kept from an earlier request.
    pub cached: bool,
}

/// Contexts already gathered, kept while their inputs stay the same: an editor asks for a
/// completion at every keystroke, and the query leaves out the cursor's line
/// ([`crate::complete::query_around`]), so the searches would find the same chunks again
/// until the cursor leaves the line or the index changes. A context is found again only for
/// the same query, current file path, imported names and budget, the same way of searching,
/// and the same [`crucible_index::Index::generation`] (an update of the index, or embedding
/// its new chunks, makes every kept context stale). Holds the last [`ContextCache::CAPACITY`]
/// contexts.
#[derive(Debug, Default)]
pub struct ContextCache {
    entries: std::collections::VecDeque<(ContextKey, RepoContext)>,
}

/// What a kept context was gathered from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContextKey {
    index_dir: PathBuf,
    generation: u64,
    hybrid: bool,
    query: String,
    draft: Option<String>,
    path: Option<String>,
    imported: Vec<String>,
    budget_tokens: usize,
}

impl ContextCache {
    /// Contexts kept at most (an iterative completion's two rounds, and a little more).
    pub const CAPACITY: usize = 4;

    /// An empty cache.
    pub fn new() -> ContextCache {
        ContextCache::default()
    }

    /// [`gather`], or the context kept from a call with the same inputs while the index has
    /// not changed since. With `draft` (the line a first round wrote, iterative retrieval's
    /// second round), the windows of the repository most like it go in first
    /// ([`Reason::Similar`]).
    pub fn gather(
        &mut self,
        index: &RepoIndex,
        query: &str,
        draft: Option<&str>,
        current: Option<CurrentFile<'_>>,
        budget_tokens: usize,
    ) -> Result<Gathered> {
        let mut watch = Stopwatch::start();
        let imported = current.map(imported_names).unwrap_or_default();
        let import_names = watch.lap();
        let key = ContextKey {
            index_dir: index.index().dir().to_path_buf(),
            generation: index.index().generation(),
            hybrid: index.is_hybrid(),
            query: query.to_owned(),
            draft: draft.map(str::to_owned),
            path: current.map(|file| file.path.to_owned()),
            imported,
            budget_tokens,
        };
        if let Some(at) = self.entries.iter().position(|(kept, _)| *kept == key) {
            let entry = self.entries.remove(at).expect("the position is in range");
            let context = entry.1.clone();
            self.entries.push_back(entry);
            return Ok(Gathered {
                context,
                timings: GatherTimings {
                    import_names,
                    ..GatherTimings::default()
                },
                cached: true,
            });
        }
        let inputs = Inputs {
            query,
            draft,
            current,
            imported: &key.imported,
            budget_tokens,
        };
        let (context, mut timings) = gather_for(index, &inputs, &mut watch)?;
        timings.import_names = import_names;
        // Contexts of an older index can never be found again.
        self.entries.retain(|(kept, _)| {
            kept.generation == key.generation && kept.index_dir == key.index_dir
        });
        if self.entries.len() == ContextCache::CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back((key, context.clone()));
        Ok(Gathered {
            context,
            timings,
            cached: false,
        })
    }
}

/// The names `file` imports (none for a file in a language without an import reader).
fn imported_names(file: CurrentFile<'_>) -> Vec<String> {
    match crucible_index::imports::language_of(Path::new(file.path)) {
        Ok(language) => crucible_index::imports::imported_names(language, file.text),
        Err(_) => Vec::new(),
    }
}

/// What a context is gathered from.
struct Inputs<'a> {
    /// The code around the cursor, or the task.
    query: &'a str,
    /// The line a first round wrote (iterative retrieval's second round).
    draft: Option<&'a str>,
    current: Option<CurrentFile<'a>>,
    /// The names `current` imports.
    imported: &'a [String],
    budget_tokens: usize,
}

/// [`gather`] with the names `current` imports already read, timing each phase on `watch`
/// (the import names' phase is left at zero for the caller).
fn gather_for(
    index: &RepoIndex,
    inputs: &Inputs<'_>,
    watch: &mut Stopwatch,
) -> Result<(RepoContext, GatherTimings)> {
    let filters = Filters {
        exclude_paths: inputs
            .current
            .iter()
            .map(|file| file.path.to_string())
            .collect(),
        ..Filters::default()
    };
    let mut timings = GatherTimings::default();
    watch.lap();
    let mut definitions_found = Vec::new();
    if let Some(file) = inputs.current {
        let statements = import_words(file);
        let names = rank_names(inputs.imported, inputs.query, file.text, &statements);
        definitions_found = definitions(index, file.path, &names, &statements, &filters)?;
    }
    timings.definitions = watch.lap();
    let reason = if index.is_hybrid() {
        Reason::Hybrid
    } else {
        Reason::Bm25
    };
    let mut hits = match inputs.draft {
        Some(draft) => similar_windows(index, draft, &filters)?,
        None => Vec::new(),
    };
    for hit in search(index, inputs.query, BM25_CANDIDATES, &filters)? {
        let detail = detail(&hit, index.is_hybrid());
        hits.push((hit, reason, detail));
    }
    timings.bm25 = watch.lap();
    let context = pack_candidates(index, definitions_found, hits, inputs.budget_tokens);
    timings.pack = watch.lap();
    Ok((context, timings))
}

/// Windows taken for a draft's line at most.
const SIMILAR_WINDOWS: usize = 4;
/// Lines a window keeps before the line like the draft's, and after it.
const SIMILAR_BEFORE: usize = 2;
const SIMILAR_AFTER: usize = 1;
/// The least [`line_similarity`] a line needs to be shown for a draft's line.
const SIMILAR_AT_LEAST: f64 = 0.3;
/// Tokens a line needs to be compared at all (`)`, `else:` and `pass` are like too much).
const SIMILAR_MIN_TOKENS: usize = 3;

/// RepoCoder's retrieval with a draft, for one line: the search hits for the draft's line, and
/// in them the lines most like it by [`line_similarity`], each as a window with the lines
/// before it and the one after (what the repository writes next where it writes something
/// like the draft). At most [`SIMILAR_WINDOWS`], best first, one per distinct line.
fn similar_windows(
    index: &RepoIndex,
    draft: &str,
    filters: &Filters,
) -> Result<Vec<(Hit, Reason, String)>> {
    let wanted = code_tokens(draft);
    if wanted.len() < SIMILAR_MIN_TOKENS {
        return Ok(Vec::new());
    }
    let mut found: Vec<(f64, Hit, usize)> = Vec::new();
    for hit in search(index, draft, BM25_CANDIDATES, filters)? {
        let lines: Vec<&str> = hit.text.lines().collect();
        let best = lines
            .iter()
            .enumerate()
            .map(|(at, line)| (line_similarity(&wanted, line), at))
            .filter(|(similarity, _)| *similarity >= SIMILAR_AT_LEAST)
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
        if let Some((similarity, at)) = best {
            found.push((similarity, hit, at));
        }
    }
    // Best first; among equals, the search's order.
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut seen: HashSet<String> = HashSet::new();
    let mut windows = Vec::new();
    for (similarity, hit, at) in found {
        let lines: Vec<&str> = hit.text.lines().collect();
        if !seen.insert(lines[at].trim().to_string()) {
            continue;
        }
        let first = at.saturating_sub(SIMILAR_BEFORE);
        let last = (at + SIMILAR_AFTER).min(lines.len() - 1);
        let line = hit.start_line + at;
        let detail = format!("like the draft's line ({similarity:.2}): line {line}");
        let window = Hit {
            start_line: hit.start_line + first,
            end_line: hit.start_line + last,
            text: lines[first..=last].join("\n"),
            // A window is not its chunk: it must not take the chunk's place in the packing.
            chunk_id: hit.chunk_id ^ (line as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ..hit
        };
        windows.push((window, Reason::Similar, detail));
        if windows.len() == SIMILAR_WINDOWS {
            break;
        }
    }
    Ok(windows)
}

/// The tokens of a line of code for [`line_similarity`]: its words and each other
/// non-blank character.
fn code_tokens(line: &str) -> HashSet<&str> {
    let mut tokens = HashSet::new();
    let mut rest = line;
    while let Some(start) = rest.find(|ch: char| !ch.is_whitespace()) {
        rest = &rest[start..];
        let word = rest
            .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
            .unwrap_or(rest.len());
        let len = if word > 0 {
            word
        } else {
            rest.chars().next().map_or(1, char::len_utf8)
        };
        tokens.insert(&rest[..len]);
        rest = &rest[len..];
    }
    tokens
}

/// How alike a line is to the wanted tokens: the Jaccard similarity of their token sets
/// ([`code_tokens`]), as RepoCoder measures code windows; 0 for a line of fewer than
/// [`SIMILAR_MIN_TOKENS`] tokens.
fn line_similarity(wanted: &HashSet<&str>, line: &str) -> f64 {
    let tokens = code_tokens(line);
    if tokens.len() < SIMILAR_MIN_TOKENS {
        return 0.0;
    }
    let common = tokens.intersection(wanted).count();
    common as f64 / (tokens.len() + wanted.len() - common) as f64
}

/// The words (identifiers, module path parts) of each import statement of `file`, and
/// whether the statement imports from the file's own package or crate (`from . import x`,
/// `from .a import b`, `use crate::...`, `use super::...`).
fn import_words(file: CurrentFile<'_>) -> Vec<ImportWords> {
    let Ok(language) = crucible_index::imports::language_of(Path::new(file.path)) else {
        return Vec::new();
    };
    crucible_index::imports::import_statements(language, file.text)
        .into_iter()
        .map(|statement| {
            let words: Vec<String> = words(&statement.text).map(str::to_owned).collect();
            let relative = statement.text.trim_start().starts_with("from .")
                || words
                    .iter()
                    .any(|word| matches!(word.as_str(), "crate" | "self" | "super"));
            let module = module_path(&statement.text);
            let lines = statement
                .text
                .lines()
                .map(|line| line.trim().to_string())
                .filter(|line| !line.is_empty())
                .collect();
            ImportWords {
                words,
                relative,
                module,
                lines,
            }
        })
        .collect()
}

/// The module an import statement names, as its words: those between `from` and `import`
/// (`from starlette.middleware import Middleware`), else the path segments followed by `.`
/// or `::` (`use crate::index::Index`: `index`; `import urllib.request`: `urllib`), without
/// `crate`, `self` and `super`. Empty when the statement names no path (`import json`).
fn module_path(statement: &str) -> Vec<String> {
    let text = statement.trim_start();
    if let Some(rest) = text.strip_prefix("from ")
        && let Some(end) = rest.find(" import")
    {
        return words(&rest[..end]).map(str::to_owned).collect();
    }
    let mut module = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let Some(start) = rest.find(|ch: char| ch.is_alphanumeric() || ch == '_') else {
            break;
        };
        let word_len = rest[start..]
            .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        let after = &rest[start + word_len..];
        let segment =
            after.starts_with("::") || (after.starts_with('.') && !after.starts_with(".."));
        if segment && !matches!(word, "crate" | "self" | "super") {
            module.push(word.to_string());
        }
        at += start + word_len;
    }
    module
}

/// The identifier-like words of `text` (letters, digits and `_`), in order.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
        .filter(|word| !word.is_empty())
}

/// One import statement's words (see [`import_words`]).
#[derive(Debug, Clone)]
struct ImportWords {
    words: Vec<String>,
    relative: bool,
    /// The module it imports from ([`module_path`]).
    module: Vec<String>,
    /// Its lines, trimmed (a query's import lines are not uses of the names).
    lines: Vec<String>,
}

/// The statements among `statements` that name `name` (bind it, or have it in their module
/// path).
fn naming<'s>(name: &str, statements: &'s [ImportWords]) -> impl Iterator<Item = &'s ImportWords> {
    statements
        .iter()
        .filter(move |statement| statement.words.iter().any(|word| word == name))
}

/// Whether a chunk of the file at `path` can be what a statement binding `name` imports: the
/// last part of the module it names is the file or one of its directories (`from ._content
/// import ByteStream` and `httpx/_content.py`; `from pkg import Client` and
/// `pkg/_client.py`), or it names no module and is relative (the file's own package: `from .
/// import utils`), or one of its words is the file or a directory (`import pkg` and
/// `pkg/...`). So `import urllib.request` does not bring the repository's own `request`
/// function, nor `import json` a `Response.json` method, nor `from starlette.middleware import
/// Middleware` anything of `starlette/applications.py`.
fn imported_from(path: &str, name: &str, statements: &[ImportWords]) -> bool {
    let path = Path::new(path);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let dirs: Vec<String> = path
        .parent()
        .into_iter()
        .flat_map(Path::components)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    naming(name, statements).any(|statement| {
        match statement.module.last() {
            // The module's last part is the file or one of its directories: `from
            // starlette.middleware import Middleware` is `starlette/middleware/...`, not
            // `starlette/applications.py`; `use crate::index::Index` is `src/index.rs`.
            Some(last) if statement.module.iter().all(|part| part != name) => {
                stem.as_deref() == Some(last.as_str()) || dirs.contains(last)
            }
            // `from . import utils`, `use super::Thing`: the file's own package.
            _ if statement.relative => true,
            _ => statement
                .words
                .iter()
                .any(|word| stem.as_deref() == Some(word.as_str()) || dirs.contains(word)),
        }
    })
}

/// Whether `name` is only ever part of a module path in `statements` (`middleware` in `from
/// starlette.middleware import Middleware`), not a name they bind: its definitions are not
/// looked up (Starlette's `middleware` method is not what that statement imports).
fn only_a_module_part(name: &str, statements: &[ImportWords]) -> bool {
    let mut binding = naming(name, statements).peekable();
    binding.peek().is_some()
        && binding.all(|statement| {
            statement.module.iter().any(|part| part == name)
                && statement.words.iter().filter(|word| *word == name).count()
                    == statement.module.iter().filter(|part| *part == name).count()
        })
}

/// Lines of the query nearest the cursor whose words make a name not used yet rank higher.
const AFFINITY_LINES: usize = 5;

/// `imported` in the order their definitions go into the context: first the names the file
/// imports and does not use yet, then those the query (the code around the cursor, import
/// statements left out) uses, then the rest. A name imported and not yet used is what the
/// code is about to use (RepoBench's `cross_file_first` is exactly that line, and in an
/// editor a name just imported), and no line of the file shows how it is used; a name used
/// near the cursor has its uses in the prompt, but they may not show its signature. Names not
/// used yet are ordered by their [`affinity`] to the last lines of the query, then by import
/// order; the other groups keep import order.
fn rank_names(
    imported: &[String],
    query: &str,
    text: &str,
    statements: &[ImportWords],
) -> Vec<String> {
    let import_lines: HashSet<&str> = statements
        .iter()
        .flat_map(|s| s.lines.iter().map(String::as_str))
        .collect();
    let code_lines: Vec<&str> = query
        .lines()
        .filter(|line| !import_lines.contains(line.trim()))
        .collect();
    let near: HashSet<&str> = code_lines.iter().flat_map(|line| words(line)).collect();
    let last = &code_lines[code_lines.len().saturating_sub(AFFINITY_LINES)..];
    let cursor_parts: Vec<String> = last
        .iter()
        .flat_map(|line| crucible_index::tokenize::code_terms(line))
        .collect();
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for word in words(text) {
        *uses.entry(word).or_default() += 1;
    }
    for word in statements.iter().flat_map(|s| &s.words) {
        if let Some(count) = uses.get_mut(word.as_str()) {
            *count = count.saturating_sub(1);
        }
    }
    let key = |name: &String| {
        if uses.get(name.as_str()).copied().unwrap_or(0) == 0 {
            (0, std::cmp::Reverse(affinity(name, &cursor_parts)))
        } else if near.contains(name.as_str()) {
            (1, std::cmp::Reverse(0))
        } else {
            (2, std::cmp::Reverse(0))
        }
    };
    let mut ranked: Vec<String> = imported.to_vec();
    ranked.sort_by_cached_key(key);
    ranked
}

/// How many parts of `name` (its identifier parts of three letters or more, as the index
/// splits them) begin, or are begun by, a part of the code at the cursor: `HeaderTypes` has
/// `header`, which begins `headers` in `def __init__(self, headers`.
fn affinity(name: &str, cursor_parts: &[String]) -> usize {
    crucible_index::tokenize::code_terms(name)
        .iter()
        .filter(|part| part.len() >= 3)
        .filter(|part| {
            cursor_parts
                .iter()
                .filter(|near| near.len() >= 3)
                .any(|near| near.starts_with(part.as_str()) || part.starts_with(near.as_str()))
        })
        .count()
}

/// The words naming the module `name` is imported from (`_types` for `from ._types import
/// (HeaderTypes, QueryParamTypes)`): the module paths of the statements binding `name`.
fn module_words(name: &str, statements: &[ImportWords]) -> Vec<String> {
    let mut module = Vec::new();
    for statement in naming(name, statements) {
        for word in &statement.module {
            if !module.contains(word) {
                module.push(word.clone());
            }
        }
    }
    module
}

/// The definitions of the names the file at `path` imports (those `statements` import from
/// where the definition is: see [`imported_from`]), then the modules it imports whole (the
/// first chunk of each module's file). A definition is a chunk whose symbol is the name, or,
/// for a global no chunk is named after (a constant, a type alias: `HeaderTypes =
/// Union[...]`), the statement that assigns it, cut out of the chunk around it. Names are
/// looked up by the chunks mentioning them whole ([`crucible_index::Index::mentioning`]),
/// whatever way the query is searched.
fn definitions(
    index: &RepoIndex,
    path: &str,
    imported: &[String],
    statements: &[ImportWords],
    filters: &Filters,
) -> Result<Vec<(Hit, Reason, String)>> {
    let mut definitions = Vec::new();
    let mut modules = Vec::new();
    for name in imported {
        if only_a_module_part(name, statements) {
            continue;
        }
        let from = module_words(name, statements);
        let hits = mentioning(index, name, &from, DEFINITION_CANDIDATES, filters)?;
        let mut allowed = hits
            .iter()
            .filter(|hit| imported_from(&hit.path, name, statements));
        let definition = allowed
            .clone()
            .find(|hit| {
                hit.symbol.as_deref().is_some_and(|symbol| {
                    symbol == name
                        || symbol.ends_with(&format!(".{name}"))
                        || symbol.ends_with(&format!("::{name}"))
                })
            })
            .map(|hit| outline(hit, &hits))
            .or_else(|| {
                allowed.find_map(|hit| global_definition(hit, name).map(|global| (global, 0)))
            });
        if let Some((hit, members)) = definition {
            let detail = match members {
                0 => format!("defines `{name}`, which {path} imports"),
                n => format!(
                    "defines `{name}`, which {path} imports; with the signatures of {n} of its members"
                ),
            };
            definitions.push((hit, Reason::Definition, detail));
            continue;
        }
        // A module is a file in the current file's language (`from pkg import applications`
        // is `pkg/applications.py`, not `docs/applications.md`).
        let hits = bm25_search(index, name, DEFINITION_CANDIDATES, filters)?;
        let module = hits.iter().find(|hit| {
            let hit_path = Path::new(&hit.path);
            hit_path
                .file_stem()
                .is_some_and(|stem| stem.to_string_lossy() == *name)
                && hit_path.extension() == Path::new(path).extension()
                && imported_from(&hit.path, name, statements)
        });
        if let Some(hit) = module {
            modules.push((
                hit.clone(),
                Reason::Import,
                format!("in module `{name}`, which {path} imports"),
            ));
        }
    }
    definitions.extend(modules);
    Ok(definitions)
}

/// Most lines of a class's header kept in its outline (its signature, the start of its
/// docstring, its first fields).
const OUTLINE_HEADER_LINES: usize = 6;
/// Most lines of an imported function's definition: its signature, docstring and the start
/// of its body; a long body would take the budget of every other definition.
const FUNCTION_LINES: usize = 12;
/// Most member signatures in an outline.
const OUTLINE_MEMBERS: usize = 8;
/// Most estimated tokens of an outline, past its first member: a class with many members and
/// long signatures (starlette's `Starlette`, 8 members in about 340 tokens) took most of the
/// definitions' half of the budget and left the other imported names out.
const OUTLINE_TOKENS: usize = 160;
/// Most lines of one member's signature in an outline.
const SIGNATURE_LINES: usize = 6;

/// `definition` as it goes into the context, with how many member signatures were added. A
/// class (a container's header chunk: its signature, docstring and fields) gets the signatures
/// of its members among `hits` (the chunks mentioning its name, where its methods rank first),
/// at most [`OUTLINE_MEMBERS`] within [`OUTLINE_TOKENS`] (constructors, then public members),
/// in file order: `ShellComplete(cli, ctx_args, prog_name, complete_var)` needs `__init__`'s
/// signature, which the header chunk does not have, and the methods' bodies would take the
/// budget of every other definition. A function is cut to its first [`FUNCTION_LINES`] lines;
/// anything else is kept whole. The outline keeps the
/// header's id and line range (the members' lines are named in the trace's detail).
fn outline(definition: &Hit, hits: &[Hit]) -> (Hit, usize) {
    let Some(symbol) = definition.symbol.as_deref() else {
        return (definition.clone(), 0);
    };
    if definition.kind == crucible_index::ChunkKind::Function.name() {
        return (head(definition, FUNCTION_LINES), 0);
    }
    if definition.kind != crucible_index::ChunkKind::Code.name() {
        return (definition.clone(), 0);
    }
    let mut members: Vec<&Hit> = hits
        .iter()
        .filter(|hit| hit.path == definition.path && hit.start_line > definition.end_line)
        .filter(|hit| {
            hit.symbol.as_deref().is_some_and(|member| {
                [".", "::"].iter().any(|separator| {
                    member
                        .strip_prefix(symbol)
                        .and_then(|rest| rest.strip_prefix(separator))
                        .is_some_and(|rest| !rest.contains('.') && !rest.contains("::"))
                })
            })
        })
        .filter(|hit| hit.kind == crucible_index::ChunkKind::Function.name())
        .collect();
    if members.is_empty() {
        return (definition.clone(), 0);
    }
    members.sort_by_key(|hit| hit.start_line);
    members.dedup_by_key(|hit| hit.symbol.clone());
    // Constructors first, then public members, then the rest, each in file order, while the
    // outline stays within its tokens (the first member always goes in).
    let rank = |hit: &&Hit| {
        let member = hit
            .symbol
            .as_deref()
            .and_then(|s| s.rsplit(['.', ':']).next())
            .unwrap_or("");
        match member {
            "__init__" | "new" | "constructor" => 0,
            _ if member.starts_with('_') => 2,
            _ => 1,
        }
    };
    members.sort_by_key(|hit| (rank(hit), hit.start_line));
    let header = head(definition, OUTLINE_HEADER_LINES).text;
    let mut tokens = estimate_tokens(&header);
    let mut kept: Vec<(&Hit, String)> = Vec::new();
    for member in members {
        let signature = signature(&member.text);
        let cost = estimate_tokens(&signature) + 1;
        if !kept.is_empty() && (kept.len() == OUTLINE_MEMBERS || tokens + cost > OUTLINE_TOKENS) {
            break;
        }
        tokens += cost;
        kept.push((member, signature));
    }
    kept.sort_by_key(|(hit, _)| hit.start_line);
    let mut text = header;
    for (_, signature) in &kept {
        text.push('\n');
        text.push_str(signature);
    }
    let outlined = Hit {
        text,
        ..definition.clone()
    };
    (outlined, kept.len())
}

/// `hit` with at most `lines` lines of its text, and an indented `...` in place of the rest.
fn head(hit: &Hit, lines: usize) -> Hit {
    let all: Vec<&str> = hit.text.lines().collect();
    if all.len() <= lines {
        return hit.clone();
    }
    let indent: String = all
        .get(1)
        .map(|line| line.chars().take_while(|ch| ch.is_whitespace()).collect())
        .unwrap_or_default();
    Hit {
        text: format!("{}\n{indent}...", all[..lines].join("\n")),
        ..hit.clone()
    }
}

/// The first lines of a function's chunk up to where its body begins (a line ending in `:`,
/// or holding `{`), at most [`SIGNATURE_LINES`]; decorators and attributes above it are kept.
fn signature(function: &str) -> String {
    let mut lines = Vec::new();
    for line in function.lines().take(SIGNATURE_LINES) {
        lines.push(line);
        let code = line.trim_end();
        let opens_body =
            (code.ends_with(':') && !code.trim_start().starts_with('@')) || code.contains('{');
        if opens_body {
            break;
        }
    }
    lines.join("\n")
}

/// Most lines of a global's definition cut out of its chunk.
const GLOBAL_DEFINITION_LINES: usize = 20;

/// The statement of `hit` that defines `name` at the top level of its file (see
/// [`defines_global`]) with the lines that continue it (indented, or closing a bracket), as a
/// hit of its own: the chunk around it is a window of whatever else the file has there.
fn global_definition(hit: &Hit, name: &str) -> Option<Hit> {
    let lines: Vec<&str> = hit.text.lines().collect();
    let first = lines.iter().position(|line| defines_global(line, name))?;
    let mut last = first;
    while last + 1 < lines.len() && last + 1 - first < GLOBAL_DEFINITION_LINES {
        let next = lines[last + 1];
        let continues = (next.starts_with(char::is_whitespace) && !next.trim().is_empty())
            || next.starts_with([')', ']', '}']);
        if !continues {
            break;
        }
        last += 1;
    }
    let start_line = hit.start_line + first;
    Some(Hit {
        start_line,
        end_line: hit.start_line + last,
        symbol: Some(name.to_string()),
        text: lines[first..=last].join("\n"),
        // Another id than the chunk's: the chunk may come in as a search hit too, and another
        // global may be cut from the same chunk.
        chunk_id: hit.chunk_id ^ (start_line as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ..hit.clone()
    })
}

/// Whether `line` defines `name` at the top level of a file: unindented, after declaration
/// keywords (`export const`, `pub static`, `var`, `#define`), the name and then an assignment
/// or a type annotation (`WIN = ...`, `binary_streams: Mapping[...] = {`, `const MAX: u32 =`).
fn defines_global(line: &str, name: &str) -> bool {
    if line.starts_with(char::is_whitespace) {
        return false;
    }
    let define = line.starts_with("#define ");
    let mut rest = line.strip_prefix("#define ").unwrap_or(line);
    while let Some(stripped) = [
        "export ",
        "pub(crate) ",
        "pub ",
        "const ",
        "static ",
        "let ",
        "var ",
        "mut ",
        "final ",
        "declare ",
    ]
    .iter()
    .find_map(|keyword| rest.strip_prefix(keyword))
    {
        rest = stripped.trim_start();
    }
    let Some(after) = rest.strip_prefix(name) else {
        return false;
    };
    if after.starts_with(|ch: char| ch.is_alphanumeric() || ch == '_') {
        return false;
    }
    let after = after.trim_start();
    define
        || (after.starts_with('=') && !after.starts_with("=="))
        || (after.starts_with(':') && !after.starts_with("::"))
}

/// [`crucible_index::Index::mentioning`], where a name without code terms finds nothing.
fn mentioning(
    index: &RepoIndex,
    name: &str,
    path_words: &[String],
    k: usize,
    filters: &Filters,
) -> Result<Vec<Hit>> {
    nothing_if_empty(index.index().mentioning(name, path_words, k, filters))
}

/// The index's search (BM25 or hybrid), where a query without code terms finds nothing
/// (rather than failing).
fn search(index: &RepoIndex, query: &str, k: usize, filters: &Filters) -> Result<Vec<Hit>> {
    match index.search(query, k, filters) {
        Ok(hits) => Ok(hits),
        Err(crate::Error::Index(crucible_index::Error::EmptyQuery { .. })) => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

/// A BM25 search where a query without code terms finds nothing (rather than failing).
fn bm25_search(index: &RepoIndex, query: &str, k: usize, filters: &Filters) -> Result<Vec<Hit>> {
    nothing_if_empty(index.index().search(query, k, filters))
}

/// An index search's hits, where a query without code terms found nothing.
fn nothing_if_empty(found: crucible_index::Result<Vec<Hit>>) -> Result<Vec<Hit>> {
    match found {
        Ok(hits) => Ok(hits),
        Err(crucible_index::Error::EmptyQuery { .. }) => Ok(Vec::new()),
        Err(err) => Err(err.into()),
    }
}

/// Why a search hit ranked where it did: its BM25 rank, with hybrid search its embedding rank
/// and cosine (or that the other ranking did not have it), and the query terms it matched.
fn detail(hit: &Hit, hybrid: bool) -> String {
    let mut parts = Vec::new();
    match hit.why.bm25 {
        Some(bm25) => parts.push(format!("bm25 rank {}", bm25.rank)),
        None => parts.push("not in the bm25 top".into()),
    }
    if hybrid {
        match hit.why.embedding {
            Some(embedding) => parts.push(format!(
                "embedding rank {} (cosine {:.3})",
                embedding.rank, embedding.score
            )),
            None => parts.push("not in the embedding top".into()),
        }
    }
    if !hit.why.matched_terms.is_empty() {
        let shown: Vec<&str> = hit
            .why
            .matched_terms
            .iter()
            .take(8)
            .map(String::as_str)
            .collect();
        parts.push(format!("matched {}", shown.join(", ")));
    }
    parts.join("; ")
}

/// Pack the imported definitions into at most [`DEFINITION_SHARE`] of the budget, then the
/// windows like a draft's line and the BM25 hits into what is left, and lay the chunks out
/// best last, the windows like the draft's line last of all: the prompt puts the current file
/// right after the context, and a model leans on what is nearest (RepoCoder puts its most
/// similar snippet next to the code too).
fn pack_candidates(
    index: &RepoIndex,
    definitions: Vec<(Hit, Reason, String)>,
    hits: Vec<(Hit, Reason, String)>,
    budget_tokens: usize,
) -> RepoContext {
    let mut why: HashMap<u64, (Reason, String)> = HashMap::new();
    let mut first = Vec::with_capacity(definitions.len());
    let mut rest = Vec::with_capacity(hits.len());
    for (hit, reason, detail) in definitions.into_iter().chain(hits) {
        if why.contains_key(&hit.chunk_id) {
            continue;
        }
        let is_definition = matches!(reason, Reason::Definition | Reason::Import);
        why.insert(hit.chunk_id, (reason, detail));
        if is_definition {
            first.push(hit);
        } else {
            rest.push(hit);
        }
    }
    let share = budget_tokens * DEFINITION_SHARE.0 / DEFINITION_SHARE.1;
    let defined = pack::pack(first, share, &mut estimate_tokens);
    let mut left_out = defined.left_out.len();
    let mut ordered: Vec<Hit> = defined.packed.into_iter().map(|p| p.hit).collect();
    ordered.extend(rest);
    let packed = pack::pack(ordered, budget_tokens, &mut estimate_tokens);
    left_out += packed.left_out.len();
    let mut chunks: Vec<ContextChunk> = packed
        .packed
        .into_iter()
        .map(|packed| {
            let (reason, detail) = why
                .remove(&packed.hit.chunk_id)
                .unwrap_or((Reason::Bm25, String::new()));
            ContextChunk {
                path: packed.hit.path,
                start_line: packed.hit.start_line,
                end_line: packed.hit.end_line,
                symbol: packed.hit.symbol,
                score: packed.hit.score,
                reason,
                detail,
                tokens: packed.tokens,
                text: packed.hit.text,
            }
        })
        .collect();
    chunks.reverse();
    // The windows like the draft's line go nearest the code, as RepoCoder puts its most
    // similar snippet (they are packed after the definitions, which they must not push out).
    chunks.sort_by_key(|chunk| chunk.reason == Reason::Similar);
    RepoContext {
        repo_name: index
            .index()
            .root()
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repository".into()),
        chunks,
        tokens: packed.tokens,
        budget_tokens,
        left_out,
    }
}

impl RepoContext {
    /// The chunks as files of a fill-in-the-middle prompt (one per chunk, named `path`).
    pub fn extra_files(&self) -> Vec<ExtraFile> {
        self.chunks
            .iter()
            .map(|chunk| ExtraFile {
                filename: chunk.path.clone(),
                text: chunk.text.clone(),
            })
            .collect()
    }

    /// The context as text in front of a prompt: each chunk under a `comment` header line
    /// naming its path and lines. (The repository-token form is laid out by
    /// [`crucible_infer::fim_pieces`], from [`RepoContext::extra_files`].)
    pub fn preamble(&self, comment: &str) -> String {
        let mut out = String::new();
        for chunk in &self.chunks {
            out.push_str(&self.header(chunk, comment));
            out.push_str(&chunk.text);
            if !chunk.text.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
        }
        out
    }

    fn header(&self, chunk: &ContextChunk, comment: &str) -> String {
        format!(
            "{comment} {}/{}:{}-{}\n",
            self.repo_name, chunk.path, chunk.start_line, chunk.end_line
        )
    }
}

/// The line-comment marker of a task language.
pub fn line_comment(language: Language) -> &'static str {
    match language {
        Language::Python => "#",
        _ => "//",
    }
}

/// A generator that puts repository context in front of every prompt it is asked: completion
/// prompts get [`RepoContext::preamble`] (the repository form when the model has its tokens),
/// chat prompts get the commented form as a first part of the first user turn.
pub struct WithContext<'a> {
    inner: &'a mut dyn Generator,
    front: Front,
}

/// What [`WithContext`] puts in front of each kind of prompt.
struct Front {
    /// Before a completion prompt that stays text (the model has no repository tokens to lay
    /// the files out with, or no FIM tokens at all): the commented form.
    text: String,
    /// At the start of the first user turn.
    chat: String,
    /// A fill prompt's context files, its repository and current file names (as structure:
    /// the files' text stays text).
    files: Vec<ExtraFile>,
    /// The model's fill-in-the-middle tokens: with them a completion prompt becomes a
    /// continuation fill prompt, so the files' text reaches the model as text.
    fim: Option<FimTokens>,
    repo_name: String,
    current: String,
}

impl<'a> WithContext<'a> {
    /// Wrap `inner` so its prompts carry `context`; `language` gives the comment syntax and
    /// `current` the name of the file being written.
    pub fn new(
        inner: &'a mut dyn Generator,
        context: &RepoContext,
        language: Language,
        current: &str,
    ) -> WithContext<'a> {
        let comment = line_comment(language);
        let fim = inner.fim_tokens();
        let commented = context.preamble(comment);
        let chat_preamble = if commented.is_empty() {
            String::new()
        } else {
            format!(
                "Code from the repository `{}` (use what it defines instead of inventing APIs):\n```{}\n{}```\n\n",
                context.repo_name,
                language.fence_tag(),
                commented
            )
        };
        WithContext {
            inner,
            front: Front {
                text: commented,
                chat: chat_preamble,
                files: context.extra_files(),
                fim,
                repo_name: context.repo_name.clone(),
                current: current.to_owned(),
            },
        }
    }

    fn rewrite(&self, request: &GenRequest) -> GenRequest {
        let mut request = request.clone();
        put_in_front(&mut request, &self.front);
        request
    }
}

/// Put the context in front of `request`'s prompt: the text form before a completion prompt,
/// the chat form at the start of the first user turn of a chat prompt (a turn of its own if
/// there is none), the files before a fill prompt's own context files.
///
/// A completion prompt of a model with FIM tokens becomes a continuation fill prompt with the
/// same rendering: a backend that tokenizes then takes the files as literal text, so a file
/// holding `<|file_sep|>` or `<|endoftext|>` cannot act as the model's control token.
fn put_in_front(request: &mut GenRequest, front: &Front) {
    match &mut request.prompt {
        Prompt::Text { text: prompt } => match &front.fim {
            Some(tokens) if !front.files.is_empty() => {
                let repository_form = tokens.repo_name.is_some() && tokens.file_sep.is_some();
                let infill = if repository_form {
                    Infill {
                        prefix: std::mem::take(prompt),
                        extra: front.files.clone(),
                        repo_name: Some(front.repo_name.clone()),
                        filename: Some(front.current.clone()),
                        continuation: true,
                        ..Infill::default()
                    }
                } else {
                    Infill {
                        prefix: format!("{}{prompt}", front.text),
                        continuation: true,
                        ..Infill::default()
                    }
                };
                request.prompt = Prompt::Fill {
                    tokens: tokens.clone(),
                    infill: Box::new(infill),
                };
            }
            _ => prompt.insert_str(0, &front.text),
        },
        Prompt::Chat { messages, .. } => {
            if let Some(first) = messages.iter_mut().find(|m| m.role == Role::User) {
                first.content.insert_str(0, &front.chat);
            } else if !front.chat.is_empty() {
                messages.insert(0, Message::user(front.chat.clone()));
            }
        }
        Prompt::Fill { infill, .. } => {
            if front.files.is_empty() {
                return;
            }
            infill.extra.splice(0..0, front.files.iter().cloned());
            infill
                .repo_name
                .get_or_insert_with(|| front.repo_name.clone());
            infill.filename.get_or_insert_with(|| front.current.clone());
        }
    }
}

impl Generator for WithContext<'_> {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    fn generate(
        &mut self,
        request: &GenRequest,
        observer: &mut dyn Observer,
    ) -> crucible_infer::Result<Generation> {
        let request = self.rewrite(request);
        self.inner.generate(&request, observer)
    }

    fn generate_many(
        &mut self,
        feed: &mut dyn Feed,
        max_sequences: usize,
        observer: &mut dyn Observer,
    ) -> crucible_infer::Result<()> {
        let mut rewriting = RewritingFeed {
            feed,
            front: &self.front,
        };
        self.inner
            .generate_many(&mut rewriting, max_sequences, observer)
    }

    fn fim_tokens(&self) -> Option<FimTokens> {
        self.inner.fim_tokens()
    }
}

struct RewritingFeed<'a> {
    feed: &'a mut dyn Feed,
    front: &'a Front,
}

impl Feed for RewritingFeed<'_> {
    fn next_request(&mut self, wait: bool) -> Option<GenRequest> {
        let mut request = self.feed.next_request(wait)?;
        put_in_front(&mut request, self.front);
        Some(request)
    }

    fn finished(
        &mut self,
        id: usize,
        result: crucible_infer::Result<Generation>,
    ) -> ControlFlow<()> {
        self.feed.finished(id, result)
    }

    fn on_text(&mut self, id: usize, seq: usize, text: &str) {
        self.feed.on_text(id, seq, text);
    }

    fn cancelled(&self, id: usize) -> bool {
        self.feed.cancelled(id)
    }
}

/// The text a task is retrieved by: a function task's code, a program's description.
pub fn task_query(task: &Task) -> &str {
    match &task.kind {
        TaskKind::Function { prompt, .. } => prompt,
        TaskKind::Program { description } | TaskKind::Freeform { description } => description,
    }
}

/// Mark the search chunks (BM25 or hybrid) of a second round that the first round lacked
/// [`Reason::Iteration`].
pub fn mark_iteration(first: &RepoContext, second: &mut RepoContext) {
    for chunk in &mut second.chunks {
        let known = first
            .chunks
            .iter()
            .any(|old| old.path == chunk.path && old.start_line == chunk.start_line);
        if !known && matches!(chunk.reason, Reason::Bm25 | Reason::Hybrid) {
            chunk.reason = Reason::Iteration;
        }
    }
}

/// What [`generate_with_repo`] gave: the result and the context of each round.
#[derive(Debug, Clone)]
pub struct RepoGenerated {
    /// The final result.
    pub generated: Generated,
    /// The context of each round (one, or two with iterative retrieval).
    pub rounds: Vec<RepoContext>,
}

/// [`generate_for_task`] with repository context: retrieve for the task (`current` is the file
/// being written, if any), generate; with `iterative`, retrieve again with the draft's code and
/// generate again, marking chunks the first round lacked [`Reason::Iteration`].
#[expect(
    clippy::too_many_arguments,
    reason = "generate_for_task's five plus the index, the options and the current file"
)]
pub fn generate_with_repo(
    generator: &mut dyn Generator,
    sandbox: Sandbox<'_>,
    task: &Task,
    plan: &Plan,
    progress: &mut dyn Progress,
    index: &RepoIndex,
    options: &RepoOptions,
    current: Option<CurrentFile<'_>>,
) -> Result<RepoGenerated> {
    let name = current.map_or_else(
        || format!("solution.{}", task.language.extension()),
        |f| f.path.to_string(),
    );
    let first = gather(index, task_query(task), current, options.budget_tokens)?;
    let generated = {
        let mut wrapped = WithContext::new(generator, &first, task.language, &name);
        generate_for_task(&mut wrapped, sandbox, task, plan, progress)?
    };
    if !options.iterative {
        return Ok(RepoGenerated {
            generated,
            rounds: vec![first],
        });
    }
    let draft = generated.code().unwrap_or_default();
    let query = format!("{}\n{draft}", task_query(task));
    let mut second = gather(index, &query, current, options.budget_tokens)?;
    mark_iteration(&first, &mut second);
    let generated = {
        let mut wrapped = WithContext::new(generator, &second, task.language, &name);
        generate_for_task(&mut wrapped, sandbox, task, plan, progress)?
    };
    Ok(RepoGenerated {
        generated,
        rounds: vec![first, second],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_index::{Index, IndexParams};
    use crucible_infer::prompt::PromptMode;
    use crucible_infer::{ScriptedGenerator, Silent, SolveParams};
    use crucible_strategy::Quiet;
    use crucible_types::{Decoding, GenParams, TestSuite};

    const REPORT: &str = "report.py";

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo")
    }

    fn index(dir: &Path) -> RepoIndex {
        let mut index = Index::open(&fixture(), dir, IndexParams::default()).unwrap();
        index.update().unwrap();
        RepoIndex::bm25(index)
    }

    fn report_file() -> String {
        std::fs::read_to_string(fixture().join(REPORT)).unwrap()
    }

    fn task(text: &str) -> Task {
        Task {
            id: "report".into(),
            language: Language::Python,
            kind: TaskKind::Function {
                prompt: text.into(),
                entry_point: "total_floor_area".into(),
            },
            visible: TestSuite::None,
        }
    }

    fn plan(mode: PromptMode) -> Plan {
        Plan::Solve {
            solve: SolveParams {
                mode,
                params: GenParams {
                    decoding: Decoding::Greedy,
                    seed: 0,
                    max_new_tokens: 64,
                    stop: vec![],
                    n: 1,
                },
            },
            shots: vec![],
        }
    }

    fn options(iterative: bool) -> RepoOptions {
        RepoOptions {
            repo: fixture(),
            index_dir: None,
            budget_tokens: DEFAULT_BUDGET_TOKENS,
            iterative,
            embeddings: false,
        }
    }

    fn prompt_text(request: &GenRequest) -> String {
        match &request.prompt {
            Prompt::Text { .. } | Prompt::Fill { .. } => {
                request.prompt.completion_text().unwrap_or_default().into()
            }
            Prompt::Chat { messages, .. } => messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn an_imported_name_brings_its_definition_next_to_the_file_and_the_current_file_never() {
        let dir = tempfile::tempdir().unwrap();
        let index = index(dir.path());
        let text = report_file();
        let current = CurrentFile {
            path: REPORT,
            text: &text,
        };
        let context = gather(&index, &text, Some(current), DEFAULT_BUDGET_TOKENS).unwrap();
        // Best last: the definition is the chunk nearest the current file in the prompt.
        let first = context.chunks.last().unwrap();
        assert_eq!(first.path, "geometry/shapes.py");
        assert_eq!(first.symbol.as_deref(), Some("rectangle_area"));
        assert_eq!(first.reason, Reason::Definition);
        assert!(
            first.detail.contains("`rectangle_area`"),
            "{}",
            first.detail
        );
        assert!(context.chunks.iter().all(|chunk| chunk.path != REPORT));
        assert!(
            context.chunks[..context.chunks.len() - 1]
                .iter()
                .any(|chunk| chunk.reason == Reason::Bm25),
            "{context:?}"
        );
        assert!(context.tokens <= context.budget_tokens);
    }

    #[test]
    fn a_kept_context_is_found_again_until_its_query_imports_or_index_change() {
        // A copy of the fixture, so the test can change a file and update the index.
        let repo = tempfile::tempdir().unwrap();
        for file in ["report.py", "geometry/shapes.py", "geometry/units.py"] {
            let to = repo.path().join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(fixture().join(file), &to).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let mut index = RepoIndex::open(repo.path(), dir.path(), None).unwrap();
        index.update().unwrap();
        let text = report_file();
        let current = Some(CurrentFile {
            path: REPORT,
            text: &text,
        });
        let query = "total floor area of rooms";
        let mut cache = ContextCache::new();
        let first = cache.gather(&index, query, None, current, 200).unwrap();
        assert!(!first.cached);
        assert_eq!(first.context, gather(&index, query, current, 200).unwrap());
        let again = cache.gather(&index, query, None, current, 200).unwrap();
        assert!(again.cached);
        assert_eq!(again.context, first.context);
        assert_eq!(again.timings.bm25, PhaseTime::default(), "no search ran");
        // Another query, budget or set of imports is gathered afresh.
        assert!(
            !cache
                .gather(&index, "inches", None, current, 200)
                .unwrap()
                .cached
        );
        assert!(
            !cache
                .gather(&index, query, None, current, 100)
                .unwrap()
                .cached
        );
        let more = format!("from geometry.units import inches_to_cm\n{text}");
        let importing = Some(CurrentFile {
            path: REPORT,
            text: &more,
        });
        let with_import = cache.gather(&index, query, None, importing, 200).unwrap();
        assert!(!with_import.cached);
        assert!(
            with_import
                .context
                .chunks
                .iter()
                .any(|c| c.symbol.as_deref() == Some("inches_to_cm")),
            "{:?}",
            with_import.context
        );
        assert!(
            cache
                .gather(&index, query, None, current, 200)
                .unwrap()
                .cached
        );
        // An update that changes the index makes every kept context stale.
        let shapes = repo.path().join("geometry/shapes.py");
        let mut source = std::fs::read_to_string(&shapes).unwrap();
        source.push_str("\n\ndef total_floor_area_of_rooms(rooms):\n    return 0\n");
        std::fs::write(&shapes, source).unwrap();
        index.update_paths(&[shapes]).unwrap();
        let fresh = cache.gather(&index, query, None, current, 200).unwrap();
        assert!(!fresh.cached);
        assert!(
            fresh
                .context
                .chunks
                .iter()
                .any(|c| c.symbol.as_deref() == Some("total_floor_area_of_rooms")),
            "{:?}",
            fresh.context
        );
        assert_eq!(fresh.context, gather(&index, query, current, 200).unwrap());
    }

    #[test]
    fn a_small_budget_keeps_what_fits_and_counts_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let index = index(dir.path());
        let context = gather(&index, "area of a circle radius", None, 40).unwrap();
        assert!(context.tokens <= 40);
        assert!(context.left_out > 0, "{context:?}");
        assert!(context.chunks.iter().all(|c| c.reason == Reason::Bm25));
    }

    #[test]
    fn completion_prompts_use_the_repository_tokens_when_the_model_has_them() {
        let dir = tempfile::tempdir().unwrap();
        let index = index(dir.path());
        let text = report_file();
        let current = CurrentFile {
            path: REPORT,
            text: &text,
        };
        let mut generator =
            ScriptedGenerator::new(["    return sum(rectangle_area(w, h) for w, h in rooms)\n"])
                .with_fim(FimTokens::qwen());
        let task = task(&text);
        let out = generate_with_repo(
            &mut generator,
            Sandbox::Unavailable,
            &task,
            &plan(PromptMode::Completion),
            &mut Quiet(&mut Silent),
            &index,
            &options(false),
            Some(current),
        )
        .unwrap();
        let prompt = prompt_text(&generator.requests[0]);
        assert!(
            prompt.starts_with("<|repo_name|>repo\n<|file_sep|>"),
            "{prompt}"
        );
        // The imported definition is the last file before the current one.
        let expect_end = format!(
            "<|file_sep|>geometry/shapes.py\ndef rectangle_area(width, height):\n    \"\"\"The area of a width by height rectangle.\"\"\"\n    return width * height\n<|file_sep|>{REPORT}\n\"\"\"Print a report"
        );
        assert!(prompt.contains(&expect_end), "{prompt}");
        // The files travel as structure (a continuation fill prompt), so a backend that
        // tokenizes keeps their text literal.
        let Prompt::Fill { infill, .. } = &generator.requests[0].prompt else {
            panic!("a completion prompt with context should become a fill prompt");
        };
        assert!(infill.continuation);
        assert_eq!(infill.extra.last().unwrap().filename, "geometry/shapes.py");
        assert_eq!(infill.filename.as_deref(), Some(REPORT));
        assert_eq!(out.rounds.len(), 1);
        assert!(
            out.generated
                .code()
                .unwrap()
                .contains("rectangle_area(w, h)")
        );
    }

    #[test]
    fn without_repository_tokens_chunks_get_commented_headers_in_the_chat_turn() {
        let dir = tempfile::tempdir().unwrap();
        let index = index(dir.path());
        let text = report_file();
        let mut generator =
            ScriptedGenerator::new(["def total_floor_area(rooms):\n    return 0\n```"]);
        let task = task(&text);
        generate_with_repo(
            &mut generator,
            Sandbox::Unavailable,
            &task,
            &plan(PromptMode::Chat),
            &mut Quiet(&mut Silent),
            &index,
            &options(false),
            Some(CurrentFile {
                path: REPORT,
                text: &text,
            }),
        )
        .unwrap();
        let prompt = prompt_text(&generator.requests[0]);
        assert!(!prompt.contains("<|file_sep|>"), "{prompt}");
        assert!(
            prompt.contains("# repo/geometry/shapes.py:11-13\ndef rectangle_area"),
            "{prompt}"
        );
        // The task's own text follows the context.
        let context_at = prompt.find("# repo/geometry/shapes.py").unwrap();
        let task_at = prompt.find("Complete the following").unwrap();
        assert!(context_at < task_at, "{prompt}");
    }

    #[test]
    fn iterative_retrieval_asks_again_with_chunks_the_draft_found() {
        let dir = tempfile::tempdir().unwrap();
        let index = index(dir.path());
        let text = "def total_floor_area(rooms):\n    \"\"\"Sum of room areas.\"\"\"\n";
        // The draft converts units, so the second round retrieves geometry/units.py.
        let mut generator = ScriptedGenerator::new([
            "    return sum(inches_to_cm(w) * inches_to_cm(h) for w, h in rooms)\n",
            "    return 0\n",
        ])
        .with_fim(FimTokens::qwen());
        let out = generate_with_repo(
            &mut generator,
            Sandbox::Unavailable,
            &task(text),
            &plan(PromptMode::Completion),
            &mut Quiet(&mut Silent),
            &index,
            &RepoOptions {
                budget_tokens: 100,
                ..options(true)
            },
            None,
        )
        .unwrap();
        assert_eq!(generator.requests.len(), 2);
        assert_eq!(out.rounds.len(), 2);
        let added: Vec<&ContextChunk> = out.rounds[1]
            .chunks
            .iter()
            .filter(|c| c.reason == Reason::Iteration)
            .collect();
        assert!(
            added.iter().any(|c| c.path == "geometry/units.py"),
            "{:?}",
            out.rounds[1].chunks
        );
        assert!(prompt_text(&generator.requests[1]).contains("<|file_sep|>geometry/units.py\n"));
        assert!(
            !out.rounds[0]
                .chunks
                .iter()
                .any(|c| c.path == "geometry/units.py"),
            "{:?}",
            out.rounds[0].chunks
        );
    }

    #[test]
    fn a_line_is_like_another_by_its_shared_words_and_symbols() {
        let draft = code_tokens("        headers: Mapping[str, str] | None = None,");
        let repository = line_similarity(&draft, "        headers: HeaderTypes | None = None,");
        // Shared: `headers`, `:`, `|`, `None`, `=`, `,`; apart: `Mapping`, `[`, `str`, `]`,
        // `HeaderTypes`.
        assert!((repository - 6.0 / 11.0).abs() < 1e-9, "{repository}");
        assert!(line_similarity(&draft, "    return self._stream.read()") < SIMILAR_AT_LEAST);
        // Too short a line is never like anything.
        assert_eq!(line_similarity(&draft, "headers,"), 0.0);
    }

    #[test]
    fn a_draft_brings_the_repository_lines_like_it_with_the_line_after_them() {
        let client = "class Client:\n    def request(\n        self,\n        method: str,\n        headers: HeaderTypes | None = None,\n        timeout: TimeoutTypes = DEFAULT_TIMEOUT,\n    ):\n        return method\n";
        let (_repo, _dir, index) = temp_repo(&[
            ("pkg/_client.py", client),
            (
                "pkg/_utils.py",
                "def unrelated(stream):\n    return stream.read()\n",
            ),
        ]);
        let filters = Filters::default();
        let windows = similar_windows(
            &index,
            "        headers: Mapping[str, str] | None = None,",
            &filters,
        )
        .unwrap();
        assert_eq!(windows.len(), 1, "{windows:?}");
        let (window, reason, detail) = &windows[0];
        assert_eq!(*reason, Reason::Similar);
        assert_eq!(
            (window.path.as_str(), window.start_line, window.end_line),
            ("pkg/_client.py", 3, 6)
        );
        assert_eq!(
            window.text,
            "        self,\n        method: str,\n        headers: HeaderTypes | None = None,\n        timeout: TimeoutTypes = DEFAULT_TIMEOUT,"
        );
        assert!(detail.contains("line 5"), "{detail}");
        // A draft of too few tokens brings nothing.
        assert!(
            similar_windows(&index, "pass", &filters)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_second_round_puts_the_windows_like_the_draft_nearest_the_code() {
        let client = "class Client:\n    def request(\n        self,\n        method: str,\n        headers: HeaderTypes | None = None,\n        timeout: float = 5.0,\n    ):\n        return method\n";
        let (_repo, _dir, index) = temp_repo(&[
            ("pkg/_client.py", client),
            ("pkg/_types.py", "HeaderTypes = dict\n"),
        ]);
        let text = "from ._types import HeaderTypes\n\n\ndef send(\n    url: str,\n";
        let current = Some(CurrentFile {
            path: "pkg/_send.py",
            text,
        });
        let query = "def send(\n    url: str,";
        let mut cache = ContextCache::new();
        let first = cache.gather(&index, query, None, current, 400).unwrap();
        assert!(
            first
                .context
                .chunks
                .iter()
                .all(|c| c.reason != Reason::Similar)
        );
        let draft = "    headers: Mapping[str, str] | None = None,";
        let second = cache
            .gather(&index, query, Some(draft), current, 400)
            .unwrap();
        assert!(
            !second.cached,
            "the draft is part of what a context is kept by"
        );
        let last = second.context.chunks.last().expect("a context");
        assert_eq!(last.reason, Reason::Similar, "{:?}", second.context.chunks);
        assert!(last.text.contains("headers: HeaderTypes | None = None,"));
        assert!(
            second
                .context
                .chunks
                .iter()
                .any(|c| c.reason == Reason::Definition
                    && c.symbol.as_deref() == Some("HeaderTypes")),
            "the definition stays: {:?}",
            second.context.chunks
        );
    }

    /// A repository in a temporary directory, indexed: `files` are (path, text) pairs.
    fn temp_repo(
        files: &[(impl AsRef<str>, impl AsRef<str>)],
    ) -> (tempfile::TempDir, tempfile::TempDir, RepoIndex) {
        let repo = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let to = repo.path().join(path.as_ref());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(&to, text.as_ref()).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::open(repo.path(), dir.path(), IndexParams::default()).unwrap();
        index.update().unwrap();
        (repo, dir, RepoIndex::bm25(index))
    }

    #[test]
    fn a_name_imported_from_elsewhere_does_not_bring_a_repository_definition_of_that_name() {
        // `import urllib.request` binds `request` too, but the repository's `request` in
        // `pkg/_api.py` is not what it imports; `ByteStream` comes from `pkg/_content.py`.
        let current = "import json\nimport urllib.request\nfrom . import utils\nfrom ._content import ByteStream\n\n\ndef build():\n    stream = ByteStream(b\"\")\n    return stream\n";
        let (_repo, _dir, index) = temp_repo(&[
            (
                "pkg/_api.py",
                "def request(method, url):\n    \"\"\"Send a request.\"\"\"\n    return method, url\n",
            ),
            (
                "pkg/_content.py",
                "class ByteStream:\n    def __init__(self, stream):\n        self._stream = stream\n",
            ),
            (
                "pkg/_models.py",
                "class Response:\n    def json(self):\n        return {}\n",
            ),
            (
                "docs/utils.md",
                "# utils\n\nHelpers: `utils.pad(text)` pads a text.\n",
            ),
            ("pkg/utils.py", "def pad(text):\n    return text + ' '\n"),
            ("pkg/build.py", current),
        ]);
        let file = CurrentFile {
            path: "pkg/build.py",
            text: current,
        };
        let context = gather(&index, "stream = ByteStream", Some(file), 1024).unwrap();
        let defined: Vec<(&str, Reason)> = context
            .chunks
            .iter()
            .filter(|c| c.reason == Reason::Definition)
            .map(|c| (c.path.as_str(), c.reason))
            .collect();
        assert_eq!(
            defined,
            [("pkg/_content.py", Reason::Definition)],
            "{context:?}"
        );
        // `from . import utils` brings the module `pkg/utils.py`, not the docs page.
        let modules: Vec<&str> = context
            .chunks
            .iter()
            .filter(|c| c.reason == Reason::Import)
            .map(|c| c.path.as_str())
            .collect();
        assert!(modules.contains(&"pkg/utils.py"), "{context:?}");
        assert!(modules.iter().all(|p| p.ends_with(".py")), "{context:?}");
        assert!(
            !context
                .chunks
                .iter()
                .any(|c| c.reason == Reason::Definition && c.path == "pkg/_api.py"),
            "{context:?}"
        );
    }

    #[test]
    fn what_an_import_names_decides_where_its_definition_may_come_from() {
        let statements = |text: &str| {
            import_words(CurrentFile {
                path: "pkg/current.py",
                text,
            })
        };
        let cases = [
            (
                "from ._content import ByteStream\n",
                "ByteStream",
                "pkg/_content.py",
                true,
            ),
            (
                "from pkg.models import Request\n",
                "Request",
                "pkg/models.py",
                true,
            ),
            ("from pkg import Client\n", "Client", "pkg/_client.py", true),
            ("from . import utils\n", "utils", "pkg/utils.py", true),
            ("import urllib.request\n", "request", "pkg/_api.py", false),
            ("import json as jsonlib\n", "json", "pkg/_models.py", false),
            ("from typing import Any\n", "Any", "pkg/_types.py", false),
            // The module's last part decides, not any word of its path.
            (
                "from starlette.middleware import Middleware\n",
                "Middleware",
                "starlette/middleware/__init__.py",
                true,
            ),
            (
                "from starlette.middleware import Middleware\n",
                "Middleware",
                "starlette/applications.py",
                false,
            ),
        ];
        for (source, name, path, expect) in cases {
            assert_eq!(
                imported_from(path, name, &statements(source)),
                expect,
                "{source:?} {name} {path}"
            );
        }
        // Rust: paths from the crate itself.
        let rust = import_words(CurrentFile {
            path: "src/main.rs",
            text: "use crate::index::Index;\nuse std::fmt::Display;\n",
        });
        assert!(imported_from("src/index.rs", "Index", &rust));
        assert!(!imported_from("src/show.rs", "Display", &rust));
        assert!(!imported_from("src/show.rs", "Index", &rust));
    }

    #[test]
    fn the_parts_of_a_module_path_are_not_names_to_define() {
        let text = "from starlette.middleware import Middleware\nfrom starlette import routing\nimport urllib.request\nuse crate::index::Index;\n";
        let statements = import_words(CurrentFile {
            path: "app.py",
            text,
        });
        assert_eq!(statements[0].module, ["starlette", "middleware"]);
        assert_eq!(statements[2].module, ["urllib"]);
        assert_eq!(module_path("use crate::index::Index;"), ["index"]);
        assert_eq!(module_path("from . import utils"), Vec::<String>::new());
        assert_eq!(module_path("from ._types import (\n    A,\n)"), ["_types"]);
        for (name, only) in [
            ("middleware", true),
            ("urllib", true),
            ("Middleware", false),
            ("routing", false),
            ("starlette", true),
            ("absent", false),
        ] {
            assert_eq!(only_a_module_part(name, &statements), only, "{name}");
        }
    }

    #[test]
    fn names_not_used_yet_come_first_then_names_used_near_the_cursor() {
        let ranked = |names: &[&str], query: &str, text: &str| {
            let imported: Vec<String> = names.iter().map(|name| name.to_string()).collect();
            let file = CurrentFile {
                path: "pkg/current.py",
                text,
            };
            rank_names(&imported, query, text, &import_words(file))
        };
        let text = "from m import A, B, C, D\n\nx = B()\ny = C(1)\n";
        // The query holds the import line too: naming a name there is not using it.
        assert_eq!(
            ranked(&["A", "B", "C", "D"], text, text),
            ["A", "D", "B", "C"],
            "unused, then used near the cursor; import order within each"
        );
        assert_eq!(
            ranked(&["A", "B", "C", "D"], "y = C(1)", text),
            ["A", "D", "C", "B"],
            "unused, then used near the cursor, then used further up"
        );
        // Among names not used yet, those whose parts begin words at the cursor come first.
        let text = "from ._types import (\n    CookieTypes,\n    HeaderTypes,\n)\nfrom ._urls import URL\n\nclass Headers:\n    def __init__(\n        self,\n        headers";
        assert_eq!(
            ranked(&["CookieTypes", "HeaderTypes", "URL"], text, text),
            ["HeaderTypes", "CookieTypes", "URL"]
        );
    }

    /// A Python chunk of `kind` starting at `start_line`, as a search would return it.
    fn python_hit(path: &str, start_line: usize, kind: &str, text: &str) -> Hit {
        Hit {
            path: path.into(),
            start_line,
            end_line: start_line + text.lines().count() - 1,
            language: "python".into(),
            kind: kind.into(),
            symbol: None,
            context: Vec::new(),
            text: text.into(),
            score: 1.0,
            why: crucible_index::Why::default(),
            chunk_id: 7,
        }
    }

    #[test]
    fn an_outline_keeps_the_constructor_and_stays_within_its_tokens() {
        let header = Hit {
            symbol: Some("App".into()),
            ..python_hit(
                "pkg/app.py",
                1,
                "code",
                "class App:\n    \"\"\"An app.\"\"\"",
            )
        };
        // Twelve methods with four-line signatures, the constructor last in the file.
        let mut members: Vec<Hit> = (0..12)
            .map(|n| {
                let text = format!("    def method_{n}(\n        self,\n        argument_{n}: int,\n    ) -> None:\n        pass");
                Hit {
                    symbol: Some(format!("App.method_{n}")),
                    chunk_id: 100 + n as u64,
                    ..python_hit("pkg/app.py", 10 + 10 * n, "function", &text)
                }
            })
            .collect();
        members.push(Hit {
            symbol: Some("App.__init__".into()),
            ..python_hit(
                "pkg/app.py",
                200,
                "function",
                "    def __init__(self, name):\n        self.name = name",
            )
        });
        let (outlined, kept) = outline(&header, &members);
        assert!(
            (1..OUTLINE_MEMBERS).contains(&kept),
            "{kept}: {}",
            outlined.text
        );
        assert!(
            estimate_tokens(&outlined.text) <= OUTLINE_TOKENS,
            "{}",
            outlined.text
        );
        assert!(
            outlined.text.contains("def __init__(self, name):"),
            "{}",
            outlined.text
        );
        assert!(
            outlined.text.ends_with("def __init__(self, name):"),
            "file order: {}",
            outlined.text
        );
    }

    #[test]
    fn a_long_definition_keeps_its_head_and_says_the_rest_is_left_out() {
        let body: String = (0..20).map(|n| format!("    step_{n} = {n}\n")).collect();
        let hit = Hit {
            symbol: Some("run".into()),
            chunk_id: 3,
            ..python_hit(
                "pkg/steps.py",
                1,
                "function",
                &format!("def run():\n{body}"),
            )
        };
        let (cut, members) = outline(&hit, &[]);
        assert_eq!(members, 0);
        let lines: Vec<&str> = cut.text.lines().collect();
        assert_eq!(lines.len(), FUNCTION_LINES + 1);
        assert_eq!(lines[0], "def run():");
        assert_eq!(lines[FUNCTION_LINES], "    ...");
        assert_eq!((cut.start_line, cut.end_line, cut.chunk_id), (1, 21, 3));
        let short = Hit {
            text: "def run():\n    return 1".into(),
            ..hit
        };
        assert_eq!(outline(&short, &[]).0, short);
    }

    #[test]
    fn a_global_is_found_by_its_assignment_and_cut_out_of_its_window() {
        for (line, name, expect) in [
            ("HeaderTypes = Union[", "HeaderTypes", true),
            (
                "binary_streams: t.Mapping[str, t.Callable] = {",
                "binary_streams",
                true,
            ),
            ("export const MAX_SIZE = 10;", "MAX_SIZE", true),
            ("pub static LIMIT: u32 = 3;", "LIMIT", true),
            ("#define BUFFER 512", "BUFFER", true),
            ("    WIN = True", "WIN", false),
            ("WINDOWS = True", "WIN", false),
            ("WIN == True", "WIN", false),
            ("print(WIN)", "WIN", false),
        ] {
            assert_eq!(defines_global(line, name), expect, "{line:?} {name}");
        }
        let window = "import typing\n\nQueryTypes = typing.Union[\n    str,\n    bytes,\n]\nHeaderTypes = typing.Mapping[str, str]\n\nclass Other:\n    pass\n";
        let hit = python_hit("pkg/_types.py", 10, "code", window);
        let query = global_definition(&hit, "QueryTypes").unwrap();
        assert_eq!(
            (query.start_line, query.end_line, query.text.as_str()),
            (
                12,
                15,
                "QueryTypes = typing.Union[\n    str,\n    bytes,\n]"
            )
        );
        let header = global_definition(&hit, "HeaderTypes").unwrap();
        assert_eq!((header.start_line, header.end_line), (16, 16));
        assert_ne!(header.chunk_id, query.chunk_id);
        assert_ne!(header.chunk_id, hit.chunk_id);
        assert!(
            global_definition(&hit, "Other").is_none(),
            "a class is its own chunk's symbol"
        );
    }

    #[test]
    fn an_imported_global_and_a_much_used_class_bring_their_definitions() {
        // `ShellComplete` is named by many subclasses and `HeaderTypes` is a global (no chunk's
        // symbol), used more in another module than where it is assigned.
        let current = "from ._types import HeaderTypes, QueryTypes\nfrom .completion import ShellComplete\n\n\ndef build(\n    headers: ";
        let mut files: Vec<(String, String)> = (0..12)
            .map(|n| {
                (
                    format!("pkg/shell{n}.py"),
                    format!("class Shell{n}(ShellComplete):\n    base = ShellComplete\n"),
                )
            })
            .collect();
        files.push((
            "pkg/completion.py".into(),
            "class ShellComplete:\n    \"\"\"Completes a shell.\"\"\"\n\n    name = \"shell\"\n\n    def __init__(self, cli, prog_name):\n        self.cli = cli\n        self.prog_name = prog_name\n\n    @property\n    def complete(\n        self,\n    ) -> list:\n        return [self.cli, self.prog_name]\n".into(),
        ));
        files.push((
            "pkg/_types.py".into(),
            "import typing\n\nQueryTypes = typing.Union[str, bytes]\nHeaderTypes = typing.Mapping[str, str]\n".into(),
        ));
        files.push((
            "pkg/_models.py".into(),
            "def merge(a: HeaderTypes, b: HeaderTypes) -> HeaderTypes:\n    return a\n".into(),
        ));
        files.push(("pkg/client.py".into(), current.into()));
        let (_repo, _dir, index) = temp_repo(&files);
        let file = CurrentFile {
            path: "pkg/client.py",
            text: current,
        };
        let context = gather(&index, "def build( headers:", Some(file), 1024).unwrap();
        let defined: Vec<(&str, usize, &str)> = context
            .chunks
            .iter()
            .filter(|c| c.reason == Reason::Definition)
            .map(|c| (c.path.as_str(), c.start_line, c.text.as_str()))
            .collect();
        for expect in [
            ("pkg/_types.py", 4, "HeaderTypes = typing.Mapping[str, str]"),
            ("pkg/_types.py", 3, "QueryTypes = typing.Union[str, bytes]"),
        ] {
            assert!(defined.contains(&expect), "{expect:?} in {defined:?}");
        }
        // The class comes as its header with its methods' signatures, not their bodies.
        let class = defined
            .iter()
            .find(|(path, line, _)| *path == "pkg/completion.py" && *line == 1)
            .unwrap_or_else(|| panic!("{defined:?}"));
        assert_eq!(
            class.2,
            "class ShellComplete:\n    \"\"\"Completes a shell.\"\"\"\n\n    name = \"shell\"\n    def __init__(self, cli, prog_name):\n    @property\n    def complete(\n        self,\n    ) -> list:"
        );
        let detail = &context
            .chunks
            .iter()
            .find(|c| c.path == "pkg/completion.py" && c.reason == Reason::Definition)
            .unwrap()
            .detail;
        assert!(
            detail.contains("signatures of 2 of its members"),
            "{detail}"
        );
    }

    #[test]
    fn definitions_take_at_most_half_the_budget_and_bm25_hits_the_rest() {
        // The current file imports ten names, each defined at length: without the share their
        // definitions would fill the budget and leave the code like the cursor's out.
        let mut files: Vec<(String, String)> = (0..10)
            .map(|n| {
                let body: String = (0..12)
                    .map(|line| format!("    value_{line} = {n} * {line}\n"))
                    .collect();
                (
                    format!("pkg/mod{n}.py"),
                    format!("def helper{n}(x):\n{body}    return x\n"),
                )
            })
            .collect();
        files.push((
            "pkg/retry.py".into(),
            "def backoff_delay(attempt):\n    return min(60, 2 ** attempt)\n".into(),
        ));
        let imports: String = (0..10)
            .map(|n| format!("from .mod{n} import helper{n}\n"))
            .collect();
        let current = format!("{imports}\n\ndef retry(attempt):\n    delay = ");
        files.push(("pkg/client.py".into(), current.clone()));
        let (_repo, _dir, index) = temp_repo(&files);
        let file = CurrentFile {
            path: "pkg/client.py",
            text: &current,
        };
        let budget = 400;
        let context = gather(
            &index,
            "def retry(attempt): backoff delay",
            Some(file),
            budget,
        )
        .unwrap();
        let defined: usize = context
            .chunks
            .iter()
            .filter(|c| c.reason == Reason::Definition)
            .map(|c| c.tokens)
            .sum();
        assert!(defined > 0 && defined <= budget / 2, "{context:?}");
        assert!(
            context
                .chunks
                .iter()
                .any(|c| c.reason == Reason::Bm25 && c.path == "pkg/retry.py"),
            "{context:?}"
        );
        assert!(context.tokens <= budget);
        assert!(context.left_out > 0);
    }

    /// The embedding model under `CRUCIBLE_HOME` (as scripts/embedding-model.sh installs it).
    /// Fails, naming the command, when it is not installed.
    #[cfg(feature = "embeddings")]
    fn embedding_model() -> std::sync::Arc<crate::repo_index::EmbeddingModel> {
        let home = crucible_model::env::crucible_home_from_env().unwrap();
        let loaded = crate::repo_index::EmbeddingModel::load(&home);
        std::sync::Arc::new(loaded.unwrap_or_else(|err| {
            panic!("{err}; run scripts/embedding-model.sh (scripts/setup.sh does)")
        }))
    }

    #[cfg(feature = "embeddings")]
    #[test]
    fn hybrid_context_ranks_by_meaning_and_says_how_each_chunk_ranked() {
        let (repo, dir, bm25) = temp_repo(&[
            (
                "geometry/units.py",
                "def inches_to_cm(inches):\n    \"\"\"Centimetres in the given inches.\"\"\"\n    return inches * 2.54\n",
            ),
            (
                "geometry/shapes.py",
                "def rectangle_area(width, height):\n    return width * height\n",
            ),
            ("report.py", "def total(rooms):\n    return 0\n"),
        ]);
        let query = "convert an imperial length into a metric one";
        let plain = gather(&bm25, query, None, 200).unwrap();
        assert!(
            plain.chunks.iter().all(|c| c.path != "geometry/units.py"),
            "{plain:?}"
        );
        drop(bm25);
        let mut hybrid = RepoIndex::open(repo.path(), dir.path(), Some(embedding_model())).unwrap();
        let updated = hybrid.update().unwrap();
        assert_eq!(updated.embedded.unwrap().embedded, 3, "{updated:?}");
        let context = gather(&hybrid, query, None, 200).unwrap();
        let units = context
            .chunks
            .iter()
            .find(|c| c.path == "geometry/units.py")
            .unwrap_or_else(|| panic!("{context:?}"));
        assert_eq!(units.reason, Reason::Hybrid);
        assert!(
            units
                .detail
                .starts_with("not in the bm25 top; embedding rank 1 (cosine 0."),
            "{}",
            units.detail
        );
        // Best last: the nearest chunk to the prompt is the embedding's first.
        assert_eq!(context.chunks.last().unwrap().path, "geometry/units.py");

        // A saved file's new chunk is embedded (only it), and the kept context is stale.
        let mut cache = ContextCache::new();
        assert!(
            !cache
                .gather(&hybrid, query, None, None, 200)
                .unwrap()
                .cached
        );
        assert!(
            cache
                .gather(&hybrid, query, None, None, 200)
                .unwrap()
                .cached
        );
        let added = repo.path().join("geometry/metric.py");
        std::fs::write(
            &added,
            "def feet_to_metres(feet):\n    return feet * 0.3048\n",
        )
        .unwrap();
        let updated = hybrid.update_paths(&[added]).unwrap();
        let embedded = updated.embedded.unwrap();
        assert_eq!((embedded.embedded, embedded.reused), (1, 3), "{updated:?}");
        let fresh = cache.gather(&hybrid, query, None, None, 200).unwrap();
        assert!(!fresh.cached);
        assert!(
            fresh
                .context
                .chunks
                .iter()
                .any(|c| c.path == "geometry/metric.py" && c.reason == Reason::Hybrid),
            "{:?}",
            fresh.context
        );
    }
}
