//! The error type of `crucible-eval`.

use std::path::PathBuf;

/// Everything that can go wrong while loading benchmarks, assembling programs, or reading and
/// writing run directories.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("`{path}` is empty")]
    EmptyFile { path: PathBuf },
    #[error("`{path}`: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("unknown benchmark `{given}`; known: {known}")]
    UnknownBenchmark { given: String, known: String },
    #[error("benchmark `{benchmark}` has no `{language}` version; available: {available}")]
    UnsupportedLanguage {
        benchmark: String,
        language: String,
        available: String,
    },
    #[error("the data for `{benchmark}` is missing: `{path}` does not exist")]
    MissingData { benchmark: String, path: PathBuf },
    #[error("no benchmark data directory found; pass `--data-dir` or set `CRUCIBLE_DATA`")]
    NoDataDir,
    #[error("unknown task id `{id}` in benchmark `{benchmark}`")]
    UnknownTask { benchmark: String, id: String },
    #[error("the reference solution of `{task_id}` does not pass its own tests ({status})")]
    ReferenceFailed { task_id: String, status: String },
    #[error("task `{task_id}` has no {tier} tests")]
    NoSuchTier { task_id: String, tier: &'static str },
    #[error("invalid task file `{path}`")]
    TaskFile {
        path: PathBuf,
        #[source]
        source: crucible_types::format::TaskFileError,
    },
    #[error(
        "the run directory `{dir}` was made with a different configuration (changed: {}; fingerprint {found}, now {expected}); use a new directory, pass `--force`, or give the options the run was made with{}",
        changed.join(", "),
        if changed.iter().any(|c| c == "model.weights") { " (`model.weights`: `--weights as-is` or `--weights widen`)" } else { "" }
    )]
    ConfigMismatch {
        dir: PathBuf,
        expected: String,
        found: String,
        /// What differs: top-level keys, or `key.subkey` inside objects (e.g. `model.weights`).
        changed: Vec<String>,
    },
    #[error("download of `{what}` failed: {message}")]
    Download { what: String, message: String },
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("executing `{task_id}` failed")]
    Exec {
        task_id: String,
        #[source]
        source: Box<crucible_exec::Error>,
    },
    #[error("could not start the executor")]
    Executor(#[source] Box<crucible_exec::Error>),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
