//! The repository-level benchmark: RepoBench-style next-line prediction tasks made from real
//! repositories on disk (`crucible data repobench`), and their evaluation through the one
//! completion path with repository context (`crucible repobench`, in [`eval`]).
//!
//! [`build`] walks each source tree, reads each Python and Rust file's import statements
//! (tree-sitter, through `crucible-index`), keeps the names imported from the repository itself
//! (relative and in-package Python imports; `crate::`, `self::`, `super::` and the crate's own
//! name in Rust) and labels every code line after them with RepoBench's settings:
//! `cross_file_first` (the line uses a name imported from another file of the repository that
//! no earlier line of the file used), `cross_file_random` (it uses such names, all used
//! before) and `in_file` (it uses none). A seeded shuffle picks the tasks, spread over the
//! repositories and at most [`PER_FILE`] per file and setting, so the same trees and seed give
//! the same file. The manifest records each repository's name, version, a sha256 of its files
//! and, when the archive it was unpacked from is found, the archive's sha256.

pub mod eval;
pub mod functions;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crucible_eval::fetch::sha256_hex;

use crucible_index::imports::import_statements;
use crucible_index::walk::{WalkParams, walk_repository};

use crate::complete::prefix_window;
use crate::{Error, Result};

/// Tasks taken from one file per setting at most, so a few long files do not dominate.
pub const PER_FILE: usize = 2;
/// Bytes of the file before the line that a task keeps by default (whole lines).
pub const PREFIX_BYTES: usize = 12_000;
/// Lines of the file that must come before a task's line.
const MIN_LINE: usize = 5;
/// The task file and the manifest in a build's output directory.
pub const TASKS_FILE: &str = "tasks.jsonl";
pub const MANIFEST_FILE: &str = "manifest.json";

/// RepoBench's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// The line uses a cross-file name for the first time in the file.
    CrossFileFirst,
    /// The line uses cross-file names the file used before.
    CrossFileRandom,
    /// The line uses no cross-file name.
    InFile,
    /// RepoEval's function-level completion: a function's body, judged by the package's own
    /// tests ([`functions`]).
    Function,
}

impl Setting {
    /// All settings, in report order.
    pub const ALL: [Setting; 4] = [
        Setting::CrossFileFirst,
        Setting::CrossFileRandom,
        Setting::InFile,
        Setting::Function,
    ];
    /// The next-line settings, which [`build`] labels.
    pub const LINES: [Setting; 3] = [
        Setting::CrossFileFirst,
        Setting::CrossFileRandom,
        Setting::InFile,
    ];

    /// The name RepoBench uses.
    pub fn name(self) -> &'static str {
        match self {
            Setting::CrossFileFirst => "cross_file_first",
            Setting::CrossFileRandom => "cross_file_random",
            Setting::InFile => "in_file",
            Setting::Function => "function",
        }
    }
}

/// The languages tasks are made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskLanguage {
    Python,
    Rust,
}

impl TaskLanguage {
    fn of(path: &str) -> Option<TaskLanguage> {
        if path.ends_with(".py") {
            Some(TaskLanguage::Python)
        } else if path.ends_with(".rs") {
            Some(TaskLanguage::Rust)
        } else {
            None
        }
    }

    fn syntax(self) -> crucible_syntax::SyntaxLanguage {
        match self {
            TaskLanguage::Python => crucible_syntax::SyntaxLanguage::Python,
            TaskLanguage::Rust => crucible_syntax::SyntaxLanguage::Rust,
        }
    }
}

/// One next-line prediction task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoTask {
    /// `<repository>/<path>:<line>`.
    pub id: String,
    /// The repository's name and version (`name-version`), as in the manifest.
    pub repo: String,
    /// The repository's root directory (absolute).
    pub repo_root: PathBuf,
    /// The file, relative to the root.
    pub path: String,
    /// The line to predict, 1-based.
    pub line: usize,
    pub language: TaskLanguage,
    pub setting: Setting,
    /// The file before the line (at most [`BuildParams::prefix_bytes`], whole lines), ending
    /// with a newline.
    pub prefix: String,
    /// The line to predict, without its newline.
    pub gold: String,
    /// The cross-file name the line uses (the first new one for `cross_file_first`); for a
    /// function task, the function's name.
    pub symbol: Option<String>,
    /// A function task's file after the body (at most [`functions::SUFFIX_BYTES`], whole
    /// lines); empty for next-line tasks.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub suffix: String,
    /// How a function task's body is judged: its package's tests (absent for next-line tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<crucible_eval::judge::package::PackageJudge>,
}

