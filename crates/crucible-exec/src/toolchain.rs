//! Finding each language's compiler or interpreter on the host, once.
//!
//! Paths are resolved to real files (no pyenv or rustup shims: a shim costs ~200 ms per start
//! and lives under `/root`, which the sandbox cannot see). The fingerprint of a toolchain
//! (real path, size, modification time) keys the compile cache, so an upgrade invalidates it
//! without running `--version` at every start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use crucible_types::Language;

use crate::{Error, Result};

/// A resolved toolchain.
#[derive(Debug, Clone)]
pub(crate) struct Toolchain {
    /// The compiler (or the interpreter for Python and JavaScript).
    pub(crate) compiler: PathBuf,
    /// The runtime for languages that have one besides the compiler (`java`).
    pub(crate) runtime: Option<PathBuf>,
    /// A directory to bind read-only at the same path or at `/opt/rust` (Rust's sysroot).
    pub(crate) extra_root: Option<PathBuf>,
    /// Changes whenever the toolchain changes.
    pub(crate) fingerprint: String,
}

/// Toolchains resolved so far.
#[derive(Debug, Default)]
pub(crate) struct Toolchains {
    found: Mutex<HashMap<Language, Toolchain>>,
}

impl Toolchains {
    /// The toolchain for `language`, resolved on first use.
    pub(crate) fn get(&self, language: Language) -> Result<Toolchain> {
        if let Some(tc) = self
            .found
            .lock()
            .ok()
            .and_then(|m| m.get(&language).cloned())
        {
            return Ok(tc);
        }
        let tc = resolve(language)?;
        if let Ok(mut map) = self.found.lock() {
            map.insert(language, tc.clone());
        }
        Ok(tc)
    }
}

/// The Debian package that provides a language's toolchain.
pub(crate) fn package(language: Language) -> &'static str {
    match language {
        Language::Python => "python3",
        Language::C => "gcc",
        Language::Cpp => "g++",
        Language::Rust => "rustc",
        Language::Java => "openjdk-17-jdk-headless",
        Language::JavaScript => "nodejs",
        Language::Go => "golang-go",
    }
}

fn resolve(language: Language) -> Result<Toolchain> {
    let missing = |binary: &str| Error::ToolchainMissing {
        language,
        binary: binary.to_owned(),
        package: package(language),
    };
    let find = |names: &[&str]| -> Result<PathBuf> {
        names
            .iter()
            .find_map(|name| find_real(name))
            .ok_or_else(|| missing(names[0]))
    };
    let tc = match language {
        Language::Python => simple(find(&["/usr/bin/python3", "python3"])?),
        Language::C => simple(find(&["/usr/bin/gcc", "gcc"])?),
        Language::Cpp => simple(find(&["/usr/bin/g++", "g++"])?),
        Language::JavaScript => simple(find(&["/usr/bin/node", "node", "nodejs"])?),
        Language::Go => simple(find(&["/usr/bin/go", "go"])?),
        Language::Java => {
            let javac = find(&["/usr/bin/javac", "javac"])?;
            let java = javac
                .parent()
                .map(|bin| bin.join("java"))
                .filter(|p| p.exists())
                .ok_or_else(|| missing("java"))?;
            Toolchain {
                fingerprint: fingerprint(&[&javac, &java]),
                compiler: javac,
                runtime: Some(java),
                extra_root: None,
            }
        }
        Language::Rust => {
            let sysroot = rust_sysroot().ok_or_else(|| missing("rustc"))?;
            let rustc = sysroot.join("bin/rustc");
            let driver = std::fs::read_dir(sysroot.join("lib"))
                .ok()
                .and_then(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.path())
                        .find(|p| p.to_string_lossy().contains("librustc_driver"))
                })
                .unwrap_or_else(|| rustc.clone());
            Toolchain {
                fingerprint: fingerprint(&[&rustc, &driver]),
                compiler: rustc,
                runtime: None,
                extra_root: Some(sysroot),
            }
        }
    };
    Ok(tc)
}

fn simple(path: PathBuf) -> Toolchain {
    Toolchain {
        fingerprint: fingerprint(&[&path]),
        compiler: path,
        runtime: None,
        extra_root: None,
    }
}

/// Resolve an absolute path or a name on `PATH` to a real file, skipping shim directories.
fn find_real(name: &str) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = if name.starts_with('/') {
        vec![PathBuf::from(name)]
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
            .unwrap_or_default()
    };
    candidates
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("/shims/"))
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .find(|p| p.is_file())
}

/// The real Rust sysroot: `rustc --print sysroot` resolves rustup's proxy once.
fn rust_sysroot() -> Option<PathBuf> {
    let rustc = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("rustc"))
            .find(|p| p.is_file())
    })?;
    #[allow(
        clippy::disallowed_methods,
        reason = "a trusted host tool, run once, outside the sandbox, with no user input"
    )]
    let out = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    let sysroot = std::fs::canonicalize(sysroot).ok()?;
    sysroot.join("bin/rustc").is_file().then_some(sysroot)
}

fn fingerprint(paths: &[&Path]) -> String {
    paths
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok();
            let len = meta.as_ref().map(|m| m.len()).unwrap_or(0);
            let mtime = meta
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("{}:{len}:{mtime}", p.display())
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shims_are_skipped_and_packages_named() {
        assert_eq!(package(Language::Go), "golang-go");
        let err = Error::ToolchainMissing {
            language: Language::Go,
            binary: "go".into(),
            package: package(Language::Go),
        };
        assert_eq!(
            err.to_string(),
            "the go toolchain is missing: `go` was not found; install the Debian package `golang-go`"
        );
        assert_eq!(find_real("/nonexistent/python3"), None);
    }
}
