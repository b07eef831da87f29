//! The embedding model for tests of `--embed` and hybrid context: all-MiniLM-L6-v2 as
//! `scripts/embedding-model.sh` installs it under the real `CRUCIBLE_HOME`, linked into a test's
//! own home. Shared by `tests/index.rs`, `tests/http.rs` and `tests/repobench.rs`.

use std::path::{Path, PathBuf};

/// Link the installed embedding model into `home` (a test's `CRUCIBLE_HOME`). Fails, naming
/// the command, when it is not installed, rather than letting a test pass unchecked.
pub(crate) fn link_embedding_model(home: &Path) {
    let installed = std::env::var_os("CRUCIBLE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("crucible")))
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share/crucible")
        })
        .join("models/all-minilm-l6-v2");
    assert!(
        installed.join("model.safetensors").is_file(),
        "the embedding model all-MiniLM-L6-v2 is not installed at {}; run scripts/embedding-model.sh (scripts/setup.sh does)",
        installed.display()
    );
    std::fs::create_dir_all(home.join("models")).unwrap();
    std::os::unix::fs::symlink(&installed, home.join("models/all-minilm-l6-v2")).unwrap();
}