/// A repository that went into a build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoSource {
    /// `name-version`: the directory's name.
    pub repo: String,
    pub name: String,
    /// The version from the directory name, if it has one.
    pub version: Option<String>,
    pub root: PathBuf,
    /// sha256 over the sorted Python and Rust files' paths and bytes.
    pub files_sha256: String,
    pub files: usize,
    /// The archive the tree was unpacked from, when found (the cargo registry's `.crate`, or a
    /// `.tar.gz`, `.zip` or `.crate` of the same name beside the directory).
    pub archive: Option<PathBuf>,
    pub archive_sha256: Option<String>,
    /// Candidate lines per setting before sampling.
    pub candidates: BTreeMap<String, usize>,
}

/// What a build recorded besides its tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub seed: u64,
    pub per_setting: usize,
    pub prefix_bytes: usize,
    pub repos: Vec<RepoSource>,
    /// Tasks per setting.
    pub tasks: BTreeMap<String, usize>,
    /// The repositories of the function tasks, when the build made them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<functions::FunctionSource>,
}

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildParams {
    /// The source trees.
    pub from: Vec<PathBuf>,
    pub seed: u64,
    /// Tasks per setting at most.
    pub per_setting: usize,
    /// Bytes of the file before the line a task keeps (whole lines; [`PREFIX_BYTES`]).
    pub prefix_bytes: usize,
}

/// A build's tasks and manifest.
#[derive(Debug, Clone)]
pub struct Built {
    pub tasks: Vec<RepoTask>,
    pub manifest: Manifest,
}

/// Make the tasks of `params`: see the module docs.
pub fn build(params: &BuildParams) -> Result<Built> {
    let mut sources = Vec::new();
    let mut candidates: Vec<Vec<RepoTask>> = Vec::new();
    for root in source_roots(&params.from)? {
        let (source, tasks) = scan_repository(&root, params.prefix_bytes)?;
        sources.push(source);
        candidates.push(tasks);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(params.seed);
    let mut tasks = Vec::new();
    let mut counts = BTreeMap::new();
    for setting in Setting::LINES {
        let mut per_repo: Vec<Vec<&RepoTask>> = candidates
            .iter()
            .map(|repo| repo.iter().filter(|t| t.setting == setting).collect())
            .collect();
        for repo in &mut per_repo {
            repo.shuffle(&mut rng);
        }
        let mut per_file: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut picked: Vec<&RepoTask> = Vec::new();
        let mut cursors = vec![0usize; per_repo.len()];
        // Round-robin over the repositories, so each contributes while it has lines left.
        'fill: loop {
            let mut progressed = false;
            for (repo, cursor) in per_repo.iter().zip(cursors.iter_mut()) {
                while *cursor < repo.len() {
                    let task = repo[*cursor];
                    *cursor += 1;
                    let used = per_file
                        .entry((task.repo.clone(), task.path.clone()))
                        .or_default();
                    if *used < PER_FILE {
                        *used += 1;
                        picked.push(task);
                        progressed = true;
                        break;
                    }
                }
                if picked.len() == params.per_setting {
                    break 'fill;
                }
            }
            if !progressed {
                break;
            }
        }
        counts.insert(setting.name().to_string(), picked.len());
        tasks.extend(picked.into_iter().cloned());
    }
    Ok(Built {
        tasks,
        manifest: Manifest {
            seed: params.seed,
            per_setting: params.per_setting,
            prefix_bytes: params.prefix_bytes,
            repos: sources,
            tasks: counts,
            functions: Vec::new(),
        },
    })
}

/// Write `built` to `out` (created): [`TASKS_FILE`] and [`MANIFEST_FILE`].
pub fn write(built: &Built, out: &Path) -> Result<()> {
    let io = |source| Error::Io {
        path: out.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(out).map_err(io)?;
    let mut lines = String::new();
    for task in &built.tasks {
        lines.push_str(&serde_json::to_string(task).expect("a task serialises"));
        lines.push('\n');
    }
    std::fs::write(out.join(TASKS_FILE), lines).map_err(io)?;
    let manifest = serde_json::to_string_pretty(&built.manifest).expect("a manifest serialises");
    std::fs::write(out.join(MANIFEST_FILE), manifest + "\n").map_err(io)?;
    Ok(())
}

/// Read a task file that [`write`] made.
pub fn read_tasks(path: &Path) -> Result<Vec<RepoTask>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut tasks = Vec::new();
    for (at, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let task = serde_json::from_str(line).map_err(|err| Error::MalformedFile {
            path: path.to_path_buf(),
            message: format!(
                "line {}: {err}; make the file with `crucible data repobench`",
                at + 1
            ),
        })?;
        tasks.push(task);
    }
    Ok(tasks)
}

