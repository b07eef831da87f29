//! OpenAI-compatible HTTP backend: a [`Generator`] over a server such as vLLM, llama.cpp's
//! `llama-server` or Ollama.
//!
//! Chat prompts go to `/v1/chat/completions`, text prompts to `/v1/completions`, always
//! streamed (Server-Sent Events) so the observer sees text as it arrives and can cancel: the
//! connection is then closed, which stops generation on vLLM and llama-server. Requests run on
//! their own threads with blocking IO (`ureq`); the calling thread polls the observer every
//! 50 ms, so a cancel takes effect even while the server is still reading the prompt.
//!
//! What the server cannot express or report, and what Crucible does instead:
//! - Beam search has no OpenAI form: it is refused with [`Error::BeamSearch`].
//! - `n` > 1 is sent as `n`; when the server refuses it (llama-server: a 400 before any text)
//!   or returns fewer choices (Ollama), the missing sequences are asked for one by one, a few
//!   at a time, with seeds derived from the request's, and later requests skip the attempt. A
//!   busy server's 429 or 5xx is not a refusal of `n`: the request is retried as it was.
//! - A request the server did not take (connection refused or reset, 408, 429, 5xx, a stall
//!   before the first text) is retried with exponential backoff and jitter, honouring
//!   `Retry-After`, within [`RetryPolicy`]'s budget; every request has an overall deadline
//!   ([`HttpConfig::deadline`]). Text already streamed is never asked for again, so a stream
//!   that breaks midway is an error, not a retry.
//! - The chat prefill is sent as a final assistant message with `continue_final_message`; an
//!   answer that starts over with the prefill is detected and the repetition dropped (see
//!   `prefill.rs`), so [`Completion::text`](crucible_infer::Completion) is always the text
//!   after the prefill.
//! - `Completion::logprob` is `None`: logprobs are not requested, because servers compute them
//!   from different distributions (vLLM's raw model output, llama-server's after its samplers)
//!   and streaming them multiplies the size of every event, while nothing in Crucible ranks by
//!   them (strategy traces record them where the backend gives them, for offline study).
//! - Token counts come from `usage` (asked for with `stream_options.include_usage`); the
//!   total of a request for several sequences is shared among them in proportion to their
//!   length. Without `usage` a sequence's count is its number of streamed pieces.
//! - The context length is what the server reports (vLLM: `max_model_len` in `/v1/models`;
//!   llama-server: `n_ctx` per slot in `/props`), else [`HttpConfig::context_length`].

mod error;
#[cfg(any(test, feature = "mock"))]
pub mod mock;
mod prefill;
mod retry;
mod server;
mod stream;
mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crucible_infer::{Feed, GenRequest, Generation, Generator, ModelInfo, Observer};

pub use error::{Error, Result};
pub use retry::RetryPolicy;

/// Environment variables this crate reads (through [`ApiKey::from_env`]); the list of all of
/// Crucible's is `crucible_types::env`.
pub mod env_vars {
    pub use crucible_types::env::{CRUCIBLE_API_KEY, OPENAI_API_KEY};
}

/// Default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time allowed between two reads of an answer. Long, because the first byte of a
/// streamed answer comes only after the prompt is evaluated, which on a busy or CPU-only server
/// can take minutes.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(600);

/// Default longest time one request may take, retries and waits included: generous, because a
/// CPU-only server shared by many clients can take minutes for a long answer.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(1800);

/// Default most one-sequence requests in flight at once (when a server cannot return several
/// choices per request).
pub const DEFAULT_MAX_PARALLEL: usize = 4;

/// A secret sent as `Authorization: Bearer ...`; its `Debug` output hides it.
#[derive(Clone)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<hidden>)")
    }
}

impl ApiKey {
    /// A key (empty keys are no key).
    pub fn new(key: &str) -> Option<ApiKey> {
        let key = key.trim();
        (!key.is_empty()).then(|| ApiKey(key.to_owned()))
    }

    /// `CRUCIBLE_API_KEY`, else `OPENAI_API_KEY`, as `env` reports them.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<ApiKey> {
        [env_vars::CRUCIBLE_API_KEY, env_vars::OPENAI_API_KEY]
            .into_iter()
            .find_map(|var| env(var).as_deref().and_then(ApiKey::new))
    }

    fn secret(&self) -> &str {
        &self.0
    }
}

