//! The model thread: it owns the generator and the repository index, and runs one job at a
//! time (completions, "implement and verify", index updates) so the async server never
//! blocks on decoding. A completion whose request was superseded or cancelled stops at the
//! next token.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use crucible_core::complete::{CompleteRequest, Completed, FileWindow, complete};
use crucible_core::generate::{Generated, Plan, Sandbox, generate_for_task};
use crucible_core::infer::{Generator, Observer};
use crucible_core::repo_context::{ContextCache, RepoContext, RepoOptions, open_index};
use crucible_core::repo_index::{EmbeddingModel, RepoIndex};
use crucible_core::strategy::Progress;
use crucible_core::types::{GenParams, Task};
use crucible_core::{Error, Settings};
use tokio::sync::oneshot;

/// Opens the generator on the model thread (loading a model can take seconds).
pub type GeneratorFactory = Box<dyn FnOnce() -> crucible_core::Result<Box<dyn Generator>> + Send>;

/// A completion's answer.
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) text: String,
    pub(crate) context: Option<RepoContext>,
}

/// What "implement and verify" gave.
#[derive(Debug)]
pub(crate) struct Implemented {
    pub(crate) code: Option<String>,
    /// The verdict in words, for the message and the diagnostic.
    pub(crate) summary: String,
    pub(crate) passed: bool,
}

pub(crate) enum Job {
    Complete {
        /// The completion's turn; it is superseded when `latest` moves past it.
        turn: u64,
        /// Set when the client cancelled the request.
        cancelled: Arc<AtomicBool>,
        prefix: String,
        suffix: String,
        path: Option<String>,
        params: GenParams,
        budget_tokens: usize,
        /// When the client's request arrived (the timing record counts from it).
        received: Instant,
        reply: oneshot::Sender<Result<Option<Completion>, String>>,
    },
    Implement {
        task: Box<Task>,
        plan: Box<Plan>,
        reply: oneshot::Sender<Result<Implemented, String>>,
    },
    Update {
        paths: Vec<PathBuf>,
    },
}

/// The handle the server keeps: send jobs, see the latest completion turn.
#[derive(Clone)]
pub(crate) struct Worker {
    sender: mpsc::Sender<Job>,
    pub(crate) latest: Arc<AtomicU64>,
}

impl Worker {
    /// Start the model thread. The generator and the index (when `repo` is given) are opened
    /// there; a failure to open either is answered to every job that needs it.
    pub(crate) fn start(
        factory: GeneratorFactory,
        settings: Settings,
        repo: Option<RepoOptions>,
    ) -> Worker {
        let (sender, receiver) = mpsc::channel();
        let latest = Arc::new(AtomicU64::new(0));
        let shared = latest.clone();
        std::thread::Builder::new()
            .name("crucible-lsp-model".into())
            .spawn(move || run(factory, settings, repo, receiver, shared))
            .expect("the model thread starts");
        Worker { sender, latest }
    }

    pub(crate) fn send(&self, job: Job) -> bool {
        self.sender.send(job).is_ok()
    }
}

struct Turn<'a> {
    turn: u64,
    latest: &'a AtomicU64,
    cancelled: &'a AtomicBool,
}

impl Turn<'_> {
    fn gone(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || self.latest.load(Ordering::Relaxed) != self.turn
    }
}

impl Observer for Turn<'_> {
    fn cancelled(&self) -> bool {
        self.gone()
    }
}

struct QuietProgress;

impl Observer for QuietProgress {}
impl Progress for QuietProgress {}

