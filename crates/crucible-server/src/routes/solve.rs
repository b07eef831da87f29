//! `POST /v1/crucible/solve`: verified generation. A task in the task-file format goes through
//! the same pipeline as `crucible generate --task` (`crucible_core::generate`): a strategy
//! writes programs and runs them on the task's visible tests in the sandbox, within a budget
//! capped by the server's. With `"stream": true` the run is streamed as events (`asking`,
//! `text`, `attempt`, `note`, then `result` or `error`); otherwise one JSON object answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crucible_core::generate::{Generated, Plan, Sandbox, generate_for_task, strategy_name};
use crucible_core::infer::prompt::PromptMode;
use crucible_core::infer::{Observer, SolveParams};
use crucible_core::strategy::{Budget, Event, Progress, Strategy};
use crucible_core::types::format::parse_task_line;
use crucible_core::types::{Decoding, GenParams, Language, SamplingParams, Task};

use super::generation::model_for;
use crate::AppState;
use crate::body::read_json;
use crate::error::ApiError;
use crate::sse;

/// A task to solve and how.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SolveRequest {
    /// One task in the task-file format (docs/TASKS.md): a program task with a description
    /// and examples, or a function task with a prompt and tests.
    task: Value,
    #[serde(default)]
    model: Option<String>,
    /// The language; default: the task's own, else Python.
    #[serde(default)]
    language: Option<String>,
    /// A strategy name (docs/STRATEGIES.md); default: rerank+repair when the task shows tests
    /// and `n` is 1, else a plain request for `n` candidates.
    #[serde(default)]
    strategy: Option<String>,
    #[serde(default)]
    n: Option<usize>,
    #[serde(default)]
    budget: Option<BudgetRequest>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    max_tokens: Option<usize>,
    /// `chat` (default) or `completion`.
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    stream: bool,
}

/// A budget; each bound is capped by the server's (and defaults to it).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetRequest {
    model_calls: Option<u32>,
    tokens: Option<u64>,
    executions: Option<u32>,
    seconds: Option<f64>,
}

/// What a run sends its streaming task.
enum Update {
    Event(&'static str, Value),
    End(Result<Value, ApiError>),
}

pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let body: SolveRequest = read_json(request, config.max_body_bytes, config.body_timeout).await?;
    let loaded = model_for(&state, body.model.as_deref())?;
    let task = parse_task(&body)?;
    let plan = plan(&state, &body, &task)?;
    let executor = match (&plan, &state.executor) {
        (Plan::Strategy { .. }, None) => {
            return Err(ApiError::unavailable(
                "the sandbox could not be started on this server, so strategies cannot run",
            ));
        }
        (_, executor) => executor.clone(),
    };
    let permit = state
        .solves
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::overloaded(Duration::from_secs(5)))?;
    let model = loaded.info.name.clone();
    let (tx, mut updates) = mpsc::unbounded_channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let guard = CancelOnDrop(cancel.clone());
    let deadline = Instant::now() + config.request_timeout;
    let limit = config.request_timeout;
    let engine = state.engine.clone();
    let mut progress = Watch {
        tx: tx.clone(),
        cancel,
        deadline,
        engine: engine.clone(),
    };
    let _work = state.engine.with_handle(&loaded, move |mut handle| {
        let sandbox = match &executor {
            Some(executor) => Sandbox::Ready(executor),
            None => Sandbox::Unavailable,
        };
        let result = generate_for_task(&mut handle, sandbox, &task, &plan, &mut progress);
        let end = match result {
            Ok(generated) => Ok(report(&generated, &task, &model, &plan)),
            Err(err) if err.is_cancelled() && engine.stopping() => Err(ApiError::unavailable(
                "the server is shutting down; the run was cancelled",
            )),
            Err(err) if err.is_cancelled() && Instant::now() >= deadline => {
                Err(ApiError::timeout(limit))
            }
            Err(err) if err.is_cancelled() => Err(ApiError::invalid("the run was cancelled")),
            Err(crucible_core::Error::Strategy(err)) => Err(ApiError::invalid(err.to_string())),
            Err(err) => Err(ApiError::internal(err.to_string())),
        };
        let _ = tx.send(Update::End(end));
        drop(permit);
    });
    if !body.stream {
        let _guard = guard;
        while let Some(update) = updates.recv().await {
            if let Update::End(end) = update {
                return end.map(|value| axum::Json(value).into_response());
            }
        }
        return Err(ApiError::internal("the run ended without a result"));
    }
    let (sender, response) = sse::channel();
    tokio::spawn(async move {
        let _guard = guard;
        loop {
            let update = tokio::select! {
                () = sender.closed() => return,
                update = tokio::time::timeout(sse::KEEP_ALIVE, updates.recv()) => update,
            };
            let sent = match update {
                Err(_) => sender.keep_alive().await,
                Ok(None) => return,
                Ok(Some(Update::Event(name, value))) => sender.event(name, &value).await,
                Ok(Some(Update::End(Ok(value)))) => {
                    sender.event("result", &value).await;
                    return;
                }
                Ok(Some(Update::End(Err(err)))) => {
                    sender.event("error", &err.body()).await;
                    return;
                }
            };
            if !sent {
                return;
            }
        }
    });
    Ok(response)
}

/// The result object: `crucible generate --json`'s, with the trace of a strategy run.
fn report(generated: &Generated, task: &Task, model: &str, plan: &Plan) -> Value {
    let mut value = generated.report(task, model, plan);
    if let Generated::Outcome(outcome) = generated {
        value["trace"] = serde_json::to_value(&outcome.trace).unwrap_or(Value::Null);
    }
    value
}