/// Where the server is and how to talk to it.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The OpenAI base URL, e.g. `http://localhost:8000/v1`. A bare `http://host:port` gets
    /// `/v1`; a pasted route such as `.../v1/chat/completions` is cut back to its base.
    pub endpoint: String,
    /// The server's model id; `None` picks the server's only model.
    pub model: Option<String>,
    pub api_key: Option<ApiKey>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Context length to report when the server does not tell.
    pub context_length: usize,
    /// Most one-sequence requests in flight at once.
    pub max_parallel: usize,
    /// Retries of a request the server did not take (busy, failing, unreachable).
    pub retry: RetryPolicy,
    /// Longest time one request may take, retries included.
    pub deadline: Duration,
}

impl HttpConfig {
    /// A configuration for `endpoint` with the documented defaults: no model (the server's
    /// only one), no key, [`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_READ_TIMEOUT`],
    /// [`DEFAULT_MAX_PARALLEL`], [`RetryPolicy::DEFAULT`], [`DEFAULT_DEADLINE`], and a fallback
    /// context of 8192 tokens (Crucible's default).
    pub fn new(endpoint: &str) -> HttpConfig {
        HttpConfig {
            endpoint: endpoint.to_owned(),
            model: None,
            api_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            context_length: 8192,
            max_parallel: DEFAULT_MAX_PARALLEL,
            retry: RetryPolicy::DEFAULT,
            deadline: DEFAULT_DEADLINE,
        }
    }
}

/// A model behind an OpenAI-compatible server.
#[derive(Debug)]
pub struct HttpGenerator {
    client: server::Client,
    endpoint: String,
    info: ModelInfo,
    max_parallel: usize,
    retry: RetryPolicy,
    deadline: Duration,
    n_choices: stream::NChoices,
}

impl HttpGenerator {
    /// Check the endpoint, ask the server for its models (and the context length), and settle
    /// the model. A server that cannot be reached, refuses the key, or does not serve the
    /// requested model is an error here, before any generation.
    pub fn connect(config: HttpConfig) -> Result<HttpGenerator> {
        let endpoint = server::normalize_endpoint(&config.endpoint)?;
        let client = server::Client::new(
            config.connect_timeout,
            config.read_timeout,
            config.api_key.clone(),
        );
        let listed = server::list_models(&client, &endpoint)?;
        let model = server::choose_model(config.model.as_deref(), listed.as_deref(), &endpoint)?;
        let max_model_len = listed
            .iter()
            .flatten()
            .find(|m| m.id == model)
            .and_then(|m| m.max_model_len);
        let context_length = max_model_len
            .or_else(|| server::props_context_length(&client, &endpoint))
            .unwrap_or(config.context_length);
        tracing::info!(%endpoint, %model, context_length, "connected to the server");
        Ok(HttpGenerator {
            info: ModelInfo {
                name: model.clone(),
                source: format!("{endpoint} ({model})"),
                context_length,
            },
            client,
            endpoint,
            max_parallel: config.max_parallel.max(1),
            retry: config.retry,
            deadline: config.deadline,
            n_choices: stream::NChoices::Try,
        })
    }

