//! The repository index pipeline behind `crucible index`, `crucible search` and repository
//! context: where a repository's index lives (under `CRUCIBLE_HOME`, never inside the
//! repository), the embedding model, and [`RepoIndex`], an index with the way it is searched
//! (BM25, or BM25 and embeddings fused), whose updates embed the new chunks.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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

/// The sentence-embedding model of hybrid search (all-MiniLM-L6-v2, run on the CPU), loaded
/// once and shared by every index that searches with it.
pub struct EmbeddingModel {
    dir: PathBuf,
    #[cfg(feature = "embeddings")]
    embedder: crucible_index::embed::Embedder,
}

impl std::fmt::Debug for EmbeddingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingModel")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl EmbeddingModel {
    /// Load the model installed under `home` ([`embedding_model_dir`]). A model that is not
    /// installed is [`Error::NoEmbeddingModel`]; a build without the `embeddings` feature is
    /// [`Error::NoEmbeddings`].
    pub fn load(home: &Path) -> Result<EmbeddingModel> {
        EmbeddingModel::check_installed(home)?;
        EmbeddingModel::load_dir(embedding_model_dir(home))
    }

    /// Whether [`EmbeddingModel::load`] can find the model, without loading it: the errors of
    /// a build without embeddings and of a model that is not installed.
    pub fn check_installed(home: &Path) -> Result<()> {
        if !cfg!(feature = "embeddings") {
            return Err(Error::NoEmbeddings);
        }
        let dir = embedding_model_dir(home);
        if !dir.join("model.safetensors").is_file() {
            return Err(Error::NoEmbeddingModel { dir });
        }
        Ok(())
    }

    #[cfg(feature = "embeddings")]
    fn load_dir(dir: PathBuf) -> Result<EmbeddingModel> {
        let embedder = crucible_index::embed::Embedder::load(&dir)?;
        Ok(EmbeddingModel { dir, embedder })
    }

    #[cfg(not(feature = "embeddings"))]
    fn load_dir(_dir: PathBuf) -> Result<EmbeddingModel> {
        Err(Error::NoEmbeddings)
    }

    /// The model's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
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
    pub index: RepoIndex,
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
    /// Time spent embedding.
    pub elapsed: Duration,
}

/// What [`RepoIndex::update`] did.
#[derive(Debug, Clone)]
pub struct Updated {
    /// The BM25 update.
    pub report: UpdateReport,
    /// The embedding of new chunks, when the index searches with embeddings.
    pub embedded: Option<EmbedCounts>,
}

/// Chunks embedded per model call when embedding between requests ([`RepoIndex::embed_some`]):
/// a request that comes meanwhile waits for that call, about 0.1 s for a chunk of average
/// length on two cores (httpx-0.28.1's 1,664 chunks took 2.6 minutes).
pub const BACKGROUND_BATCH: usize = 1;

/// A repository's index with the way it is searched: by BM25, or, with an embedding model, by
/// BM25 and embeddings fused by reciprocal rank fusion (hybrid). Its updates embed the chunks
/// that have no vector yet (only those), so a hybrid search sees every chunk of the update.
#[derive(Debug)]
pub struct RepoIndex {
    index: Index,
    embeddings: Option<Arc<EmbeddingModel>>,
}

impl RepoIndex {
    /// Open (or create) the index of `repo` in `index_dir` without updating it; with
    /// `embeddings`, searches are hybrid.
    pub fn open(
        repo: &Path,
        index_dir: &Path,
        embeddings: Option<Arc<EmbeddingModel>>,
    ) -> Result<RepoIndex> {
        let index = Index::open(repo, index_dir, IndexParams::default())?;
        Ok(RepoIndex { index, embeddings })
    }

    /// An index searched by BM25 only.
    pub fn bm25(index: Index) -> RepoIndex {
        RepoIndex {
            index,
            embeddings: None,
        }
    }

    /// The BM25 index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Whether searches fuse embeddings with BM25.
    pub fn is_hybrid(&self) -> bool {
        self.embeddings.is_some()
    }

    /// Bring the index up to date with the whole repository, then embed the new chunks.
    pub fn update(&mut self) -> Result<Updated> {
        self.update_reporting(&mut |_, _| {})
    }

    /// [`RepoIndex::update`], telling `progress` (chunks embedded, chunks to embed) as the
    /// embedding goes.
    pub fn update_reporting(&mut self, progress: &mut dyn FnMut(usize, usize)) -> Result<Updated> {
        let report = self.index.update()?;
        let embedded = self.embed(progress)?;
        Ok(Updated { report, embedded })
    }

    /// Bring the index up to date for `paths` only (see [`Index::update_paths`]), then embed
    /// the new chunks.
    pub fn update_paths(&mut self, paths: &[PathBuf]) -> Result<Updated> {
        let report = self.index.update_paths(paths)?;
        let embedded = self.embed(&mut |_, _| {})?;
        Ok(Updated { report, embedded })
    }

