//! The crate's error type: failures to *run* (a program that fails is a verdict, not an error).

use std::path::{Path, PathBuf};

use crucible_types::Language;

/// Why an execution could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{what} `{value}` is out of range {range}")]
    LimitOutOfRange {
        what: &'static str,
        value: String,
        range: String,
    },
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("cannot access `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start a process: {0}")]
    Spawn(std::io::Error),
    #[error(
        "the {language} toolchain is missing: `{binary}` was not found; install the Debian package `{package}`"
    )]
    ToolchainMissing {
        language: Language,
        binary: String,
        package: &'static str,
    },
    #[error("the {what} is not UTF-8 text (a binary file?)")]
    NotText { what: &'static str },
    #[error("{language} does not support {suite} tests")]
    UnsupportedSuite {
        language: Language,
        suite: &'static str,
    },
    #[error("the request is invalid: {0}")]
    InvalidRequest(&'static str),
    #[error("the Python worker failed: {0}")]
    Worker(String),
    #[error("provisioning failed: {0}")]
    Provision(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn spawn(source: std::io::Error) -> Error {
        Error::Spawn(source)
    }
}
