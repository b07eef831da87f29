//! The repository index pipeline behind `crucible index` and `crucible search`: where a
//! repository's index lives (under `CRUCIBLE_HOME`, never inside the repository), opening and
//! updating it, and searching it by BM25 or, with the embedding model, by BM25 and embeddings
//! fused.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crucible_index::{Filters, Hit, Index, IndexParams, UpdateReport};

use crate::{Error, Result, Settings};

/// The embedding model's directory name under `CRUCIBLE_HOME/models`.
pub const EMBEDDING_MODEL: &str = "all-minilm-l6-v2";

/// Where the index of `repo` lives: `CRUCIBLE_HOME/index/<name>-<hash of the canonical path>`,
/// so read-only trees can be indexed and repositories stay clean.
pub fn default_index_dir(home: &Path, repo: &Path) -> Result<PathBuf> {
    let canonical = std::fs::canonicalize(repo).map_err(|source| crucible_index::Error::Root {
        path: repo.to_path_buf(),
        problem: format!("cannot be read: {source}"),
    })?;
    let digest = Sha256::digest(canonical.to_string_lossy().as_bytes());
    let hash: String = digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let name: String = canonical
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into())
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    Ok(home.join("index").join(format!("{name}-{hash}")))
}

/// Where the embedding model is installed (`scripts/embedding-model.sh` puts it there).
pub fn embedding_model_dir(home: &Path) -> PathBuf {
    home.join("models").join(EMBEDDING_MODEL)
}

/// Which index, and how to use it.
#[derive(Debug, Clone)]
pub struct IndexRequest {
    /// The repository.
    pub repo: PathBuf,
    /// The index directory; `None`: [`default_index_dir`].
    pub index_dir: Option<PathBuf>,
    /// Also embed chunks (index) or fuse embeddings into the ranking (search).
    pub embeddings: bool,
}

/// What `crucible index` did.
#[derive(Debug)]
pub struct Indexed {
    /// The open index.
    pub index: Index,
    /// The BM25 update.
    pub report: UpdateReport,
    /// Chunks embedded and reused, when embeddings were asked for.
    pub embedded: Option<EmbedCounts>,
}

/// Embedding work of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbedCounts {
    /// Chunks embedded now.
    pub embedded: usize,
    /// Chunks whose vectors were kept.
    pub reused: usize,
}

/// Open the index of the request's repository (creating it) and bring it up to date.
pub fn update(settings: &Settings, request: &IndexRequest) -> Result<Indexed> {
    let index_dir = match &request.index_dir {
        Some(dir) => dir.clone(),
        None => default_index_dir(&settings.home, &request.repo)?,
    };
    let mut index = Index::open(&request.repo, &index_dir, IndexParams::default())?;
    let report = index.update()?;
    let embedded = if request.embeddings {
        Some(embed(settings, &mut index)?)
    } else {
        None
    };
    Ok(Indexed {
        index,
        report,
        embedded,
    })
}

/// Search an index that [`update`] brought up to date.
pub fn search(
    settings: &Settings,
    index: &Index,
    query: &str,
    k: usize,
    filters: &Filters,
    embeddings: bool,
) -> Result<Vec<Hit>> {
    if embeddings {
        return search_hybrid(settings, index, query, k, filters);
    }
    Ok(index.search(query, k, filters)?)
}

#[cfg(feature = "embeddings")]
fn embed(settings: &Settings, index: &mut Index) -> Result<EmbedCounts> {
    let embedder = crucible_index::embed::Embedder::load(&embedding_model_dir(&settings.home))?;
    let report = index.embed_chunks(&embedder)?;
    Ok(EmbedCounts {
        embedded: report.embedded,
        reused: report.reused,
    })
}

#[cfg(not(feature = "embeddings"))]
fn embed(_settings: &Settings, _index: &mut Index) -> Result<EmbedCounts> {
    Err(Error::NoEmbeddings)
}

#[cfg(feature = "embeddings")]
fn search_hybrid(
    settings: &Settings,
    index: &Index,
    query: &str,
    k: usize,
    filters: &Filters,
) -> Result<Vec<Hit>> {
    let embedder = crucible_index::embed::Embedder::load(&embedding_model_dir(&settings.home))?;
    if index.embedded_chunks()? == 0 {
        return Err(Error::NotEmbedded {
            repo: index.root().to_path_buf(),
        });
    }
    Ok(index.search_hybrid(query, k, filters, &embedder)?)
}

#[cfg(not(feature = "embeddings"))]
fn search_hybrid(
    _settings: &Settings,
    _index: &Index,
    _query: &str,
    _k: usize,
    _filters: &Filters,
) -> Result<Vec<Hit>> {
    Err(Error::NoEmbeddings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_dirs_are_per_repository_under_home() {
        let repo_a = tempfile::tempdir().unwrap();
        let repo_b = tempfile::tempdir().unwrap();
        let home = Path::new("/home/u/.local/share/crucible");
        let a = default_index_dir(home, repo_a.path()).unwrap();
        let b = default_index_dir(home, repo_b.path()).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(home.join("index")));
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        let base = repo_a
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with(&base.replace('.', "_")), "{name}");
        assert_eq!(default_index_dir(home, repo_a.path()).unwrap(), a, "stable");
        assert!(default_index_dir(home, Path::new("/no/such/repo")).is_err());
    }
}
