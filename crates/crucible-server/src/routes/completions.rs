//! `POST /v1/completions`: text continued as it is, or with `suffix` the gap between `prompt`
//! and `suffix` filled with the model's fill-in-the-middle tokens.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crucible_core::infer::{GenRequest, Infill, Prompt};

use super::generation::{self, Ending, Job, bounds, collect, model_for, now_unix, response_id};
use crate::AppState;
use crate::body::read_json;
use crate::engine::{Event, Loaded};
use crate::error::ApiError;
use crate::openai::{CompletionRequest, PromptField, Usage, finish_reason, gen_params};
use crate::sse::{self, SseSender};

/// OpenAI's default `max_tokens` for completions.
const DEFAULT_MAX_TOKENS: usize = 16;

pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let body: CompletionRequest =
        read_json(request, config.max_body_bytes, config.body_timeout).await?;
    let loaded = model_for(&state, body.model.as_deref())?;
    if body.logprobs.as_ref().is_some_and(|l| !l.is_null()) {
        return Err(ApiError::invalid_param(
            "logprobs",
            "`logprobs` is not supported by this server",
        ));
    }
    let text = match &body.prompt {
        PromptField::One(text) => text.clone(),
        PromptField::Many(list) if list.len() == 1 => list[0].clone(),
        PromptField::Many(list) => {
            return Err(ApiError::invalid_param(
                "prompt",
                format!(
                    "`prompt` is a list of {} prompts; this server takes one prompt per request",
                    list.len()
                ),
            ));
        }
    };
    if text.is_empty() && body.suffix.is_none() {
        return Err(ApiError::invalid_param("prompt", "`prompt` is empty"));
    }
    let params = gen_params(
        &body.knobs(),
        body.max_tokens,
        DEFAULT_MAX_TOKENS,
        1.0,
        bounds(&state, &loaded),
    )?;
    if body.best_of.is_some_and(|best_of| best_of > params.n) {
        return Err(ApiError::invalid_param(
            "best_of",
            "`best_of` above `n` is not supported by this server",
        ));
    }
    let prompt = match &body.suffix {
        Some(suffix) => fill_in_the_middle(&loaded, &text, suffix, "suffix")?,
        None => Prompt::Text { text: text.clone() },
    };
    let n = params.n;
    let mut job = generation::start(&state, &loaded, GenRequest { prompt, params }, None)?;
    let meta = Meta {
        id: response_id("cmpl"),
        created: now_unix(),
        model: loaded.info.name.clone(),
        echo: body.echo.then_some(text),
    };
    if body.stream {
        let include_usage = body.stream_options.is_some_and(|o| o.include_usage);
        let (sender, response) = sse::channel();
        tokio::spawn(stream(state.clone(), job, sender, meta, n, include_usage));
        return Ok(response);
    }
    let (_, ending) = collect(&state, &mut job, n).await;
    let generation = match ending {
        Ending::Finished(generation) => generation,
        Ending::Cut => return Err(ApiError::internal("the request stopped early")),
        Ending::Failed(err) => return Err(err),
    };
    let echo = meta.echo.as_deref().unwrap_or("");
    let choices: Vec<Value> = generation
        .completions
        .iter()
        .enumerate()
        .map(|(index, completion)| {
            json!({
                "index": index,
                "text": format!("{echo}{}", completion.text),
                "logprobs": null,
                "finish_reason": finish_reason(completion.finish),
            })
        })
        .collect();
    let usage = Usage::new(generation.prompt_tokens, generation.generated_tokens());
    Ok(axum::Json(json!({
        "id": meta.id,
        "object": "text_completion",
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
        "usage": usage,
    }))
    .into_response())
}

/// The prompt asking `loaded`'s model for the gap between `prefix` and `suffix` (a fill prompt:
/// the client's text stays text); an error naming `field` when the model has no FIM tokens.
pub(crate) fn fill_in_the_middle(
    loaded: &Loaded,
    prefix: &str,
    suffix: &str,
    field: &str,
) -> Result<Prompt, ApiError> {
    let infill = Infill {
        prefix: prefix.to_owned(),
        suffix: suffix.to_owned(),
        ..Infill::default()
    };
    let tokens = fim_tokens(loaded, field)?.clone();
    Ok(Prompt::Fill {
        tokens,
        infill: Box::new(infill),
    })
}

/// The model's FIM tokens, or the error for a request that needs them.
pub(crate) fn fim_tokens<'a>(
    loaded: &'a Loaded,
    field: &str,
) -> Result<&'a crucible_core::infer::FimTokens, ApiError> {
    loaded.fim.as_ref().ok_or_else(|| {
        ApiError::invalid_param(
            field,
            format!(
                "the model `{}` has no fill-in-the-middle tokens in its vocabulary, so it cannot fill a gap (`{field}`); use a code model trained for FIM, such as Qwen2.5-Coder",
                loaded.info.name
            ),
        )
    })
}

struct Meta {
    id: String,
    created: u64,
    model: String,
    /// The prompt, when `echo` asks for it before the answer.
    echo: Option<String>,
}

impl Meta {
    fn chunk(&self, index: usize, text: &str, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "text": text, "logprobs": null, "finish_reason": finish}],
        })
    }
}

async fn stream(
    state: Arc<AppState>,
    mut job: Job,
    sender: SseSender,
    meta: Meta,
    n: usize,
    include_usage: bool,
) {
    if let Some(echo) = &meta.echo {
        for index in 0..n {
            if !sender.data(&meta.chunk(index, echo, None)).await {
                return;
            }
        }
    }
    loop {
        let event = tokio::select! {
            () = sender.closed() => return,
            event = job.next() => event,
        };
        let sent = match event {
            None => sender.keep_alive().await,
            Some(Event::Text { seq, text }) => sender.data(&meta.chunk(seq, &text, None)).await,
            Some(Event::Done(result)) => {
                match job.ending(&state, result) {
                    Ending::Finished(generation) => {
                        for (index, completion) in generation.completions.iter().enumerate() {
                            let end = meta.chunk(index, "", Some(finish_reason(completion.finish)));
                            if !sender.data(&end).await {
                                return;
                            }
                        }
                        if include_usage {
                            let usage =
                                Usage::new(generation.prompt_tokens, generation.generated_tokens());
                            let last = json!({
                                "id": meta.id,
                                "object": "text_completion",
                                "created": meta.created,
                                "model": meta.model,
                                "choices": [],
                                "usage": usage,
                            });
                            sender.data(&last).await;
                        }
                    }
                    Ending::Cut => {}
                    Ending::Failed(err) => {
                        sender.data(&err.body()).await;
                    }
                }
                sender.done().await;
                return;
            }
        };
        if !sent {
            return;
        }
    }
}
