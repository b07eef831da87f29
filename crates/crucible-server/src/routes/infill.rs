//! `POST /infill`: llama-server's editor route, as llama.vim and llama.vscode call it. The gap
//! between `input_prefix` and `input_suffix` is filled with the model's own FIM tokens, with
//! `input_extra` files leading the prompt; consecutive requests share that lead and the prefix
//! up to the cursor, which the llama.cpp backend evaluates once (its prompt cache).
//!
//! The answer has llama-server's shape (`content`, `tokens_predicted`, `timings`, ...). Greedy
//! decoding unless the request gives a temperature; `t_max_predict_ms` stops generation after
//! that long and answers with what was written.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crucible_core::infer::{FinishReason, GenRequest, Generation, Prompt};

use super::completions::fim_tokens;
use super::generation::{self, Ending, Job, bounds, collect, model_for};
use crate::AppState;
use crate::body::read_json;
use crate::engine::Event;
use crate::error::ApiError;
use crate::openai::{InfillRequest, gen_params};
use crate::sse::{self, SseSender};

/// `n_predict` when the request gives none (or -1, llama-server's "until the context is full").
const DEFAULT_N_PREDICT: usize = 128;

pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let body: InfillRequest =
        read_json(request, config.max_body_bytes, config.body_timeout).await?;
    let loaded = model_for(&state, body.model.as_deref())?;
    let tokens = fim_tokens(&loaded, "input_prefix")?;
    // llama.vim sends `n_predict: 0` (or 1) to warm the cache with new context: the prompt is
    // evaluated and nothing is answered.
    let warm_up = body.n_predict == Some(0);
    let max_tokens = match body.n_predict {
        None | Some(-1) => None,
        Some(0) => Some(1),
        Some(n) => Some(n),
    };
    let params = gen_params(
        &body.knobs(),
        max_tokens,
        DEFAULT_N_PREDICT,
        0.0,
        bounds(&state, &loaded),
    )?;
    if params.n != 1 {
        return Err(ApiError::invalid_param(
            "n",
            "`/infill` answers one sequence; drop `n`",
        ));
    }
    // The editor's text stays text: the backend inserts the FIM tokens as tokens.
    let request = GenRequest {
        prompt: Prompt::Fill {
            tokens: tokens.clone(),
            infill: Box::new(body.infill()),
        },
        params,
    };
    let cut_after = body
        .t_max_predict_ms
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    let mut job = generation::start(&state, &loaded, request, cut_after)?;
    let model = loaded.info.name.clone();
    if body.stream {
        let (sender, response) = sse::channel();
        tokio::spawn(stream(state.clone(), job, sender, model));
        return Ok(response);
    }
    let (texts, ending) = collect(&state, &mut job, 1).await;
    let mut answer = match ending {
        Ending::Finished(generation) => last(&job, &model, &generation),
        Ending::Cut => cut(&job, &model, &texts[0]),
        Ending::Failed(err) => return Err(err),
    };
    if warm_up {
        answer["content"] = json!("");
    }
    Ok(axum::Json(answer).into_response())
}

/// The final object of a finished request.
fn last(job: &Job, model: &str, generation: &Generation) -> Value {
    let completion = &generation.completions[0];
    let stop_type = match completion.finish {
        FinishReason::Eos => "eos",
        FinishReason::Stop => "word",
        FinishReason::Length => "limit",
    };
    answer(
        job,
        model,
        &completion.text,
        completion.tokens,
        generation.prompt_tokens,
        stop_type,
    )
}

/// The final object of a request its time limit stopped.
fn cut(job: &Job, model: &str, text: &str) -> Value {
    let tokens = text.split_inclusive(char::is_whitespace).count();
    answer(job, model, text, tokens, 0, "limit")
}

fn answer(
    job: &Job,
    model: &str,
    content: &str,
    predicted: usize,
    prompt_tokens: usize,
    stop_type: &str,
) -> Value {
    let prompt_ms = job.prompt_ms();
    let predicted_ms = job.predict_ms();
    let per_second = |n: usize, ms: f64| {
        if ms > 0.0 {
            n as f64 * 1000.0 / ms
        } else {
            0.0
        }
    };
    json!({
        "content": content,
        "stop": true,
        "model": model,
        "tokens_predicted": predicted,
        "tokens_evaluated": prompt_tokens,
        "truncated": false,
        "stop_type": stop_type,
        "stopping_word": "",
        "timings": {
            "prompt_n": prompt_tokens,
            "prompt_ms": prompt_ms,
            "prompt_per_second": per_second(prompt_tokens, prompt_ms),
            "predicted_n": predicted,
            "predicted_ms": predicted_ms,
            "predicted_per_second": per_second(predicted, predicted_ms),
        },
    })
}

/// llama-server's streamed form: `{"content", "stop": false}` per piece, then the final object.
async fn stream(state: Arc<AppState>, mut job: Job, sender: SseSender, model: String) {
    let mut text = String::new();
    loop {
        let event = tokio::select! {
            () = sender.closed() => return,
            event = job.next() => event,
        };
        let sent = match event {
            None => sender.keep_alive().await,
            Some(Event::Text { text: piece, .. }) => {
                text.push_str(&piece);
                sender.data(&json!({"content": piece, "stop": false})).await
            }
            Some(Event::Done(result)) => {
                let end = match job.ending(&state, result) {
                    Ending::Finished(generation) => last(&job, &model, &generation),
                    Ending::Cut => cut(&job, &model, &text),
                    Ending::Failed(err) => err.body(),
                };
                let mut end = end;
                end["content"] = json!("");
                sender.data(&end).await;
                return;
            }
        };
        if !sent {
            return;
        }
    }
}
