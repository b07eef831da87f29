//! `crucible serve`: flags, the model, the sandbox and the signals; the server itself is
//! `crucible-server`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use crucible_core::{backend, settings, strategy_tools};
use crucible_server::{ApiKey, ServerConfig};

use super::GlobalArgs;
use super::common::{FlashAttentionArg, ModelArgs};
use crate::output;

/// Context per sequence when neither `--ctx` nor a configuration file sets one: every one of
/// the `--max-batch` slots holds this many tokens, so it sets the KV cache's memory.
const SERVE_CONTEXT: usize = 4096;

/// Serve the model over HTTP: an OpenAI-compatible API, editor infill, verified generation
///
/// Examples:
///   crucible serve
///   crucible serve --port 8012 --max-batch 4
///   CRUCIBLE_API_KEY=secret crucible serve --host 0.0.0.0
///   crucible serve --endpoint http://localhost:8000/v1 --allow-exec --api-key secret
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct ServeArgs {
    /// Address to listen on. Anything but a loopback address needs an API key.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one; the address is logged).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The key clients must send as `Authorization: Bearer KEY`. Default: CRUCIBLE_API_KEY.
    /// It is never logged.
    #[arg(
        long,
        value_name = "KEY",
        env = "CRUCIBLE_API_KEY",
        hide_env_values = true
    )]
    api_key: Option<String>,
    /// Listen on a non-loopback address without an API key: anyone who can reach the port
    /// can use the model. Only on a network you trust.
    #[arg(long)]
    insecure_no_api_key: bool,
    /// Sequences decoded together (continuous batching across clients).
    #[arg(long, value_name = "N", default_value_t = 8)]
    max_batch: usize,
    /// Sequences that may wait for a slot; beyond them requests get 429 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 32)]
    max_queue: usize,
    /// Host memory, in MiB, for the KV cells of finished requests: a prompt that shares a
    /// prefix with one of them (a repeated prompt, a chat's next turn, an editor's next infill)
    /// evaluates only the rest. The process's peak memory grows by about this much. The cache
    /// also gets the KV memory the slots leave unused while no request needs all of --ctx; 0
    /// turns it off.
    #[arg(long, value_name = "MIB", default_value_t = 16)]
    prompt_cache_mib: usize,
    /// Flash attention in a local model's contexts: `auto` leaves it to llama.cpp (flash
    /// attention on a CPU), `off` attends plainly, which decodes faster on a CPU; a prompt that
    /// arrives while nothing decodes is then still evaluated with flash attention, which is
    /// faster at that (docs/PERFORMANCE.md, "Serving"). Default: off, or auto with
    /// --batch-invariant, which needs flash attention.
    #[arg(long, value_name = "CHOICE")]
    flash_attention: Option<FlashAttentionArg>,
    /// Largest request body, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 1024)]
    max_body_kib: usize,
    /// Longest a request may generate, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
    /// Seconds a write to a client may wait: a client that reads nothing for this long is
    /// disconnected and its request cancelled, freeing its slot.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    write_timeout: u64,
    /// On SIGTERM or Ctrl-C, seconds requests in flight get to finish before they are
    /// cancelled.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    drain: u64,
    /// `max_tokens` of a chat request that gives none (at most half the context).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    default_max_tokens: usize,
    /// Enable POST /v1/crucible/run, which runs client code in the sandbox. Needs an API key.
    #[arg(long)]
    allow_exec: bool,
    /// Largest CPU time, in seconds, a run may ask for (and the default).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    exec_time_limit: f64,
    /// Largest memory, in MiB, a run may ask for (and the default).
    #[arg(long, value_name = "MB", default_value_t = 512)]
    exec_memory_limit: u64,
    #[command(flatten)]
    model: ModelArgs,
}

pub(crate) fn run(args: ServeArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = server_config(&args)?;
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .or_else(|_| {
            use std::net::ToSocketAddrs;
            (args.host.as_str(), args.port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or(())
        })
        .map_err(|()| anyhow::anyhow!("`--host {}` is not an address to listen on", args.host))?;
    crucible_server::check_exposure(addr, &config, args.insecure_no_api_key).map_err(with_hint)?;
    let mut settings = args
        .model
        .settings(None)?
        .without_flash_attention(args.flash_attention.map(Into::into))
        .context("could not resolve settings")?;
    settings.prompt_cache_mib = Some(args.prompt_cache_mib);
    if args.model.context_length.is_none()
        && settings.context_length == settings::DEFAULT_CONTEXT_LENGTH
    {
        settings.context_length = SERVE_CONTEXT;
    }
    let loader = backend::prepare_for_serving(&settings, &mut output::pull_progress())?;
    let executor = match strategy_tools::executor(&settings) {
        Ok(executor) => Some(Arc::new(executor)),
        Err(err) => {
            tracing::warn!(
                "the sandbox could not be started ({err}); verified generation and the run endpoint are off"
            );
            None
        }
    };
    let factory: crucible_server::GeneratorFactory =
        Box::new(move || loader().map_err(|err| format!("{err}")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("could not listen on {addr}"))?;
        output::status(&format!(
            "crucible serve: listening on http://{} (loading the model)",
            listener.local_addr()?
        ));
        crucible_server::serve(listener, config, factory, executor, shutdown_signal())
            .await
            .map_err(with_hint)
    })?;
    output::status("crucible serve: stopped");
    Ok(ExitCode::SUCCESS)
}

fn server_config(args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    if !(args.exec_time_limit.is_finite() && args.exec_time_limit > 0.0) {
        bail!(
            "--exec-time-limit must be a positive number of seconds (got {})",
            args.exec_time_limit
        );
    }
    let mut config = ServerConfig::new();
    config.api_key = args.api_key.as_deref().and_then(ApiKey::new);
    config.max_batch = args.max_batch;
    config.max_queue = args.max_queue;
    config.max_body_bytes = args.max_body_kib.saturating_mul(1024);
    config.request_timeout = Duration::from_secs(args.timeout.max(1));
    config.write_timeout = Duration::from_secs(args.write_timeout.max(1));
    config.drain_timeout = Duration::from_secs(args.drain);
    config.default_max_tokens = args.default_max_tokens;
    config.exec.allow = args.allow_exec;
    config.exec.max_time = Duration::from_secs_f64(args.exec_time_limit);
    config.exec.max_memory_bytes = args.exec_memory_limit.saturating_mul(1 << 20);
    config.solve.max_budget.wall_time = config
        .solve
        .max_budget
        .wall_time
        .min(config.request_timeout);
    config.validate().map_err(with_hint)?;
    Ok(config)
}

/// A server error with its hint, for the binary's error report.
fn with_hint(err: crucible_server::Error) -> anyhow::Error {
    match err.hint() {
        Some(hint) => anyhow::anyhow!("{err}\n\nhint: {hint}"),
        None => anyhow::Error::new(err),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!("cannot watch SIGTERM ({err}); stop the server with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutdown requested");
}
