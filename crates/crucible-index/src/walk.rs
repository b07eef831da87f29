//! Walking a repository as ripgrep does (`.gitignore`, `.ignore`, hidden files skipped) and
//! deciding which files are worth indexing: binaries, huge, generated and vendored files and
//! files with very long lines are skipped, each with its reason.
//!
//! The walk is separate from reading: [`walk_repository`] looks only at names and metadata,
//! [`check_content`] at the bytes once a file is read. crucible-data has a walker of the same
//! shape (`ignore`-based, skips with reasons); the two are meant to merge into one module when
//! both are on main.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use crate::{Error, Result};

/// Limits of what is indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkParams {
    /// Files larger than this are skipped (default 1 MiB: source files past it are nearly
    /// always generated tables or data).
    pub max_file_bytes: u64,
    /// Files with a line longer than this are skipped as minified or generated (default 1000).
    pub max_line_bytes: usize,
    /// Threads for walking (0: one per core).
    pub threads: usize,
}

impl Default for WalkParams {
    fn default() -> WalkParams {
        WalkParams {
            max_file_bytes: 1 << 20,
            max_line_bytes: 1000,
            threads: 0,
        }
    }
}

/// A file the walk found worth reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkedFile {
    /// The path relative to the repository root, with `/` separators.
    pub relative: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the epoch (0 when the platform has none).
    pub mtime_ns: u64,
}

/// Why a file is left out of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Larger than [`WalkParams::max_file_bytes`].
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A NUL byte in its first 8 KiB.
    Binary,
    /// A line longer than [`WalkParams::max_line_bytes`].
    LongLine {
        /// The longest line's length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Generated: by its name (`*.min.js`, `*_pb2.py`, lock files) or a marker in its first
    /// lines (`@generated`, `Code generated ... DO NOT EDIT`).
    Generated {
        /// What gave it away.
        marker: String,
    },
    /// Under a vendored directory (`vendor/`, `node_modules/`, `third_party/`).
    Vendored {
        /// The directory name.
        directory: String,
    },
    /// A data or media format, not text to search (`.csv`, `.svg`, `.lock`, ...).
    DataFile {
        /// Its extension.
        extension: String,
    },
    /// It could not be read.
    Unreadable {
        /// The IO error.
        error: String,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::TooLarge { bytes, limit } => {
                write!(f, "too large: {bytes} bytes (limit {limit})")
            }
            SkipReason::Binary => f.write_str("binary (a NUL byte in the first 8 KiB)"),
            SkipReason::LongLine { bytes, limit } => write!(
                f,
                "a line of {bytes} bytes (limit {limit}): minified or generated"
            ),
            SkipReason::Generated { marker } => write!(f, "generated ({marker})"),
            SkipReason::Vendored { directory } => write!(f, "vendored (under `{directory}/`)"),
            SkipReason::DataFile { extension } => write!(f, "a data file (`.{extension}`)"),
            SkipReason::Unreadable { error } => write!(f, "unreadable: {error}"),
        }
    }
}

/// A file left out, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The path relative to the repository root.
    pub relative: String,
    /// Why.
    pub reason: SkipReason,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Files to read, sorted by path.
    pub files: Vec<WalkedFile>,
    /// Files left out by name or size, sorted by path.
    pub skipped: Vec<Skipped>,
    /// Whether the root is inside a git repository (else `.gitignore` files are not applied,
    /// as in ripgrep).
    pub in_git: bool,
}

/// Directory names whose contents are someone else's code.
const VENDORED_DIRS: &[&str] = &[
    "node_modules",
    "vendor",
    "third_party",
    "third-party",
    "bower_components",
];

/// Extensions of data, media and lock files: text, maybe, but not code to retrieve.
const DATA_EXTENSIONS: &[&str] = &[
    "lock", "csv", "tsv", "svg", "map", "jsonl", "ndjson", "parquet", "pdf", "png", "jpg", "jpeg",
    "gif", "ico", "woff", "woff2", "ttf", "otf", "zip", "gz", "xz", "zst", "bz2", "tar", "wasm",
    "so", "a", "o", "rlib", "dll", "exe", "bin", "dat", "pyc", "class", "jar",
];