fn run(
    factory: GeneratorFactory,
    settings: Settings,
    repo: Option<RepoOptions>,
    receiver: mpsc::Receiver<Job>,
    latest: Arc<AtomicU64>,
) {
    let mut state = State {
        generator: factory().map_err(|err| format!("{err}")),
        index: None,
        // The repository context of the last completions, kept while the query and the index
        // stay the same (each keystroke on a line asks with the same query).
        cache: ContextCache::new(),
        settings,
        latest,
    };
    let mut to_embed = None;
    if let Some(options) = &repo {
        (state.index, to_embed) = open_repository(&state.settings, options);
    }
    let mut waiting: Option<Job> = None;
    let mut closed = false;
    loop {
        if let Some(job) = waiting.take() {
            state.handle(job);
            continue;
        }
        if closed {
            break;
        }
        // Embedding the repository's chunks, between requests: completions use BM25 until
        // every chunk has a vector, then the hybrid search.
        if let (Some(index), Some(model)) = (&mut state.index, &to_embed) {
            let mut stop = || {
                if waiting.is_none() {
                    match receiver.try_recv() {
                        Ok(job) => waiting = Some(job),
                        Err(mpsc::TryRecvError::Disconnected) => closed = true,
                        Err(mpsc::TryRecvError::Empty) => {}
                    }
                }
                waiting.is_some() || closed
            };
            match index.embed_some(model, &mut stop) {
                Ok(0) => {
                    index.search_by_embeddings_too(model.clone());
                    to_embed = None;
                    tracing::info!(
                        "every chunk of the repository is embedded: repository context now comes from the hybrid search"
                    );
                }
                Ok(_) => {}
                Err(err) => {
                    to_embed = None;
                    tracing::warn!(
                        "embedding the repository stopped ({err}); repository context stays BM25's"
                    );
                }
            }
            continue;
        }
        match receiver.recv() {
            Ok(job) => state.handle(job),
            Err(_) => break,
        }
    }
}

/// What the model thread holds between jobs.
struct State {
    generator: Result<Box<dyn Generator>, String>,
    index: Option<RepoIndex>,
    cache: ContextCache,
    settings: Settings,
    latest: Arc<AtomicU64>,
}

/// The repository's index, brought up to date for BM25 search, and, with
/// `options.embeddings`, the embedding model its chunks are still to be embedded with (the
/// model thread embeds them between requests, so the first completion does not wait minutes
/// for a large repository). Without the index there is no repository context; without the
/// model, BM25's; each is said in the log.
fn open_repository(
    settings: &Settings,
    options: &RepoOptions,
) -> (Option<RepoIndex>, Option<Arc<EmbeddingModel>>) {
    let bm25 = RepoOptions {
        embeddings: false,
        ..options.clone()
    };
    let index = match open_index(settings, &bm25) {
        Ok(index) => index,
        Err(err) => {
            tracing::warn!("no repository context: the index could not be opened: {err}");
            return (None, None);
        }
    };
    if !options.embeddings {
        return (Some(index), None);
    }
    match EmbeddingModel::load(&settings.home) {
        Ok(model) => {
            tracing::info!(
                "embedding the repository's chunks between requests; until every chunk has a vector, repository context comes from BM25"
            );
            (Some(index), Some(Arc::new(model)))
        }
        Err(err) => {
            tracing::warn!("repository context from BM25 only: {err}");
            (Some(index), None)
        }
    }
}

