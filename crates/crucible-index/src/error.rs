//! The errors of indexing and searching.

use std::path::PathBuf;

/// What can go wrong opening, updating or searching an index.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository path is missing or not a directory.
    #[error("cannot index `{}`: it {problem}", path.display())]
    Root {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The index directory holds the index of another repository.
    #[error(
        "the index at `{}` belongs to `{}`, not `{}`; give another index directory or delete it",
        index_dir.display(), indexed.display(), requested.display()
    )]
    OtherRepository {
        /// The index directory.
        index_dir: PathBuf,
        /// The repository it indexes.
        indexed: PathBuf,
        /// The repository asked for.
        requested: PathBuf,
    },
    /// Another process is updating the index.
    #[error("the index at `{}` is being updated by another process; wait for it to finish", index_dir.display())]
    Busy {
        /// The index directory.
        index_dir: PathBuf,
    },
    /// tantivy failed.
    #[error("index at `{}`: {source}", index_dir.display())]
    Tantivy {
        /// The index directory.
        index_dir: PathBuf,
        /// tantivy's error.
        #[source]
        source: tantivy::TantivyError,
    },
    /// Reading or writing a file of the index failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done (`write`, `read`, `create`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A query with no word to search for.
    #[error("the query `{query}` has no word of two or more letters or digits to search for")]
    EmptyQuery {
        /// The query.
        query: String,
    },
    /// The embedding model could not be loaded or run.
    #[error("embedding model at `{}`: {problem}", model_dir.display())]
    Embedding {
        /// The model directory.
        model_dir: PathBuf,
        /// What failed.
        problem: String,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn tantivy(
        index_dir: &std::path::Path,
    ) -> impl FnOnce(tantivy::TantivyError) -> Error + '_ {
        move |source| Error::Tantivy {
            index_dir: index_dir.to_path_buf(),
            source,
        }
    }

    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Error + 'a {
        move |source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
