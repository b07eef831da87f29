//! Walking a directory of source files: `.gitignore`-aware, deterministic, and explicit about
//! every file it will not hand over.
//!
//! Shared by curation and, later, the repository index: [`walk`] lists the files (sorted by
//! path, hidden and ignored files left out as git would, vendored directories reported), and
//! [`read_source`] reads one, refusing binary, undecodable, empty, huge and (when asked)
//! generated, minified or long-lined files with a [`Skip`] that says why.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::quality;

/// What the walker lets through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalkConfig {
    /// Larger files are skipped (The Stack: 1 MiB).
    pub max_file_bytes: u64,
    /// Skip directories named in `vendored_dirs` below the root.
    pub skip_vendored: bool,
    /// Directory names holding third-party copies.
    pub vendored_dirs: Vec<String>,
    /// Skip files whose header says they were generated, and minified files.
    pub skip_generated: bool,
    /// Skip files with a line longer than this many characters.
    pub max_line_chars: Option<usize>,
}

impl Default for WalkConfig {
    fn default() -> Self {
        WalkConfig {
            max_file_bytes: 1 << 20,
            skip_vendored: true,
            vendored_dirs: [
                "vendor",
                "vendored",
                "third_party",
                "third-party",
                "thirdparty",
                "node_modules",
                "bower_components",
            ]
            .map(str::to_owned)
            .to_vec(),
            skip_generated: false,
            max_line_chars: None,
        }
    }
}

/// Why a path was not handed over.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    /// A directory of third-party code.
    Vendored,
    /// A NUL byte in the first 8000 bytes (git's test).
    Binary,
    /// Not UTF-8.
    Undecodable { offset: usize },
    /// Empty or only whitespace.
    Empty,
    /// Over the size limit.
    TooLarge { bytes: u64, limit: u64 },
    /// Generated or minified.
    Generated { why: String },
    /// A line over the limit.
    LongLine { chars: usize, limit: usize },
    /// The file system refused.
    Unreadable { error: String },
}

impl Skip {
    /// Short reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            Skip::Vendored => "vendored",
            Skip::Binary => "binary",
            Skip::Undecodable { .. } => "undecodable",
            Skip::Empty => "empty",
            Skip::TooLarge { .. } => "too_large",
            Skip::Generated { .. } => "generated",
            Skip::LongLine { .. } => "long_line",
            Skip::Unreadable { .. } => "unreadable",
        }
    }

    /// Human-readable detail.
    pub fn detail(&self) -> String {
        match self {
            Skip::Vendored => "vendored directory (walk.skip_vendored)".to_owned(),
            Skip::Binary => "binary: NUL byte in the first 8000 bytes".to_owned(),
            Skip::Undecodable { offset } => format!("not UTF-8: invalid byte at offset {offset}"),
            Skip::Empty => "empty or only whitespace".to_owned(),
            Skip::TooLarge { bytes, limit } => format!("{bytes} bytes > limit {limit}"),
            Skip::Generated { why } => why.clone(),
            Skip::LongLine { chars, limit } => format!("a line of {chars} characters > {limit}"),
            Skip::Unreadable { error } => error.clone(),
        }
    }
}

/// A listed file, or a path skipped during the walk.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    File { path: PathBuf, bytes: u64 },
    Skipped { path: PathBuf, skip: Skip },
}

/// Every regular file under `root`, sorted by path; vendored directories and unreadable entries
/// come back as [`Entry::Skipped`].
pub fn walk(root: &Path, config: &WalkConfig) -> Vec<Entry> {
    let skipped = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let vendored = config.vendored_dirs.clone();
    let skip_vendored = config.skip_vendored;
    let root_owned = root.to_path_buf();
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .standard_filters(true)
        .require_git(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b));
    let record = std::sync::Arc::clone(&skipped);
    builder.filter_entry(move |entry| {
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        let below_root = entry.path() != root_owned;
        let name = entry.file_name().to_string_lossy();
        if is_dir && skip_vendored && below_root && vendored.iter().any(|v| *v == name) {
            if let Ok(mut list) = record.lock() {
                list.push(Entry::Skipped {
                    path: entry.path().to_path_buf(),
                    skip: Skip::Vendored,
                });
            }
            return false;
        }
        true
    });
    let mut out = Vec::new();
    for result in builder.build() {
        match result {
            Ok(entry) => {
                let Some(file_type) = entry.file_type() else {
                    continue;
                };
                if file_type.is_file() {
                    let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    out.push(Entry::File {
                        path: entry.into_path(),
                        bytes,
                    });
                }
            }
            Err(err) => out.push(Entry::Skipped {
                path: error_path(&err).unwrap_or_else(|| root.to_path_buf()),
                skip: Skip::Unreadable {
                    error: err.to_string(),
                },
            }),
        }
    }
    let skipped = std::mem::take(&mut *skipped.lock().unwrap_or_else(|e| e.into_inner()));
    out.extend(skipped);
    out
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

