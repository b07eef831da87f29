//! The crate's error type: what failed, on which file, and what to do about it.

use std::path::PathBuf;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors that stop a stage. Problems with single records or input files are not errors: they
/// become recorded skips (see [`crate::Reject`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A read or write in the work or output directory failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The disk holding the output is full.
    #[error(
        "the disk is full while writing `{path}`; finished items are kept: free space (or move --output) and re-run the same command to continue"
    )]
    DiskFull { path: PathBuf },
    /// `--shard I/N` is malformed or out of range.
    #[error("bad shard `{given}`: {problem}; expected I/N with 0 <= I < N, e.g. 0/4")]
    BadShard { given: String, problem: String },
    /// A stage was started with another shard count.
    #[error(
        "stage `{stage}` was started with {recorded} shards, this process says {given}; every process of a stage must use the same N so that no item runs twice: use --shard I/{recorded}, or stop every process of the stage and pass --reshard to switch to {given}"
    )]
    ShardCountMismatch {
        stage: String,
        recorded: usize,
        given: usize,
    },
    /// The output directory holds a run with another configuration or other inputs.
    #[error(
        "`{path}` holds a run with a different configuration or inputs ({difference}); use another --output, or delete the directory to start over"
    )]
    ConfigMismatch { path: PathBuf, difference: String },
    /// A stage needs an earlier one that has not finished.
    #[error(
        "stage `{stage}` needs stage `{needs}` to finish first, and its items {missing} are not done: run `--stage {needs}` for every shard first (or run without --stage)"
    )]
    NotReady {
        stage: String,
        needs: String,
        missing: String,
    },
    /// A work file is not what this version wrote.
    #[error(
        "`{path}` is corrupt or from another version ({problem}); delete the output directory and start over"
    )]
    Corrupt { path: PathBuf, problem: String },
    /// The configuration is invalid.
    #[error("invalid curation configuration: {0}")]
    Config(String),
    /// An input path cannot be used at all.
    #[error("input `{path}`: {problem}")]
    Input { path: PathBuf, problem: String },
    /// Writing Parquet output failed.
    #[error("cannot write Parquet `{path}`: {message}")]
    Parquet { path: PathBuf, message: String },
    /// The run was asked to stop; finished items are kept.
    #[error("stopped on request; finished items are kept and a re-run continues from them")]
    Stopped,
}

impl Error {
    /// Map an IO error on `path`, recognising a full disk.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        let disk_full = source.raw_os_error() == Some(libc_enospc())
            || source.kind() == std::io::ErrorKind::StorageFull;
        if disk_full {
            Error::DiskFull {
                path: path.to_path_buf(),
            }
        } else {
            Error::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// ENOSPC on Linux and the BSDs.
const fn libc_enospc() -> i32 {
    28
}
