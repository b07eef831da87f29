//! Errors of the facade; lower crates' errors pass through with their own messages.

use std::path::PathBuf;

/// What can go wrong in a Crucible pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration in `{path}`: {message}")]
    Config { path: PathBuf, message: String },
    #[error("environment variable `{var}` is `{value}`, expected {expected}")]
    Env {
        var: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("setting `{name}` {problem}")]
    Setting { name: &'static str, problem: String },
    #[error(transparent)]
    Model(#[from] crucible_model::Error),
    #[error(transparent)]
    Infer(#[from] crucible_infer::Error),
    #[error(transparent)]
    Http(#[from] crucible_infer_http::Error),
    #[error(transparent)]
    Eval(#[from] crucible_eval::Error),
    #[error(transparent)]
    Strategy(#[from] crucible_strategy::Error),
    #[error("could not start the executor: {0}")]
    Exec(Box<crucible_exec::Error>),
    #[error("could not judge a sample of `{task_id}`: {source}")]
    Judge {
        task_id: String,
        source: Box<crucible_exec::Error>,
    },
    #[error(
        "this build of Crucible has no llama.cpp backend (built without the `llama` feature); rebuild with default features"
    )]
    NoLocalBackend,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Model(err) => err.hint(),
            Error::Http(err) => err.hint(),
            Error::Infer(crucible_infer::Error::PromptTooLong { .. }) => Some(
                "raise the context with `--ctx TOKENS`, lower `--max-new-tokens`, or shorten the task".into(),
            ),
            Error::Config { .. } => Some(
                "`crucible.toml` accepts `model`, `endpoint`, `threads`, `context_length` and `data_dir`".into(),
            ),
            _ => None,
        }
    }
}