/// `name-1.2.3` → (`name`, `1.2.3`): the version starts after the first `-` followed by a digit.
fn name_and_version(dir: &str) -> (String, Option<String>) {
    let split = dir
        .char_indices()
        .filter(|&(at, ch)| {
            ch == '-'
                && dir[at + 1..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
        })
        .map(|(at, _)| at)
        .next();
    match split {
        Some(at) => (dir[..at].to_string(), Some(dir[at + 1..].to_string())),
        None => (dir.to_string(), None),
    }
}

/// The archive `root` was unpacked from: the cargo registry's cache entry for a
/// `registry/src/<index>/<crate>` directory, or an archive of the same name beside it.
fn find_archive(root: &Path) -> Option<PathBuf> {
    let name = root.file_name()?.to_string_lossy().into_owned();
    let parent = root.parent()?;
    let mut candidates = Vec::new();
    if let (Some(index), Some(src)) = (parent.file_name(), parent.parent())
        && src.file_name().is_some_and(|n| n == "src")
        && let Some(registry) = src.parent()
    {
        candidates.push(
            registry
                .join("cache")
                .join(index)
                .join(format!("{name}.crate")),
        );
    }
    for ext in ["tar.gz", "zip", "crate", "tgz"] {
        candidates.push(parent.join(format!("{name}.{ext}")));
    }
    candidates.into_iter().find(|path| path.is_file())
}

/// The source trees `from` names, each once (a directory given twice is read once): at least
/// one, each a directory, and no two with the same name, which names a repository's tasks and
/// its files under the output.
fn source_roots(from: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if from.is_empty() {
        return Err(Error::Setting {
            name: "from",
            problem: "names no source tree; pass `--from DIR` once per repository".into(),
        });
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    for root in from {
        let root = source_root(root)?;
        if roots.contains(&root) {
            continue;
        }
        let name = repo_dir(&root);
        if let Some(other) = roots.iter().find(|other| repo_dir(other) == name) {
            return Err(Error::Setting {
                name: "from",
                problem: format!(
                    "`{}` and `{}` are both named `{name}`, and a repository's name tells its tasks apart; rename one of the directories",
                    other.display(),
                    root.display()
                ),
            });
        }
        roots.push(root);
    }
    Ok(roots)
}

/// `root` as an absolute path, which must be a directory (the error names `--from`).
fn source_root(root: &Path) -> Result<PathBuf> {
    let canonical = std::fs::canonicalize(root).map_err(|source| Error::Io {
        path: root.to_path_buf(),
        source,
    })?;
    if !canonical.is_dir() {
        return Err(Error::Setting {
            name: "from",
            problem: format!(
                "`{}` is not a directory; unpack the archive and pass its directory",
                canonical.display()
            ),
        });
    }
    Ok(canonical)
}

/// A repository's directory name (`name-1.2.3`), which names it in tasks and manifests.
fn repo_dir(root: &Path) -> String {
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repository".into())
}

/// Every candidate line of one repository, and what the manifest says of it.
fn scan_repository(root: &Path, prefix_bytes: usize) -> Result<(RepoSource, Vec<RepoTask>)> {
    let dir = repo_dir(root);
    let (name, version) = name_and_version(&dir);
    let walked = walk_repository(root, &WalkParams::default())?;
    let files: Vec<(String, TaskLanguage)> = walked
        .files
        .iter()
        .filter_map(|f| TaskLanguage::of(&f.relative).map(|l| (f.relative.clone(), l)))
        .collect();
    let local = LocalModules::of(root, &name, &files);
    let mut hasher = Sha256::new();
    let mut tasks = Vec::new();
    for (relative, language) in &files {
        let path = crucible_index::walk::full_path(root, relative);
        let bytes = std::fs::read(&path).map_err(|source| Error::Io { path, source })?;
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
        let Ok(text) = String::from_utf8(bytes) else {
            tracing::debug!(file = %relative, "not UTF-8: no tasks from it");
            continue;
        };
        for line in label_lines(*language, &text, &local) {
            let before: String = text.split_inclusive('\n').take(line.index).collect();
            tasks.push(RepoTask {
                id: format!("{dir}/{relative}:{}", line.index + 1),
                repo: dir.clone(),
                repo_root: root.to_path_buf(),
                path: relative.clone(),
                line: line.index + 1,
                language: *language,
                setting: line.setting,
                prefix: prefix_window(&before, prefix_bytes, 1).to_string(),
                gold: line.text,
                symbol: line.symbol,
                suffix: String::new(),
                judge: None,
            });
        }
    }
    let mut candidates = BTreeMap::new();
    for setting in Setting::LINES {
        let n = tasks.iter().filter(|t| t.setting == setting).count();
        candidates.insert(setting.name().to_string(), n);
    }
    let archive = find_archive(root);
    let archive_sha256 = match &archive {
        Some(path) => Some(sha256_hex(&std::fs::read(path).map_err(|source| {
            Error::Io {
                path: path.clone(),
                source,
            }
        })?)),
        None => None,
    };
    let source = RepoSource {
        repo: dir,
        name,
        version,
        root: root.to_path_buf(),
        files_sha256: hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        files: files.len(),
        archive,
        archive_sha256,
        candidates,
    };
    Ok((source, tasks))
}

/// What counts as the repository's own code in import statements.
#[derive(Debug, Default)]
struct LocalModules {
    /// Python top-level packages and modules (at the root, or under `src/`).
    python: BTreeSet<String>,
    /// The crate's name as Rust paths spell it.
    rust_crate: String,
}

impl LocalModules {
    fn of(root: &Path, name: &str, files: &[(String, TaskLanguage)]) -> LocalModules {
        let mut python = BTreeSet::new();
        for (relative, language) in files {
            if *language != TaskLanguage::Python {
                continue;
            }
            let inner = relative.strip_prefix("src/").unwrap_or(relative);
            let first = inner.split('/').next().unwrap_or(inner);
            let module = first.strip_suffix(".py").unwrap_or(first);
            if !module.is_empty() && module != "setup" && module != "conftest" {
                python.insert(module.to_string());
            }
        }
        let _ = root;
        LocalModules {
            python,
            rust_crate: name.replace('-', "_"),
        }
    }

    /// The names an import statement binds that come from the repository.
    fn bound_names(&self, language: TaskLanguage, statement: &str) -> Vec<String> {
        match language {
            TaskLanguage::Python => self.python_names(statement),
            TaskLanguage::Rust => self.rust_names(statement),
        }
    }

    fn python_local(&self, module: &str) -> bool {
        module.starts_with('.')
            || self
                .python
                .contains(module.split('.').next().unwrap_or(module))
    }

    fn python_names(&self, statement: &str) -> Vec<String> {
        let flat: String = statement
            .chars()
            .map(|c| {
                if matches!(c, '(' | ')' | '\\' | '\n') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        let words: Vec<&str> = flat.split_whitespace().collect();
        let mut names = Vec::new();
        if words.first() == Some(&"from") {
            let Some(module) = words.get(1) else {
                return names;
            };
            if !self.python_local(module) {
                return names;
            }
            let Some(at) = flat.find(" import ") else {
                return names;
            };
            for item in flat[at + " import ".len()..].split(',') {
                let parts: Vec<&str> = item.split_whitespace().collect();
                match parts.as_slice() {
                    [name] if *name != "*" => names.push((*name).to_string()),
                    [_, "as", alias] => names.push((*alias).to_string()),
                    _ => {}
                }
            }
        } else if words.first() == Some(&"import") {
            for item in flat["import".len()..].split(',') {
                let parts: Vec<&str> = item.split_whitespace().collect();
                match parts.as_slice() {
                    [module] if self.python_local(module) => {
                        names.push(module.split('.').next().unwrap_or(module).to_string());
                    }
                    [module, "as", alias] if self.python_local(module) => {
                        names.push((*alias).to_string());
                    }
                    _ => {}
                }
            }
        }
        names
    }

    fn rust_names(&self, statement: &str) -> Vec<String> {
        let Some(at) = statement.find("use ") else {
            return Vec::new();
        };
        let tree: String = statement[at + 4..]
            .trim_end()
            .trim_end_matches(';')
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut names = Vec::new();
        for path in expand_use_tree(&tree) {
            let segments: Vec<&str> = path.iter().map(String::as_str).collect();
            let Some(first) = segments.first() else {
                continue;
            };
            let first = first.trim_start_matches("::");
            let local = matches!(first, "crate" | "self" | "super") || first == self.rust_crate;
            if !local || segments.len() < 2 {
                continue;
            }
            let last = segments[segments.len() - 1];
            if last == "*" {
                continue;
            }
            let bound = match last.split_once(" as ") {
                Some((_, alias)) => alias.trim(),
                None if last == "self" => segments[segments.len() - 2],
                None => last,
            };
            if bound != "_" && !bound.is_empty() {
                names.push(bound.to_string());
            }
        }
        names
    }
}

/// The paths of a Rust use tree (`a::{b, c::{d as e}}` → `[a, b]`, `[a, c, d as e]`).
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    fn split_top(text: &str) -> Vec<&str> {
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
        for (at, ch) in text.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&text[start..at]);
                    start = at + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        parts
    }
    fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>, depth: usize) {
        let tree = tree.trim();
        if tree.is_empty() || depth > 16 {
            return;
        }
        if let Some(open) = tree.find('{') {
            let head = tree[..open].trim().trim_end_matches("::");
            let mut path = prefix.to_vec();
            path.extend(
                head.split("::")
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().to_string()),
            );
            let inner = tree[open + 1..].trim_end();
            let inner = inner.strip_suffix('}').unwrap_or(inner);
            for part in split_top(inner) {
                expand(&path, part, out, depth + 1);
            }
        } else {
            let mut path = prefix.to_vec();
            path.extend(
                tree.split("::")
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().to_string()),
            );
            out.push(path);
        }
    }
    let mut out = Vec::new();
    expand(&[], tree, &mut out, 0);
    out
}

