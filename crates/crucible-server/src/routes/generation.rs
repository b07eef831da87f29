//! What the generating routes share: the model check, admission, running a request on the
//! engine, telling how it ended, and the metrics of each request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crucible_core::infer::{self, GenRequest, Generation};

use crate::AppState;
use crate::engine::{Event, Loaded, Running};
use crate::error::{ApiError, from_infer};
use crate::openai::Bounds;
use crate::sse::KEEP_ALIVE;

/// The loaded model, checked against the model a request names (none: the served one).
pub(crate) fn model_for(state: &AppState, asked: Option<&str>) -> Result<Arc<Loaded>, ApiError> {
    let loaded = state.engine.loaded()?;
    match asked {
        Some(name) if !name.is_empty() && name != loaded.info.name => {
            Err(ApiError::unknown_model(name, &loaded.info.name))
        }
        _ => Ok(loaded),
    }
}

/// The limits requests to `loaded` are checked against.
pub(crate) fn bounds(state: &AppState, loaded: &Loaded) -> Bounds {
    Bounds {
        context_length: loaded.info.context_length,
        max_n: state.config.max_batch,
    }
}

/// How a generation ended.
pub(crate) enum Ending {
    /// It ran to its end.
    Finished(Generation),
    /// Its own time limit (`t_max_predict_ms`) stopped it; the text so far is the answer.
    Cut,
    /// It failed; the error is the client's answer.
    Failed(ApiError),
}

/// A request running on the engine, with its clocks.
pub(crate) struct Job {
    running: Running,
    started: Instant,
    deadline: Instant,
    limit: Duration,
    /// An earlier, soft stop: the request ends with what it has.
    cut_at: Option<Instant>,
    first_text: Option<Instant>,
}

/// Admit `request` (its `n` sequences) and start it. `cut_after` stops it early with what it
/// has written.
pub(crate) fn start(
    state: &AppState,
    loaded: &Loaded,
    request: GenRequest,
    cut_after: Option<Duration>,
) -> Result<Job, ApiError> {
    let ticket = state.engine.admit(request.params.n)?;
    let started = Instant::now();
    let limit = state.config.request_timeout;
    let deadline = started + limit;
    let cut_at = cut_after.map(|after| started + after);
    let stop_at = cut_at.map_or(deadline, |cut| cut.min(deadline));
    let running = state.engine.submit(loaded, request, ticket, stop_at);
    Ok(Job {
        running,
        started,
        deadline,
        limit,
        cut_at,
        first_text: None,
    })
}

impl Job {
    /// The next event; `None` after [`KEEP_ALIVE`] without one (a chance to check on the
    /// client). The engine always ends a request with [`Event::Done`].
    pub(crate) async fn next(&mut self) -> Option<Event> {
        let event = tokio::time::timeout(KEEP_ALIVE, self.running.events.recv()).await;
        match event {
            Ok(Some(event)) => {
                if let Event::Text { .. } = event {
                    self.first_text.get_or_insert_with(Instant::now);
                }
                Some(event)
            }
            // The engine dropped the request without an answer (it stopped).
            Ok(None) => Some(Event::Done(Err(infer::Error::Cancelled))),
            Err(_) => None,
        }
    }

    /// How the request ended, given its result; counts it in the metrics.
    pub(crate) fn ending(
        &self,
        state: &AppState,
        result: Result<Generation, infer::Error>,
    ) -> Ending {
        let now = Instant::now();
        let metrics = &state.engine.metrics;
        metrics
            .duration
            .observe(now.duration_since(self.started).as_secs_f64());
        if let Some(first) = self.first_text {
            metrics
                .ttft
                .observe(first.duration_since(self.started).as_secs_f64());
        }
        match result {
            Ok(generation) => {
                let generated = generation.generated_tokens();
                metrics
                    .prompt_tokens
                    .inc_by(generation.prompt_tokens as u64);
                metrics.generated_tokens.inc_by(generated as u64);
                if let Some(first) = self.first_text {
                    let decode = now.duration_since(first).as_secs_f64();
                    if decode > 0.0 && generated > 1 {
                        metrics
                            .tokens_per_second
                            .observe((generated - 1) as f64 / decode);
                    }
                }
                Ending::Finished(generation)
            }
            Err(infer::Error::Cancelled) if state.engine.stopping() => Ending::Failed(
                ApiError::unavailable("the server is shutting down; the request was cancelled"),
            ),
            Err(infer::Error::Cancelled) if now >= self.deadline => {
                Ending::Failed(ApiError::timeout(self.limit))
            }
            Err(infer::Error::Cancelled) if self.cut_at.is_some_and(|cut| now >= cut) => {
                Ending::Cut
            }
            Err(err) => Ending::Failed(from_infer(&err)),
        }
    }

    /// Milliseconds from arrival to the first text (or to now).
    pub(crate) fn prompt_ms(&self) -> f64 {
        let first = self.first_text.unwrap_or_else(Instant::now);
        first.duration_since(self.started).as_secs_f64() * 1000.0
    }

    /// Milliseconds from the first text to now.
    pub(crate) fn predict_ms(&self) -> f64 {
        self.first_text
            .map_or(0.0, |first| first.elapsed().as_secs_f64() * 1000.0)
    }
}

/// Run a job to its end without streaming: the text of each of its `n` sequences and how it
/// ended. The client cannot be watched here; if it goes away, hyper drops this future and with
/// it the job, which withdraws the request.
pub(crate) async fn collect(state: &AppState, job: &mut Job, n: usize) -> (Vec<String>, Ending) {
    let mut texts = vec![String::new(); n];
    loop {
        match job.next().await {
            None => continue,
            Some(Event::Text { seq, text }) => {
                if let Some(slot) = texts.get_mut(seq) {
                    slot.push_str(&text);
                }
            }
            Some(Event::Done(result)) => return (texts, job.ending(state, result)),
        }
    }
}

/// Seconds since the Unix epoch, for `created`.
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh response id with `prefix` (`chatcmpl`, `cmpl`).
pub(crate) fn response_id(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}