/// The task of a request: parsed by the task-file parser (hidden tests, if any, are dropped:
/// generation never sees them).
fn parse_task(body: &SolveRequest) -> Result<Task, ApiError> {
    let language = body
        .language
        .as_deref()
        .map(|name| {
            name.parse::<Language>()
                .map_err(|err| ApiError::invalid_param("language", format!("`language`: {err}")))
        })
        .transpose()?;
    if !body.task.is_object() {
        return Err(ApiError::invalid_param(
            "task",
            "`task` must be a task object, e.g. {\"id\": \"sum\", \"description\": \"...\", \"examples\": [{\"input\": \"1 2\", \"output\": \"3\"}]}",
        ));
    }
    let record = parse_task_line(
        &body.task.to_string(),
        1,
        language.unwrap_or(Language::Python),
    )
    .map_err(|problem| ApiError::invalid_param("task", format!("`task`: {problem}")))?;
    let mut task = record.task;
    if let Some(language) = language {
        task.language = language;
    }
    task.validate()
        .map_err(|err| ApiError::invalid_param("task", format!("`task`: {err}")))?;
    Ok(task)
}

/// The plan for a request, its budget capped by the server's.
fn plan(state: &AppState, body: &SolveRequest, task: &Task) -> Result<Plan, ApiError> {
    let n = body.n.unwrap_or(1);
    if n == 0 || n > state.config.max_batch {
        return Err(ApiError::invalid_param(
            "n",
            format!(
                "`n` must be between 1 and {} (this server's --max-batch)",
                state.config.max_batch
            ),
        ));
    }
    let mode = match body.mode.as_deref() {
        None | Some("chat") => PromptMode::Chat,
        Some("completion") => PromptMode::Completion,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "mode",
                format!("`mode` is `{other}`; use `chat` or `completion`"),
            ));
        }
    };
    let seed = body.seed.unwrap_or(0);
    let max_tokens = body.max_tokens.unwrap_or(768);
    if max_tokens == 0 || max_tokens >= state.engine.loaded()?.info.context_length {
        return Err(ApiError::invalid_param(
            "max_tokens",
            "`max_tokens` must be at least 1 and below the model's context",
        ));
    }
    let Some(name) = strategy_name(task, n, body.strategy.as_deref()) else {
        let decoding = match body.temperature {
            Some(t) if t > 0.0 => Decoding::Sample(SamplingParams {
                temperature: t,
                top_k: 0,
                top_p: 0.95,
                min_p: 0.0,
            }),
            _ if n > 1 => Decoding::Sample(SamplingParams {
                temperature: 0.8,
                top_k: 0,
                top_p: 0.95,
                min_p: 0.0,
            }),
            _ => Decoding::Greedy,
        };
        let params = GenParams {
            decoding,
            seed,
            max_new_tokens: max_tokens,
            stop: vec![],
            n,
        };
        params
            .validate()
            .map_err(|err| ApiError::invalid(err.to_string()))?;
        return Ok(Plan::Solve {
            solve: SolveParams { mode, params },
            shots: vec![],
        });
    };
    let mut strategy = Strategy::preset(name, seed)
        .map_err(|err| ApiError::invalid_param("strategy", err.to_string()))?;
    strategy.params.mode = mode;
    strategy.params.max_new_tokens = max_tokens;
    if let Some(t) = body.temperature.filter(|t| *t > 0.0) {
        strategy.params.sampling.temperature = t;
    }
    if n > 1 {
        strategy.params.samples = n;
    }
    strategy
        .validate()
        .map_err(|err| ApiError::invalid(err.to_string()))?;
    Ok(Plan::Strategy {
        strategy,
        budget: budget(&state.config.solve.max_budget, body.budget.as_ref())?,
    })
}

/// The asked budget within `cap`.
fn budget(cap: &Budget, asked: Option<&BudgetRequest>) -> Result<Budget, ApiError> {
    let default = BudgetRequest::default();
    let asked = asked.unwrap_or(&default);
    let wall_time = match asked.seconds {
        None => cap.wall_time,
        Some(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s).min(cap.wall_time),
        Some(s) => {
            return Err(ApiError::invalid_param(
                "budget.seconds",
                format!("`budget.seconds` must be a positive number (got {s})"),
            ));
        }
    };
    let budget = Budget {
        model_calls: asked
            .model_calls
            .unwrap_or(cap.model_calls)
            .min(cap.model_calls),
        tokens: asked.tokens.unwrap_or(cap.tokens).min(cap.tokens),
        executions: asked
            .executions
            .unwrap_or(cap.executions)
            .min(cap.executions),
        wall_time,
    };
    budget
        .validate()
        .map_err(|err| ApiError::invalid_param("budget", err.to_string()))?;
    Ok(budget)
}

/// Raises the run's cancel flag when the client's side is gone.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The run's progress: events to the client's task; cancelled when the client is gone, time
/// is up, or the server stops.
struct Watch {
    tx: mpsc::UnboundedSender<Update>,
    cancel: Arc<AtomicBool>,
    deadline: Instant,
    engine: Arc<crate::engine::Engine>,
}

impl Observer for Watch {
    fn on_text(&mut self, seq: usize, text: &str) {
        let _ = self
            .tx
            .send(Update::Event("text", json!({"seq": seq, "text": text})));
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
            || Instant::now() >= self.deadline
            || self.engine.stopping()
    }
}

impl Progress for Watch {
    fn on_event(&mut self, event: &Event<'_>) {
        let update = match event {
            Event::Asking { attempt, stage, n } => Update::Event(
                "asking",
                json!({"attempt": attempt, "stage": stage, "n": n}),
            ),
            Event::Attempt(attempt) => Update::Event(
                "attempt",
                serde_json::to_value(attempt).unwrap_or(Value::Null),
            ),
            Event::Note(note) => Update::Event("note", json!({"note": note})),
        };
        let _ = self.tx.send(update);
    }
}