    /// The endpoint in its canonical form (what requests go to).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Generator for HttpGenerator {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn generate(
        &mut self,
        request: &GenRequest,
        observer: &mut dyn Observer,
    ) -> Result<Generation, crucible_infer::Error> {
        let call = stream::Call {
            client: &self.client,
            endpoint: &self.endpoint,
            model: &self.info.name,
            request,
            max_parallel: self.max_parallel,
            retry: self.retry,
            deadline: self.deadline,
        };
        stream::run(&call, &mut self.n_choices, observer)
    }

    /// Requests run concurrently, each on its own thread, with at most `max_sequences`
    /// sequences in flight (a request of n sequences counts n; one larger than the limit runs
    /// alone), so the server can batch them; a new request starts as soon as one ends. Each
    /// request's text goes to the feed as it arrives, and a request the feed cancels has its
    /// connection closed (the server stops generating it) while the others go on.
    fn generate_many(
        &mut self,
        feed: &mut dyn Feed,
        max_sequences: usize,
        observer: &mut dyn Observer,
    ) -> Result<(), crucible_infer::Error> {
        let abort = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<Message>();
        let n_choices = self.n_choices;
        let (client, endpoint, model) = (&self.client, self.endpoint.as_str(), &self.info.name);
        let (max_parallel, retry, deadline) = (self.max_parallel, self.retry, self.deadline);
        std::thread::scope(|scope| {
            let mut next_id = 0;
            let mut sequences = 0;
            // The cancel flag of each running request.
            let mut running: HashMap<usize, Arc<AtomicBool>> = HashMap::new();
            let mut more = true;
            // A request taken from the feed that waits for room.
            let mut waiting: Option<GenRequest> = None;
            let outcome = loop {
                loop {
                    if waiting.is_none() && more {
                        let idle = running.is_empty();
                        waiting = feed.next_request(idle);
                        // A busy call asks again after the next result or poll.
                        more = waiting.is_some() || !idle;
                    }
                    let Some(seqs) = waiting.as_ref().map(|r| r.params.n.max(1)) else {
                        break;
                    };
                    if !running.is_empty() && sequences + seqs > max_sequences {
                        break;
                    }
                    let request = waiting.take().expect("checked above");
                    let id = next_id;
                    next_id += 1;
                    sequences += seqs;
                    let cancel = Arc::new(AtomicBool::new(false));
                    running.insert(id, cancel.clone());
                    let (tx, abort) = (tx.clone(), &abort);
                    scope.spawn(move || {
                        let call = stream::Call {
                            client,
                            endpoint,
                            model,
                            request: &request,
                            max_parallel,
                            retry,
                            deadline,
                        };
                        let mut n_choices = n_choices;
                        let mut observer = RequestObserver {
                            id,
                            abort,
                            cancel,
                            tx: tx.clone(),
                        };
                        let result = stream::run(&call, &mut n_choices, &mut observer);
                        // The receiver is gone only when the call ended; nothing waits then.
                        let _ = tx.send(Message::Done {
                            id,
                            seqs,
                            result,
                            learned: n_choices,
                        });
                    });
                }
                if running.is_empty() {
                    break Ok(());
                }
                if observer.cancelled() {
                    break Err(crucible_infer::Error::Cancelled);
                }
                for (&id, cancel) in &running {
                    if feed.cancelled(id) {
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
                let (id, seqs, result, learned) = match rx.recv_timeout(POLL) {
                    Ok(Message::Text { id, seq, text }) => {
                        feed.on_text(id, seq, &text);
                        continue;
                    }
                    Ok(Message::Done {
                        id,
                        seqs,
                        result,
                        learned,
                    }) => (id, seqs, result, learned),
                    Err(_) => continue,
                };
                let withdrawn = running
                    .remove(&id)
                    .is_some_and(|cancel| cancel.load(Ordering::Relaxed));
                sequences -= seqs;
                // A server that refused `n` once will refuse it again: later requests know.
                if learned != n_choices {
                    self.n_choices = learned;
                }
                if let Err(crucible_infer::Error::Cancelled) = result
                    && !withdrawn
                {
                    break Err(crucible_infer::Error::Cancelled);
                }
                if feed.finished(id, result).is_break() {
                    break Ok(());
                }
            };
            // Requests still running close their connections (servers stop generating) and
            // their threads end before the scope does.
            abort.store(true, Ordering::Relaxed);
            outcome
        })
    }
}

/// How often `generate_many` checks for cancellation while it waits for results.
const POLL: Duration = Duration::from_millis(50);

/// What a request thread of `generate_many` tells the calling thread.
enum Message {
    Text {
        id: usize,
        seq: usize,
        text: String,
    },
    Done {
        id: usize,
        seqs: usize,
        result: Result<Generation, crucible_infer::Error>,
        learned: stream::NChoices,
    },
}

/// The observer of a request thread: its text goes to the calling thread; it is cancelled when
/// `generate_many` aborts or the feed cancels this request.
struct RequestObserver<'a> {
    id: usize,
    abort: &'a AtomicBool,
    cancel: Arc<AtomicBool>,
    tx: mpsc::Sender<Message>,
}

impl Observer for RequestObserver<'_> {
    fn on_text(&mut self, seq: usize, text: &str) {
        let _ = self.tx.send(Message::Text {
            id: self.id,
            seq,
            text: text.to_owned(),
        });
    }

    fn cancelled(&self) -> bool {
        self.abort.load(Ordering::Relaxed) || self.cancel.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_comes_from_the_environment_and_stays_hidden() {
        let vars: HashMap<&str, &str> = [("OPENAI_API_KEY", "sk-open"), ("CRUCIBLE_API_KEY", " ")]
            .into_iter()
            .collect();
        let key = ApiKey::from_env(&|var| vars.get(var).map(|v| v.to_string())).unwrap();
        assert_eq!(key.secret(), "sk-open");
        assert_eq!(format!("{key:?}"), "ApiKey(<hidden>)");
        let vars: HashMap<&str, &str> =
            [("OPENAI_API_KEY", "sk-open"), ("CRUCIBLE_API_KEY", "sk-c")]
                .into_iter()
                .collect();
        let key = ApiKey::from_env(&|var| vars.get(var).map(|v| v.to_string())).unwrap();
        assert_eq!(key.secret(), "sk-c");
        assert!(ApiKey::from_env(&|_| None).is_none());
    }
}
