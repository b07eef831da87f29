//! `POST /v1/chat/completions`: chat turns rendered with the model's template, answered whole
//! or streamed as OpenAI's `chat.completion.chunk` events followed by `[DONE]`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crucible_core::infer::{GenRequest, Message, Prompt, Role};

use super::generation::{self, Ending, Job, bounds, collect, model_for, now_unix, response_id};
use crate::AppState;
use crate::body::read_json;
use crate::engine::Event;
use crate::error::ApiError;
use crate::openai::{ChatMessage, ChatRequest, Content, Usage, finish_reason, gen_params};
use crate::sse::{self, SseSender};

pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let body: ChatRequest = read_json(request, config.max_body_bytes, config.body_timeout).await?;
    let loaded = model_for(&state, body.model.as_deref())?;
    if body.logprobs == Some(true) {
        return Err(ApiError::invalid_param(
            "logprobs",
            "`logprobs` is not supported by this server",
        ));
    }
    if body
        .tools
        .as_ref()
        .is_some_and(|tools| !tools.is_null() && tools.as_array().is_none_or(|t| !t.is_empty()))
    {
        return Err(ApiError::invalid_param(
            "tools",
            "`tools` (function calling) is not supported by this server",
        ));
    }
    let messages = messages(&body.messages)?;
    let max_tokens = body.max_completion_tokens.or(body.max_tokens);
    let params = gen_params(
        &body.knobs(),
        max_tokens,
        config.default_max_tokens,
        1.0,
        bounds(&state, &loaded),
    )?;
    let n = params.n;
    let request = GenRequest {
        prompt: Prompt::Chat {
            messages,
            prefill: String::new(),
        },
        params,
    };
    let mut job = generation::start(&state, &loaded, request, None)?;
    let meta = Meta {
        id: response_id("chatcmpl"),
        created: now_unix(),
        model: loaded.info.name.clone(),
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
    let choices: Vec<Value> = generation
        .completions
        .iter()
        .enumerate()
        .map(|(index, completion)| {
            json!({
                "index": index,
                "message": {"role": "assistant", "content": completion.text},
                "logprobs": null,
                "finish_reason": finish_reason(completion.finish),
            })
        })
        .collect();
    let usage = Usage::new(generation.prompt_tokens, generation.generated_tokens());
    Ok(axum::Json(json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
        "usage": usage,
    }))
    .into_response())
}

/// The chat turns of a request.
fn messages(wire: &[ChatMessage]) -> Result<Vec<Message>, ApiError> {
    if wire.is_empty() {
        return Err(ApiError::invalid_param(
            "messages",
            "`messages` is empty; send at least one message",
        ));
    }
    wire.iter()
        .enumerate()
        .map(|(idx, message)| {
            let role = match message.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(ApiError::invalid_param(
                        &format!("messages[{idx}].role"),
                        format!(
                            "`messages[{idx}].role` is `{other}`; this server takes system, developer, user and assistant messages"
                        ),
                    ));
                }
            };
            let content = match &message.content {
                None => String::new(),
                Some(Content::Text(text)) => text.clone(),
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for part in parts {
                        match (part.kind.as_str(), &part.text) {
                            ("text", Some(piece)) => text.push_str(piece),
                            (kind, _) => {
                                return Err(ApiError::invalid_param(
                                    &format!("messages[{idx}].content"),
                                    format!(
                                        "`messages[{idx}].content` has a part of type `{kind}`; this server reads text parts only"
                                    ),
                                ));
                            }
                        }
                    }
                    text
                }
            };
            Ok(Message { role, content })
        })
        .collect()
}

/// What every chunk of one response repeats.
struct Meta {
    id: String,
    created: u64,
    model: String,
}

impl Meta {
    fn chunk(&self, choices: Value, usage: Option<Usage>) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = json!(usage);
        }
        chunk
    }

    fn delta(&self, index: usize, delta: Value, finish: Option<&str>) -> Value {
        self.chunk(
            json!([{"index": index, "delta": delta, "logprobs": null, "finish_reason": finish}]),
            None,
        )
    }
}

/// Stream the job's text as chunks; the role first, finish reasons and usage last, then
/// `[DONE]`. A failure becomes an error event before `[DONE]`.
async fn stream(
    state: Arc<AppState>,
    mut job: Job,
    sender: SseSender,
    meta: Meta,
    n: usize,
    include_usage: bool,
) {
    for index in 0..n {
        let role = meta.delta(index, json!({"role": "assistant", "content": ""}), None);
        if !sender.data(&role).await {
            return;
        }
    }
    loop {
        let event = tokio::select! {
            // The client went away: returning drops the job, which withdraws the request.
            () = sender.closed() => return,
            event = job.next() => event,
        };
        let sent = match event {
            None => sender.keep_alive().await,
            Some(Event::Text { seq, text }) => {
                sender
                    .data(&meta.delta(seq, json!({"content": text}), None))
                    .await
            }
            Some(Event::Done(result)) => {
                match job.ending(&state, result) {
                    Ending::Finished(generation) => {
                        for (index, completion) in generation.completions.iter().enumerate() {
                            let end = meta.delta(
                                index,
                                json!({}),
                                Some(finish_reason(completion.finish)),
                            );
                            if !sender.data(&end).await {
                                return;
                            }
                        }
                        if include_usage {
                            let usage =
                                Usage::new(generation.prompt_tokens, generation.generated_tokens());
                            sender.data(&meta.chunk(json!([]), Some(usage))).await;
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