/// A line that can be a task.
#[derive(Debug, Clone, PartialEq)]
struct Labelled {
    /// 0-based.
    index: usize,
    text: String,
    setting: Setting,
    symbol: Option<String>,
}

/// Label the code lines of a file (see the module docs). Lines inside import statements,
/// blank and comment lines, lines without an identifier and lines before [`MIN_LINE`] are no
/// tasks; a line's cross-file names are those imported by statements that end before it.
fn label_lines(language: TaskLanguage, text: &str, local: &LocalModules) -> Vec<Labelled> {
    let statements = import_statements(language.syntax(), text);
    let mut import_lines = BTreeSet::new();
    for statement in &statements {
        import_lines.extend(statement.start_line - 1..statement.end_line);
    }
    let comment = match language {
        TaskLanguage::Python => "#",
        TaskLanguage::Rust => "//",
    };
    let mut imported: BTreeSet<String> = BTreeSet::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut next_statement = 0;
    let mut labelled = Vec::new();
    let mut in_docstring = false;
    for (index, line) in text.lines().enumerate() {
        while next_statement < statements.len() && statements[next_statement].end_line <= index {
            imported.extend(local.bound_names(language, &statements[next_statement].text));
            next_statement += 1;
        }
        let trimmed = line.trim();
        if language == TaskLanguage::Python {
            let quotes = trimmed.matches("\"\"\"").count() + trimmed.matches("'''").count();
            let was = in_docstring;
            if quotes % 2 == 1 {
                in_docstring = !in_docstring;
            }
            if was || quotes > 0 {
                continue;
            }
        }
        if import_lines.contains(&index) || trimmed.is_empty() || trimmed.starts_with(comment) {
            continue;
        }
        let identifiers = code_identifiers(language, line);
        if identifiers.is_empty() {
            continue;
        }
        let cross: Vec<&String> = identifiers
            .iter()
            .filter(|name| imported.contains(*name))
            .collect();
        let first_new = cross.iter().find(|name| !used.contains(**name));
        let (setting, symbol) = match (first_new, cross.first()) {
            (Some(name), _) => (Setting::CrossFileFirst, Some((*name).clone())),
            (None, Some(name)) => (Setting::CrossFileRandom, Some((*name).clone())),
            (None, None) => (Setting::InFile, None),
        };
        used.extend(cross.into_iter().cloned());
        if index >= MIN_LINE && trimmed.len() >= 4 {
            labelled.push(Labelled {
                index,
                text: line.to_string(),
                setting,
                symbol,
            });
        }
    }
    labelled
}

/// The identifiers of a line's code: outside string literals and before a line comment.
fn code_identifiers(language: TaskLanguage, line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if word
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        {
            out.push(std::mem::take(word));
        }
        word.clear();
    };
    while let Some((at, ch)) = chars.next() {
        let quote = ch == '"' || (ch == '\'' && language == TaskLanguage::Python);
        if quote {
            flush(&mut word, &mut out);
            let mut escaped = false;
            for (_, c) in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == ch {
                    break;
                }
            }
            continue;
        }
        let comment = match language {
            TaskLanguage::Python => ch == '#',
            TaskLanguage::Rust => line[at..].starts_with("//"),
        };
        if comment {
            break;
        }
        if ch.is_alphanumeric() || ch == '_' {
            word.push(ch);
        } else {
            flush(&mut word, &mut out);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests;
