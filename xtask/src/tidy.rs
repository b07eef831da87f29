//! Layering and file-header checks: the architecture rules of ARCHITECTURE.md, enforced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The allowed dependency edges between workspace crates (ARCHITECTURE.md, "Layers").
///
/// A crate may depend only on the crates listed for it. In particular `crucible-strategy`
/// never sees `crucible-eval`, which owns benchmarks' hidden tests.
const ALLOWED: &[(&str, &[&str])] = &[
    ("crucible-types", &[]),
    ("crucible-gguf", &[]),
    ("crucible-syntax", &[]),
    ("crucible-data", &["crucible-syntax"]),
    ("crucible-infer", &["crucible-types"]),
    ("crucible-index", &["crucible-syntax"]),
    ("crucible-exec", &["crucible-types"]),
    ("crucible-model", &["crucible-types", "crucible-gguf"]),
    (
        "crucible-infer-llama",
        &["crucible-types", "crucible-infer", "crucible-gguf"],
    ),
    ("crucible-infer-http", &["crucible-types", "crucible-infer"]),
    ("crucible-eval", &["crucible-types", "crucible-exec"]),
    (
        "crucible-metrics",
        &["crucible-types", "crucible-syntax", "crucible-infer"],
    ),
    (
        "crucible-strategy",
        &["crucible-types", "crucible-infer", "crucible-exec"],
    ),
    (
        "crucible-core",
        &[
            "crucible-types",
            "crucible-gguf",
            "crucible-model",
            "crucible-infer",
            "crucible-infer-llama",
            "crucible-infer-http",
            "crucible-exec",
            "crucible-eval",
            "crucible-metrics",
            "crucible-strategy",
            "crucible-index",
            "crucible-syntax",
            "crucible-data",
        ],
    ),
    ("crucible-server", &["crucible-types", "crucible-core"]),
    ("crucible-lsp", &["crucible-types", "crucible-core"]),
    (
        "crucible-cli",
        &[
            "crucible-types",
            "crucible-core",
            "crucible-server",
            "crucible-lsp",
        ],
    ),
];

/// Run every check; return the problems found.
pub(crate) fn check_all() -> Result<(), Vec<String>> {
    let root = workspace_root();
    let mut problems = check_layering(&root);
    problems.extend(check_headers(&root));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Every internal `[dependencies]` edge must be in [`ALLOWED`] (dev-dependencies are free).
fn check_layering(root: &Path) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut problems = Vec::new();
    for (krate, manifest) in crate_manifests(root) {
        let Some(permitted) = allowed.get(krate.as_str()) else {
            problems.push(format!(
                "crate `{krate}` has no entry in xtask's layering table; add one and describe it in ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in internal_dependencies(&manifest) {
            if !permitted.contains(&dep.as_str()) {
                problems.push(format!(
                    "`{krate}` depends on `{dep}`, which the layering table does not allow"
                ));
            }
        }
    }
    problems
}

fn crate_manifests(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root.join("crates")) else {
        return out;
    };
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest) {
            out.push((entry.file_name().to_string_lossy().into_owned(), text));
        }
    }
    out.sort();
    out
}

/// Names of `crucible-*` crates in the `[dependencies]` table (not dev- or build-dependencies).
fn internal_dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if !in_deps || !line.starts_with("crucible-") {
            continue;
        }
        let name: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        deps.push(name);
    }
    deps
}

/// Every Rust source file opens with a `//!` line saying what it owns.
fn check_headers(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut stack = vec![root.join("crates"), root.join("xtask")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                let skip = name == "target" || name == "fixtures";
                if !skip {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !text.starts_with("//!") {
                    problems.push(format!(
                        "{} does not start with a `//!` line",
                        path.strip_prefix(root).unwrap_or(&path).display()
                    ));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy() {
        if let Err(problems) = check_all() {
            panic!("tidy found problems:\n{}", problems.join("\n"));
        }
    }

    #[test]
    fn layering_check_catches_a_forbidden_edge() {
        let manifest = "[package]\nname = \"x\"\n[dependencies]\ncrucible-eval.workspace = true\nserde = \"1\"\n[dev-dependencies]\ncrucible-core.workspace = true\n";
        assert_eq!(internal_dependencies(manifest), vec!["crucible-eval"]);
        let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
        assert!(!allowed["crucible-strategy"].contains(&"crucible-eval"));
    }
}