/// File name endings of generated code.
const GENERATED_SUFFIXES: &[&str] = &[
    ".min.js",
    ".min.css",
    ".pb.go",
    "_pb2.py",
    "_pb2_grpc.py",
    ".pb.h",
    ".pb.cc",
    ".g.dart",
    ".designer.cs",
    "package-lock.json",
    "pnpm-lock.yaml",
];

/// Markers that tools write into the first lines of files they generate.
const GENERATED_MARKERS: &[&str] = &[
    "@generated",
    "code generated",
    "do not edit",
    "auto-generated",
    "autogenerated",
    "automatically generated",
];

/// Walk `root` and list the files worth reading.
///
/// A missing root or one that is not a directory is an error naming it; a directory outside any
/// git repository is walked without `.gitignore` rules, as ripgrep does (the caller is told by
/// [`Walk::in_git`]). Entries that cannot be read are skipped with their error, never fatal.
pub fn walk_repository(root: &Path, params: &WalkParams) -> Result<Walk> {
    let meta = std::fs::metadata(root).map_err(|source| Error::Root {
        path: root.to_path_buf(),
        problem: format!("cannot be read: {source}"),
    })?;
    if !meta.is_dir() {
        return Err(Error::Root {
            path: root.to_path_buf(),
            problem: "is not a directory".into(),
        });
    }
    let in_git = root.ancestors().any(|dir| dir.join(".git").exists());
    let threads = if params.threads == 0 {
        std::thread::available_parallelism().map_or(2, usize::from)
    } else {
        params.threads
    };
    let found = Mutex::new(Walk {
        in_git,
        ..Walk::default()
    });
    let pruned: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
    let pruned_in_filter = Arc::clone(&pruned);
    ignore::WalkBuilder::new(root)
        .threads(threads)
        .filter_entry(move |entry| {
            let vendored = entry.file_type().is_some_and(|kind| kind.is_dir())
                && entry.depth() > 0
                && VENDORED_DIRS.contains(&entry.file_name().to_string_lossy().as_ref());
            if vendored {
                lock(&pruned_in_filter).push(entry.path().to_path_buf());
            }
            !vendored
        })
        .build_parallel()
        .run(|| {
            let found = &found;
            Box::new(move |entry| {
                let outcome = classify(root, entry, params);
                let mut found = lock(found);
                match outcome {
                    Some(Ok(file)) => found.files.push(file),
                    Some(Err(skip)) => found.skipped.push(skip),
                    None => {}
                }
                ignore::WalkState::Continue
            })
        });
    let mut walk = found
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner());
    for dir in lock(&pruned).iter() {
        if let Some(relative) = relative_path(root, dir) {
            let directory = dir
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            walk.skipped.push(Skipped {
                relative,
                reason: SkipReason::Vendored { directory },
            });
        }
    }
    walk.files.sort_by(|a, b| a.relative.cmp(&b.relative));
    walk.skipped.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(walk)
}

/// Walk only the files `relatives` (repository-relative, `/`-separated) name: those that exist
/// and that [`walk_repository`] would list. Each file's directory is listed with the same ignore
/// rules (its parents' `.gitignore` files included), so the answer matches a full walk.
pub fn walk_paths(root: &Path, relatives: &BTreeSet<String>, params: &WalkParams) -> Result<Walk> {
    let in_git = root.ancestors().any(|dir| dir.join(".git").exists());
    let mut walk = Walk {
        in_git,
        ..Walk::default()
    };
    let mut by_dir: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut entered = EnteredDirs::default();
    for relative in relatives {
        let mut parts: Vec<&str> = relative.split('/').collect();
        let Some(name) = parts.pop() else { continue };
        if let Some(directory) = parts.iter().find(|part| VENDORED_DIRS.contains(part)) {
            walk.skipped.push(Skipped {
                relative: relative.clone(),
                reason: SkipReason::Vendored {
                    directory: (*directory).to_string(),
                },
            });
            continue;
        }
        if !entered.walks_into(root, &parts) {
            continue; // under an ignored or hidden directory: the full walk never enters it
        }
        let dir = &relative[..relative.len() - name.len()];
        by_dir
            .entry(dir.trim_end_matches('/'))
            .or_default()
            .insert(name);
    }
    for (dir, names) in by_dir {
        let walker = ignore::WalkBuilder::new(root.join(dir))
            .max_depth(Some(1))
            .build();
        for entry in walker {
            let wanted = entry
                .as_ref()
                .is_ok_and(|entry| names.contains(entry.file_name().to_string_lossy().as_ref()));
            if !wanted {
                continue;
            }
            match classify(root, entry, params) {
                Some(Ok(file)) => walk.files.push(file),
                Some(Err(skip)) => walk.skipped.push(skip),
                None => {}
            }
        }
    }
    walk.files.sort_by(|a, b| a.relative.cmp(&b.relative));
    walk.skipped.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(walk)
}