impl State {
    fn handle(&mut self, job: Job) {
        let State {
            generator,
            index,
            cache,
            settings,
            latest,
        } = self;
        let latest: &AtomicU64 = latest;
        match job {
            Job::Update { paths } => {
                if let Some(index) = index
                    && let Err(err) = index.update_paths(&paths)
                {
                    tracing::warn!("index update failed: {err}");
                }
            }
            Job::Complete {
                turn,
                cancelled,
                prefix,
                suffix,
                path,
                params,
                budget_tokens,
                received,
                reply,
            } => {
                let waited = received.elapsed();
                let mut observer = Turn {
                    turn,
                    latest,
                    cancelled: &cancelled,
                };
                if observer.gone() {
                    let _ = reply.send(Ok(None));
                    return;
                }
                let answer = match generator {
                    Err(err) => Err(format!("the model could not be opened: {err}")),
                    Ok(generator) => {
                        let request = CompleteRequest {
                            prefix: &prefix,
                            suffix: &suffix,
                            path: path.as_deref(),
                            budget_tokens,
                            window: FileWindow::EDITOR,
                            params,
                            iterative: false,
                        };
                        let done = complete(
                            generator.as_mut(),
                            index.as_ref(),
                            cache,
                            &request,
                            &mut observer,
                        );
                        match done {
                            Ok(done) => {
                                log_timings(&done, waited, received);
                                Ok(Some(Completion {
                                    text: done.text,
                                    context: done.context,
                                }))
                            }
                            Err(err) if err.is_cancelled() => Ok(None),
                            Err(err) => Err(format!("{err}")),
                        }
                    }
                };
                let _ = reply.send(answer);
            }
            Job::Implement { task, plan, reply } => {
                let answer = match generator {
                    Err(err) => Err(format!("the model could not be opened: {err}")),
                    Ok(generator) => implement(generator.as_mut(), settings, &task, &plan),
                };
                let _ = reply.send(answer);
            }
        }
    }
}

/// One debug line per completion: where its time went, wall and process CPU milliseconds by
/// phase (`RUST_LOG=crucible_lsp=debug`; bench/lsp/latency.py reads it). `wait` is the time
/// from the client's request to the model thread taking the job (the debounce and any job
/// before it), `request` the whole time from the request to the answer.
fn log_timings(done: &Completed, waited: std::time::Duration, received: Instant) {
    let timings = &done.timings;
    let retrieval = timings.retrieval.unwrap_or_default();
    tracing::debug!(
        request_ms = received.elapsed().as_secs_f64() * 1e3,
        wait_ms = waited.as_secs_f64() * 1e3,
        total_ms = timings.total.wall_ms,
        total_cpu_ms = timings.total.cpu_ms,
        retrieval_cached = timings.retrieval_cached,
        import_names_ms = retrieval.import_names.wall_ms,
        import_names_cpu_ms = retrieval.import_names.cpu_ms,
        definitions_ms = retrieval.definitions.wall_ms,
        definitions_cpu_ms = retrieval.definitions.cpu_ms,
        bm25_ms = retrieval.bm25.wall_ms,
        bm25_cpu_ms = retrieval.bm25.cpu_ms,
        pack_ms = retrieval.pack.wall_ms,
        pack_cpu_ms = retrieval.pack.cpu_ms,
        generate_ms = timings.generate.wall_ms,
        generate_cpu_ms = timings.generate.cpu_ms,
        prompt_eval_ms = timings.prompt_eval_ms,
        decode_ms = timings.decode_ms,
        prompt_tokens = done.prompt_tokens,
        new_tokens = done.tokens,
        "completion timing"
    );
}

fn implement(
    generator: &mut dyn Generator,
    settings: &Settings,
    task: &Task,
    plan: &Plan,
) -> Result<Implemented, String> {
    let generated = generate_for_task(
        generator,
        Sandbox::FromSettings(settings),
        task,
        plan,
        &mut QuietProgress,
    )
    .map_err(|err: Error| format!("{err}"))?;
    Ok(match generated {
        Generated::Outcome(outcome) => {
            let passed = outcome
                .verdict
                .is_some_and(|v| v.status.is_pass() && v.passed == v.total);
            let verdict = match outcome.verdict {
                Some(v) => format!("{}, {}/{} examples passed", v.status, v.passed, v.total),
                None => "no program was judged".into(),
            };
            Implemented {
                code: outcome.code.clone(),
                summary: format!(
                    "{} on the docstring's examples (strategy {}): {verdict}",
                    if passed { "verified" } else { "not verified" },
                    outcome.strategy.name()
                ),
                passed,
            }
        }
        Generated::Candidates(out) => Implemented {
            code: out.candidates.first().map(|c| c.code.clone()),
            summary: "not verified: no strategy ran".into(),
            passed: false,
        },
    })
}