    /// Embed a few more of the chunks that have no vector with `model`, for an index still
    /// searched by BM25 while its chunks are embedded (a language server's first minutes on a
    /// large repository): batches of [`BACKGROUND_BATCH`] chunks, with `stop` asked before each
    /// (the caller has a request to answer). Returns how many chunks are still without a
    /// vector; at 0, [`RepoIndex::search_by_embeddings_too`] may switch the searches.
    #[cfg(feature = "embeddings")]
    pub fn embed_some(
        &mut self,
        model: &EmbeddingModel,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<usize> {
        let report = self.index.embed_chunks_until(
            &model.embedder,
            BACKGROUND_BATCH,
            &mut |_, _| {},
            stop,
        )?;
        Ok(report.remaining)
    }

    #[cfg(not(feature = "embeddings"))]
    pub fn embed_some(
        &mut self,
        _model: &EmbeddingModel,
        _stop: &mut dyn FnMut() -> bool,
    ) -> Result<usize> {
        Err(Error::NoEmbeddings)
    }

    /// Search by BM25 and embeddings fused from now on, and embed the chunks of later updates
    /// as they come (the index's chunks should all have vectors: see [`RepoIndex::embed_some`]).
    pub fn search_by_embeddings_too(&mut self, model: Arc<EmbeddingModel>) {
        self.embeddings = Some(model);
    }

    /// The `k` chunks that best match `query`, best first: BM25 (a query without code terms
    /// is [`crucible_index::Error::EmptyQuery`]), or hybrid. A hybrid search of an index with
    /// chunks but no vectors (opened without an update) is [`Error::NotEmbedded`].
    pub fn search(&self, query: &str, k: usize, filters: &Filters) -> Result<Vec<Hit>> {
        match &self.embeddings {
            Some(model) => self.search_hybrid(model, query, k, filters),
            None => Ok(self.index.search(query, k, filters)?),
        }
    }

    #[cfg(feature = "embeddings")]
    fn embed(&mut self, progress: &mut dyn FnMut(usize, usize)) -> Result<Option<EmbedCounts>> {
        let Some(model) = &self.embeddings else {
            return Ok(None);
        };
        // A first embedding of a large repository takes minutes: say so where the user looks
        // (an editor's LSP log), once, when the first batch is done.
        let mut told = false;
        let root = self.index.root().to_path_buf();
        let mut reporting = |done: usize, total: usize| {
            if !told {
                told = true;
                tracing::info!(
                    "embedding {total} chunks of `{}` (all-MiniLM-L6-v2, on the CPU)",
                    root.display()
                );
            }
            progress(done, total);
        };
        let report = self.index.embed_chunks(&model.embedder, &mut reporting)?;
        if report.embedded + report.dropped > 0 {
            tracing::debug!(
                embedded = report.embedded,
                reused = report.reused,
                dropped = report.dropped,
                seconds = report.elapsed.as_secs_f64(),
                "chunks embedded"
            );
        }
        Ok(Some(EmbedCounts {
            embedded: report.embedded,
            reused: report.reused,
            elapsed: report.elapsed,
        }))
    }

    #[cfg(not(feature = "embeddings"))]
    fn embed(&mut self, _progress: &mut dyn FnMut(usize, usize)) -> Result<Option<EmbedCounts>> {
        match &self.embeddings {
            Some(_) => Err(Error::NoEmbeddings),
            None => Ok(None),
        }
    }

    #[cfg(feature = "embeddings")]
    fn search_hybrid(
        &self,
        model: &EmbeddingModel,
        query: &str,
        k: usize,
        filters: &Filters,
    ) -> Result<Vec<Hit>> {
        if self.index.embedded_chunks()? == 0 && self.index.stats().chunks > 0 {
            return Err(Error::NotEmbedded {
                repo: self.index.root().to_path_buf(),
            });
        }
        Ok(self
            .index
            .search_hybrid(query, k, filters, &model.embedder)?)
    }

    #[cfg(not(feature = "embeddings"))]
    fn search_hybrid(
        &self,
        _model: &EmbeddingModel,
        _query: &str,
        _k: usize,
        _filters: &Filters,
    ) -> Result<Vec<Hit>> {
        Err(Error::NoEmbeddings)
    }
}

/// Open the index of the request's repository (creating it) and bring it up to date; with
/// `request.embeddings`, load the embedding model and embed the new chunks, telling
/// `progress` (chunks embedded, chunks to embed) as it goes.
pub fn update(
    settings: &Settings,
    request: &IndexRequest,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Indexed> {
    let mut index = open(settings, request)?;
    let updated = index.update_reporting(progress)?;
    Ok(Indexed {
        index,
        report: updated.report,
        embedded: updated.embedded,
    })
}

/// Open the index of the request's repository (creating it) without updating it; with
/// `request.embeddings`, load the embedding model for hybrid search.
pub fn open(settings: &Settings, request: &IndexRequest) -> Result<RepoIndex> {
    let index_dir = match &request.index_dir {
        Some(dir) => dir.clone(),
        None => default_index_dir(&settings.home, &request.repo)?,
    };
    let embeddings = if request.embeddings {
        Some(Arc::new(EmbeddingModel::load(&settings.home)?))
    } else {
        None
    };
    RepoIndex::open(&request.repo, &index_dir, embeddings)
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

    #[cfg(feature = "embeddings")]
    #[test]
    fn a_missing_embedding_model_names_where_it_belongs() {
        let home = tempfile::tempdir().unwrap();
        let err = EmbeddingModel::load(home.path()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&embedding_model_dir(home.path()).display().to_string()),
            "{message}"
        );
        assert!(
            err.hint().unwrap().contains("scripts/embedding-model.sh"),
            "{:?}",
            err.hint()
        );
    }

    #[cfg(not(feature = "embeddings"))]
    #[test]
    fn a_build_without_embeddings_says_so() {
        let home = tempfile::tempdir().unwrap();
        let err = EmbeddingModel::load(home.path()).unwrap_err();
        assert!(matches!(err, Error::NoEmbeddings), "{err}");
    }
}