/// Read one file as text, or say why not.
pub fn read_source(path: &Path, config: &WalkConfig) -> Result<String, Skip> {
    let unreadable = |err: std::io::Error| Skip::Unreadable {
        error: err.to_string(),
    };
    let bytes = std::fs::metadata(path).map_err(unreadable)?.len();
    if bytes > config.max_file_bytes {
        return Err(Skip::TooLarge {
            bytes,
            limit: config.max_file_bytes,
        });
    }
    let raw = std::fs::read(path).map_err(unreadable)?;
    let text = decode(raw)?;
    let name = path.to_string_lossy();
    check_text(&name, &text, config)?;
    Ok(text)
}

/// The checks on bytes that every input shares: binary, UTF-8 (a leading BOM is dropped).
pub fn decode(raw: Vec<u8>) -> Result<String, Skip> {
    if memchr::memchr(0, &raw[..raw.len().min(8000)]).is_some() {
        return Err(Skip::Binary);
    }
    let mut text = String::from_utf8(raw).map_err(|err| Skip::Undecodable {
        offset: err.utf8_error().valid_up_to(),
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..3);
    }
    Ok(text)
}

/// The content checks on text: empty, and the optional generated and line-length ones.
pub fn check_text(name: &str, text: &str, config: &WalkConfig) -> Result<(), Skip> {
    if text.trim().is_empty() {
        return Err(Skip::Empty);
    }
    if config.skip_generated {
        if let Some(marker) = quality::generated_marker(text) {
            return Err(Skip::Generated {
                why: format!("header says `{marker}`"),
            });
        }
        if let Some(why) = quality::minified(name, text) {
            return Err(Skip::Generated { why });
        }
    }
    if let Some(limit) = config.max_line_chars {
        let chars = quality::max_line_chars(text);
        if chars > limit {
            return Err(Skip::LongLine { chars, limit });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, bytes: &[u8]) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn walks_sorted_respecting_gitignore_and_vendored_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".gitignore", b"build/\n*.log\n");
        write(root, "b.py", b"x = 1\n");
        write(root, "a/z.rs", b"fn z() {}\n");
        write(root, "a/vendor/dep.c", b"int d;\n");
        write(root, "build/out.py", b"y = 2\n");
        write(root, "run.log", b"log\n");
        let entries = walk(root, &WalkConfig::default());
        let files: Vec<String> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::File { path, .. } => {
                    Some(path.strip_prefix(root).unwrap().display().to_string())
                }
                Entry::Skipped { .. } => None,
            })
            .collect();
        assert_eq!(files, vec!["a/z.rs", "b.py"]);
        let skipped: Vec<String> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Skipped { path, skip } => Some(format!(
                    "{} {}",
                    path.strip_prefix(root).unwrap().display(),
                    skip.reason()
                )),
                Entry::File { .. } => None,
            })
            .collect();
        assert_eq!(skipped, vec!["a/vendor vendored"]);
    }

    #[test]
    fn read_source_says_why_it_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "bin.dat", b"abc\0def");
        write(root, "latin1.py", b"x = '\xe9'\n");
        write(root, "empty.py", b"  \n");
        write(root, "big.py", &vec![b'a'; 2000]);
        write(root, "gen.py", b"# auto-generated file\nx = 1\n");
        write(root, "ok.py", b"\xef\xbb\xbfx = 1\n");
        let config = WalkConfig {
            max_file_bytes: 1000,
            skip_generated: true,
            ..WalkConfig::default()
        };
        let reason = |name: &str| read_source(&root.join(name), &config).map_err(|s| s.reason());
        assert_eq!(reason("bin.dat"), Err("binary"));
        assert_eq!(reason("latin1.py"), Err("undecodable"));
        assert_eq!(reason("empty.py"), Err("empty"));
        assert_eq!(reason("big.py"), Err("too_large"));
        assert_eq!(reason("gen.py"), Err("generated"));
        assert_eq!(reason("ok.py"), Ok("x = 1\n".to_owned()));
        assert_eq!(reason("missing.py"), Err("unreadable"));
    }
}
