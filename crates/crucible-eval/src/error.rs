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
    /// A write failed because the disk (or the user's quota) is full. Whatever was written
    /// before is kept whole, and the same command resumes from it.
    #[error(
        "the disk is full: cannot write `{path}`; free some space and run the same command again (everything written before is kept, and the run resumes from it)"
    )]
    DiskFull {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process has the run directory open.
    #[error("{}", locked_message(dir, *pid))]
    Locked {
        dir: PathBuf,
        /// The holder's PID, as it recorded it in the lock file.
        pid: Option<u32>,
    },
    /// Another tool's results file (`crucible compare`) is not in the shape its name says.
    #[error("`{}` {problem}", path.display())]
    PeerResults { path: PathBuf, problem: String },
    /// What `crucible compare` was given cannot be compared.
    #[error("cannot compare: {0}")]
    Compare(String),
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
    #[error(
        "the data for `{benchmark}` is missing: `{path}` does not exist; get it with `{command}`"
    )]
    MissingData {
        benchmark: String,
        path: PathBuf,
        /// The command that installs it (`crucible data pull NAME`).
        command: String,
    },
    #[error(
        "`{what}` is not the file expected for `{file}`: sha256 {actual}, expected {expected}{of} (a changed or truncated download; nothing was installed). Pull again; if it persists, the source holds other bytes: install a copy you trust with `crucible data pull NAME --from-dir DIR`"
    )]
    Checksum {
        /// Where the bytes came from (a URL or a path).
        what: String,
        /// The catalogue file they were for (its path under the data directory).
        file: &'static str,
        expected: &'static str,
        actual: String,
        /// " of the uncompressed bytes" when the checksum is of the gzip's content.
        of: &'static str,
    },
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

fn locked_message(dir: &std::path::Path, pid: Option<u32>) -> String {
    let dir = dir.display();
    match pid {
        Some(pid) => format!(
            "the run directory `{dir}` is in use by another process (PID {pid}); wait for it to finish, stop it (`kill {pid}`), or write to another directory"
        ),
        None => format!(
            "the run directory `{dir}` is in use by another process (its PID is not recorded yet); wait for it to finish or write to another directory"
        ),
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