/// Which directories the full walk enters, found one level at a time with the same walker (so
/// `.gitignore` rules on a parent directory, hidden directories and `.ignore` files count for a
/// named path as they do in [`walk_repository`]); each directory is listed once.
#[derive(Default)]
struct EnteredDirs {
    /// Repository-relative directory -> the names of the subdirectories the walk enters.
    listed: BTreeMap<String, BTreeSet<String>>,
}

impl EnteredDirs {
    /// Whether the walk reaches the directory `parts` (repository-relative components).
    fn walks_into(&mut self, root: &Path, parts: &[&str]) -> bool {
        let mut dir = String::new();
        for part in parts {
            let entered = self.listed.entry(dir.clone()).or_insert_with(|| {
                ignore::WalkBuilder::new(root.join(&dir))
                    .max_depth(Some(1))
                    .build()
                    .filter_map(std::result::Result::ok)
                    .filter(|entry| {
                        entry.depth() == 1 && entry.file_type().is_some_and(|kind| kind.is_dir())
                    })
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            });
            if !entered.contains(*part) {
                return false;
            }
            if !dir.is_empty() {
                dir.push('/');
            }
            dir.push_str(part);
        }
        true
    }
}

/// Whether a file's content is worth indexing; `bytes` is the whole file.
pub fn check_content(bytes: &[u8], params: &WalkParams) -> std::result::Result<(), SkipReason> {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return Err(SkipReason::Binary);
    }
    let head_text = String::from_utf8_lossy(&head[..head.len().min(1024)]).to_lowercase();
    let marker = head_text.lines().take(5).find_map(|line| {
        GENERATED_MARKERS
            .iter()
            .find(|marker| line.contains(*marker))
    });
    if let Some(marker) = marker {
        return Err(SkipReason::Generated {
            marker: format!("`{marker}` in its first lines"),
        });
    }
    let longest = bytes
        .split(|&byte| byte == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    if longest > params.max_line_bytes {
        return Err(SkipReason::LongLine {
            bytes: longest,
            limit: params.max_line_bytes,
        });
    }
    Ok(())
}

/// The path of `relative` under `root`.
pub fn full_path(root: &Path, relative: &str) -> PathBuf {
    root.join(relative)
}

/// The repository-relative form of `path` (`/`-separated), if it is under `root`.
pub fn relative_path(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Decide about one walk entry: `None` for directories and things that are not files.
fn classify(
    root: &Path,
    entry: std::result::Result<ignore::DirEntry, ignore::Error>,
    params: &WalkParams,
) -> Option<std::result::Result<WalkedFile, Skipped>> {
    let entry = match entry {
        Ok(entry) => entry,
        Err(err) => {
            // A directory or file the walk could not read: name it when the error does.
            let relative = error_path(&err)
                .and_then(|path| relative_path(root, &path))
                .unwrap_or_else(|| "(unknown path)".into());
            return Some(Err(Skipped {
                relative,
                reason: SkipReason::Unreadable {
                    error: err.to_string(),
                },
            }));
        }
    };
    if !entry.file_type().is_some_and(|kind| kind.is_file()) {
        return None;
    }
    let relative = relative_path(root, entry.path())?;
    let skip = |reason| {
        Some(Err(Skipped {
            relative: relative.clone(),
            reason,
        }))
    };
    let name = entry.file_name().to_string_lossy().to_lowercase();
    if let Some(suffix) = GENERATED_SUFFIXES
        .iter()
        .find(|suffix| name.ends_with(*suffix))
    {
        return skip(SkipReason::Generated {
            marker: format!("its name ends in `{suffix}`"),
        });
    }
    let extension = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    if DATA_EXTENSIONS.contains(&extension) {
        return skip(SkipReason::DataFile {
            extension: extension.to_string(),
        });
    }
    let meta = match entry.metadata() {
        Ok(meta) => meta,
        Err(err) => {
            return skip(SkipReason::Unreadable {
                error: err.to_string(),
            });
        }
    };
    if meta.len() > params.max_file_bytes {
        return skip(SkipReason::TooLarge {
            bytes: meta.len(),
            limit: params.max_file_bytes,
        });
    }
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        });
    Some(Ok(WalkedFile {
        relative,
        size: meta.len(),
        mtime_ns,
    }))
}

fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        _ => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, text: &[u8]) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn walks_respecting_gitignore_and_skipping_by_name_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        write(root, ".gitignore", b"build/\n*.tmp\n");
        write(root, "src/main.rs", b"fn main() {}\n");
        write(root, "build/out.rs", b"fn generated() {}\n");
        write(root, "notes.tmp", b"scratch\n");
        write(root, "node_modules/dep/index.js", b"module.exports = 1;\n");
        write(root, "app.min.js", b"var a=1;\n");
        write(root, "data.csv", b"a,b\n");
        write(root, "big.py", &vec![b'x'; 2048]);
        write(root, ".hidden/secret.py", b"x = 1\n");
        let params = WalkParams {
            max_file_bytes: 1024,
            ..WalkParams::default()
        };
        let walk = walk_repository(root, &params).unwrap();
        assert!(walk.in_git);
        let files: Vec<&str> = walk.files.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(files, ["src/main.rs"]);
        let skipped: Vec<String> = walk
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.relative, s.reason))
            .collect();
        assert_eq!(
            skipped,
            [
                "app.min.js: generated (its name ends in `.min.js`)",
                "big.py: too large: 2048 bytes (limit 1024)",
                "data.csv: a data file (`.csv`)",
                "node_modules: vendored (under `node_modules/`)",
            ]
        );
        assert!(walk.files[0].mtime_ns > 0);
        assert_eq!(walk.files[0].size, 13);
    }

    #[test]
    fn walking_named_paths_agrees_with_the_full_walk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        write(root, ".gitignore", b"*.tmp\n");
        write(root, "src/a.rs", b"fn a() {}\n");
        write(root, "src/b.tmp", b"scratch\n");
        write(root, "vendor/x.rs", b"fn x() {}\n");
        let asked: BTreeSet<String> = ["src/a.rs", "src/b.tmp", "vendor/x.rs", "src/gone.rs"]
            .into_iter()
            .map(String::from)
            .collect();
        let walk = walk_paths(root, &asked, &WalkParams::default()).unwrap();
        let files: Vec<&str> = walk.files.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(files, ["src/a.rs"]);
        assert_eq!(walk.skipped.len(), 1);
        assert_eq!(walk.skipped[0].relative, "vendor/x.rs");
    }

    #[test]
    fn a_missing_root_or_a_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = walk_repository(&missing, &WalkParams::default()).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(err.to_string().contains("cannot be read"), "{err}");
        let file = dir.path().join("f.rs");
        std::fs::write(&file, "fn f() {}").unwrap();
        let err = walk_repository(&file, &WalkParams::default()).unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }

    #[test]
    fn outside_git_gitignore_is_not_applied_like_ripgrep() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".gitignore", b"ignored.rs\n");
        write(dir.path(), "ignored.rs", b"fn f() {}\n");
        let walk = walk_repository(dir.path(), &WalkParams::default()).unwrap();
        assert!(
            !walk.in_git,
            "the temporary directory is inside a git repository"
        );
        assert_eq!(walk.files.len(), 1);
    }

    #[test]
    fn content_checks() {
        let params = WalkParams::default();
        assert_eq!(check_content(b"fn f() {}\n", &params), Ok(()));
        assert_eq!(check_content(b"abc\0def", &params), Err(SkipReason::Binary));
        let long = format!("x = \"{}\"\n", "a".repeat(2000));
        assert!(matches!(
            check_content(long.as_bytes(), &params),
            Err(SkipReason::LongLine {
                bytes: 2006,
                limit: 1000
            })
        ));
        let generated = b"// Code generated by protoc-gen-go. DO NOT EDIT.\npackage p\n";
        assert!(matches!(
            check_content(generated, &params),
            Err(SkipReason::Generated { .. })
        ));
        // Invalid UTF-8 is not a reason to skip: the indexer decodes it lossily.
        assert_eq!(check_content(b"caf\xe9 = 1\n", &params), Ok(()));
    }
}
