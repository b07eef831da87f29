//! `crucible serve`: an OpenAI-compatible HTTP server over one loaded model, with editor
//! infill, verified generation and a sandboxed run endpoint.
//!
//! Every client's request feeds one continuous batcher (the model lives on a thread of its
//! own, see [`engine`]); routes are in `routes/`, OpenAI's wire types in `openai.rs`, and the
//! listener with its timeouts and graceful shutdown in `listen.rs`. The API is documented in
//! the crate's README.

mod auth;
mod body;
mod engine;
mod error;
mod listen;
mod metrics;
mod openai;
mod routes;
mod sse;
mod timed_io;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crucible_core::exec::Executor;
use crucible_core::strategy::Budget;

pub use auth::ApiKey;
pub use engine::GeneratorFactory;
pub use error::{ApiError, Error};

/// How the server runs. [`ServerConfig::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The key clients must send as `Authorization: Bearer KEY`; `None` lets anyone in.
    pub api_key: Option<ApiKey>,
    /// Sequences decoded together (the batcher's slots).
    pub max_batch: usize,
    /// Sequences admitted beyond the slots, waiting for one; more are refused with 429.
    pub max_queue: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Time a client has to send its request headers.
    pub header_timeout: Duration,
    /// Time a client has to send its request body.
    pub body_timeout: Duration,
    /// Longest a generating request may run, streaming or not.
    pub request_timeout: Duration,
    /// Longest a write to a client may wait: a client that reads nothing for this long (its
    /// buffers full) is disconnected and its request cancelled, freeing its slots.
    pub write_timeout: Duration,
    /// On shutdown, how long requests in flight may take to finish before they are cancelled.
    pub drain_timeout: Duration,
    /// `max_tokens` of a chat request that gives none (capped at half the context).
    pub default_max_tokens: usize,
    /// The sandboxed run endpoint.
    pub exec: ExecPolicy,
    /// The verified-generation endpoint.
    pub solve: SolvePolicy,
}

/// What `/v1/crucible/run` may do.
#[derive(Debug, Clone)]
pub struct ExecPolicy {
    /// Off unless `--allow-exec`.
    pub allow: bool,
    /// The largest CPU time limit a request may ask for (and the default).
    pub max_time: Duration,
    /// The largest memory limit a request may ask for (and the default).
    pub max_memory_bytes: u64,
    /// Programs run at once; more wait.
    pub concurrent: usize,
}

/// What `/v1/crucible/solve` may do.
#[derive(Debug, Clone)]
pub struct SolvePolicy {
    /// Strategy runs at once; more are refused with 429.
    pub concurrent: usize,
    /// The largest budget a request may ask for (and the default).
    pub max_budget: Budget,
}

impl ServerConfig {
    /// The defaults: no key, 8 slots and 32 queue places, 1 MiB bodies, 10 s for headers,
    /// 30 s for a body, 600 s per request, 30 s per write, 30 s to drain, 1024 tokens per chat answer, the
    /// run endpoint off (2 s and 512 MiB at most when on), 2 strategy runs at once within 12
    /// model calls, 16,000 tokens, 200 runs and 600 s.
    pub fn new() -> ServerConfig {
        ServerConfig {
            api_key: None,
            max_batch: 8,
            max_queue: 32,
            max_body_bytes: 1 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            default_max_tokens: 1024,
            exec: ExecPolicy {
                allow: false,
                max_time: Duration::from_secs(2),
                max_memory_bytes: 512 << 20,
                concurrent: 2,
            },
            solve: SolvePolicy {
                concurrent: 2,
                max_budget: Budget {
                    model_calls: 12,
                    tokens: 16_000,
                    executions: 200,
                    wall_time: Duration::from_secs(600),
                },
            },
        }
    }

    /// Check the settings against each other.
    pub fn validate(&self) -> Result<(), Error> {
        let positive = [
            ("max_batch", self.max_batch),
            ("max_body_bytes", self.max_body_bytes),
            ("default_max_tokens", self.default_max_tokens),
            ("exec.concurrent", self.exec.concurrent),
            ("solve.concurrent", self.solve.concurrent),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::Config {
                name,
                problem: "must be at least 1".into(),
            });
        }
        if self.write_timeout.is_zero() {
            return Err(Error::Config {
                name: "write_timeout",
                problem: "must be above zero (a write that may not wait fails at once)".into(),
            });
        }
        if self.exec.allow && self.api_key.is_none() {
            return Err(Error::ExecWithoutKey);
        }
        self.solve
            .max_budget
            .validate()
            .map_err(|err| Error::Config {
                name: "solve.max_budget",
                problem: err.to_string(),
            })
    }
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig::new()
    }
}

/// Refuse to serve a non-loopback address without a key, unless `insecure` says the network is
/// trusted: an open model server is found and used by others within hours.
pub fn check_exposure(
    addr: SocketAddr,
    config: &ServerConfig,
    insecure: bool,
) -> Result<(), Error> {
    if config.api_key.is_some() || addr.ip().is_loopback() || insecure {
        return Ok(());
    }
    Err(Error::ExposedWithoutKey {
        addr: addr.to_string(),
        exec: if config.exec.allow {
            ", and run code on this machine"
        } else {
            ""
        },
    })
}

/// What every handler shares.
pub(crate) struct AppState {
    pub(crate) config: ServerConfig,
    pub(crate) engine: Arc<engine::Engine>,
    pub(crate) executor: Option<Arc<Executor>>,
    /// Shutdown has begun: new requests get 503 and `/health` says so.
    pub(crate) draining: AtomicBool,
    pub(crate) solves: Arc<Semaphore>,
    pub(crate) runs: Semaphore,
}

impl AppState {
    pub(crate) fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// Serve on `listener` until `shutdown` resolves, then drain: stop accepting, let requests in
/// flight finish for the drain time, cancel what remains (streams end with an error event, not
/// mid-chunk), and return.
///
/// The model is made by `factory` on the engine thread; until it is ready `/health` answers
/// 503 and generation requests get 503. A model that fails to load ends the server with
/// [`Error::Load`]. `executor` is the sandbox for verified generation and the run endpoint
/// (`None`: those endpoints answer 503).
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    factory: GeneratorFactory,
    executor: Option<Arc<Executor>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    config.validate()?;
    let metrics = Arc::new(metrics::Metrics::new());
    let (engine, ready, engine_thread) =
        engine::Engine::start(factory, config.max_batch, config.max_queue, metrics.clone());
    let state = Arc::new(AppState {
        solves: Arc::new(Semaphore::new(config.solve.concurrent)),
        runs: Semaphore::new(config.exec.concurrent),
        config,
        engine: engine.clone(),
        executor,
        draining: AtomicBool::new(false),
    });
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    let router = routes::router(state.clone());
    let result = listen::run(listener, router, state.clone(), ready, shutdown).await;
    // No handle is left once the connections are gone; the engine thread then ends.
    engine.stop_now();
    engine.close();
    let _ = tokio::task::spawn_blocking(move || engine_thread.join()).await;
    result
}
