//! The manifest: what the index knows of each file (mtime, size, content hash, chunks, or why
//! it was skipped), so an update reads only files that changed. Written after each commit by
//! write-then-rename, so a crash leaves the previous manifest, and files it does not know are
//! re-read and re-indexed (their old chunks deleted by path first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, FORMAT_VERSION, Result};

/// The manifest file's name inside the index directory.
pub(crate) const MANIFEST_FILE: &str = "manifest.json";

/// Everything the index records about the repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The format version that wrote it ([`FORMAT_VERSION`]).
    pub(crate) format: u32,
    /// The canonical repository root.
    pub(crate) root: PathBuf,
    /// Per file (repository-relative path), its state at the last update.
    pub(crate) files: BTreeMap<String, FileState>,
}

/// One file as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileState {
    /// Modification time, nanoseconds since the epoch.
    pub(crate) mtime_ns: u64,
    /// Size in bytes.
    pub(crate) size: u64,
    /// xxh3 of the content.
    pub(crate) hash: u64,
    /// Chunks indexed for it.
    pub(crate) chunks: u32,
    /// Why it is not indexed, if it is not (binary, generated, long lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) skipped: Option<String>,
}

/// What reading the manifest found.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// A manifest of this format.
    Current(Manifest),
    /// No manifest: a new index.
    Missing,
    /// A manifest that cannot be used, with the reason (another format version, unreadable).
    Stale(String),
}

impl Manifest {
    pub(crate) fn new(root: &Path) -> Manifest {
        Manifest {
            format: FORMAT_VERSION,
            root: root.to_path_buf(),
            files: BTreeMap::new(),
        }
    }

    /// Read the manifest in `index_dir`.
    pub(crate) fn load(index_dir: &Path) -> Loaded {
        let path = index_dir.join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
            Err(err) => return Loaded::Stale(format!("its manifest cannot be read ({err})")),
        };
        // Read the version first, so an older layout is reported as such, not as corrupt.
        #[derive(Deserialize)]
        struct Version {
            format: u32,
        }
        match serde_json::from_slice::<Version>(&bytes) {
            Ok(Version { format }) if format != FORMAT_VERSION => {
                return Loaded::Stale(format!(
                    "it was written in format version {format} and this build writes {FORMAT_VERSION}"
                ));
            }
            Ok(_) => {}
            Err(err) => return Loaded::Stale(format!("its manifest is unreadable ({err})")),
        }
        match serde_json::from_slice(&bytes) {
            Ok(manifest) => Loaded::Current(manifest),
            Err(err) => Loaded::Stale(format!("its manifest is unreadable ({err})")),
        }
    }

    /// Write the manifest into `index_dir` atomically.
    pub(crate) fn save(&self, index_dir: &Path) -> Result<()> {
        let path = index_dir.join(MANIFEST_FILE);
        let temporary = index_dir.join(format!("{MANIFEST_FILE}.tmp"));
        let bytes = serde_json::to_vec(self).map_err(|err| Error::Io {
            action: "serialize",
            path: path.clone(),
            source: err.into(),
        })?;
        std::fs::write(&temporary, bytes).map_err(Error::io("write", &temporary))?;
        std::fs::rename(&temporary, &path).map_err(Error::io("replace", &path))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Manifest::load(dir.path()), Loaded::Missing));
        let mut manifest = Manifest::new(Path::new("/repo"));
        manifest.files.insert(
            "src/a.rs".into(),
            FileState {
                mtime_ns: 1,
                size: 2,
                hash: 3,
                chunks: 4,
                skipped: None,
            },
        );
        manifest.save(dir.path()).unwrap();
        match Manifest::load(dir.path()) {
            Loaded::Current(loaded) => assert_eq!(loaded, manifest),
            other => panic!("{other:?}"),
        }
        let old = r#"{"format":0,"root":"/repo","entries":[]}"#;
        std::fs::write(dir.path().join(MANIFEST_FILE), old).unwrap();
        match Manifest::load(dir.path()) {
            Loaded::Stale(why) => assert!(why.contains("format version 0"), "{why}"),
            other => panic!("{other:?}"),
        }
        std::fs::write(dir.path().join(MANIFEST_FILE), "{not json").unwrap();
        match Manifest::load(dir.path()) {
            Loaded::Stale(why) => assert!(why.contains("unreadable"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
