//! The OpenAI wire format: request bodies for `/chat/completions` and `/completions`, and the
//! chunks of their answers (streamed or whole).

use serde_json::{Map, Value, json};

use crucible_infer::Prompt;
use crucible_types::{Decoding, GenParams};

use crate::Error;

/// Which OpenAI route a prompt goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Chat,
    Text,
}

impl Route {
    /// The path below the endpoint (which ends in `/v1`).
    pub(crate) fn path(self) -> &'static str {
        match self {
            Route::Chat => "/chat/completions",
            Route::Text => "/completions",
        }
    }
}

/// The body of one request for `n` sequences of `prompt`, seeded with `seed`.
///
/// Greedy decoding is temperature 0. Sampling sends `temperature` and `top_p`, and also `top_k`
/// (-1 when off) and `min_p`, which the OpenAI API lacks but vLLM and llama-server accept; they
/// are sent even when off because llama-server's own defaults (top-k 40, min-p 0.05) would
/// otherwise apply. `n` is sent only above 1, since some servers refuse the field outright.
pub(crate) fn request_body(
    model: &str,
    prompt: &Prompt,
    params: &GenParams,
    n: usize,
    seed: u64,
) -> Result<(Route, Value), Error> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let route = match prompt {
        Prompt::Chat { messages, prefill } => {
            let mut turns: Vec<Value> = messages
                .iter()
                .map(|m| json!({"role": m.role, "content": m.content}))
                .collect();
            if !prefill.is_empty() {
                // The prefill is the start of the answer: a trailing assistant message that the
                // server continues (vLLM needs these two flags; llama-server continues a
                // trailing assistant message by itself).
                turns.push(json!({"role": "assistant", "content": prefill}));
                body.insert("continue_final_message".into(), json!(true));
                body.insert("add_generation_prompt".into(), json!(false));
            }
            body.insert("messages".into(), Value::Array(turns));
            Route::Chat
        }
        Prompt::Text { text } => {
            body.insert("prompt".into(), json!(text));
            Route::Text
        }
        // The OpenAI API takes text only: the fill prompt goes as its text rendering, and the
        // server reads any token text inside the files as tokens (its tokenizer's choice; no
        // OpenAI-compatible route takes token ids mixed with literal text).
        Prompt::Fill { tokens, infill } => {
            body.insert(
                "prompt".into(),
                json!(crucible_infer::fim_prompt(tokens, infill)),
            );
            Route::Text
        }
    };
    match params.decoding {
        Decoding::Greedy => {
            body.insert("temperature".into(), json!(0.0));
        }
        Decoding::Sample(sampling) => {
            let top_k = match sampling.top_k {
                0 => -1,
                k => i64::try_from(k).unwrap_or(i64::MAX),
            };
            body.insert("temperature".into(), json!(decimal(sampling.temperature)));
            body.insert("top_p".into(), json!(decimal(sampling.top_p)));
            body.insert("top_k".into(), json!(top_k));
            body.insert("min_p".into(), json!(decimal(sampling.min_p)));
        }
        Decoding::Beam { .. } => return Err(Error::BeamSearch),
    }
    body.insert("seed".into(), json!(seed));
    body.insert("max_tokens".into(), json!(params.max_new_tokens));
    if !params.stop.is_empty() {
        body.insert("stop".into(), json!(params.stop));
    }
    if n > 1 {
        body.insert("n".into(), json!(n));
    }
    body.insert("stream".into(), json!(true));
    body.insert("stream_options".into(), json!({"include_usage": true}));
    Ok((route, Value::Object(body)))
}

/// The seed sent for sequence `seq` of a request seeded `seed`.
///
/// Sequence 0 (and every request for one sequence) sends the seed itself when it fits in 31
/// bits; other sequences, asked for in separate requests when a server cannot return `n`
/// choices, get a seed mixed from both, so they differ from each other and from the sequence 0
/// of neighbouring seeds (`crucible eval` seeds batch `b` with `seed + b`). 31 bits because
/// llama-server reads the seed as a 32-bit unsigned number in which all ones means "random".
pub(crate) fn sequence_seed(seed: u64, seq: usize) -> u64 {
    const LIMIT: u64 = 0x7fff_ffff;
    if seq == 0 && seed <= LIMIT {
        return seed;
    }
    splitmix64(seed ^ (seq as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) & LIMIT
}

/// One round of the SplitMix64 generator: a cheap, well-mixed 64-bit hash.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An `f32` as the decimal a person wrote (0.8, not 0.800000011920929).
fn decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// One piece of an answer: text and endings for some choices, and maybe token counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Chunk {
    pub(crate) choices: Vec<ChoiceDelta>,
    pub(crate) usage: Option<Usage>,
}

/// New text for one choice, and how it ended if it did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChoiceDelta {
    pub(crate) index: usize,
    pub(crate) text: String,
    pub(crate) finish: Option<ServerFinish>,
}

/// The server's `finish_reason`, with vLLM's `stop_reason` when it sends one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServerFinish {
    pub(crate) reason: String,
    pub(crate) stopped_by: StoppedBy,
}

/// What vLLM's `stop_reason` says ended a sequence whose `finish_reason` is `stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoppedBy {
    /// The server did not say (llama-server, Ollama).
    Unknown,
    /// One of the request's stop strings.
    StopString,
    /// The end-of-generation token or another stop token.
    Token,
}

/// Token counts of a request (all its choices together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) prompt_tokens: Option<usize>,
    pub(crate) completion_tokens: Option<usize>,
}

/// Parse one streamed event (`data: {...}`) or a whole non-streamed answer; both carry
/// `choices`, the first with `delta.content` (chat) or `text`, the second with
/// `message.content` or `text`. An `{"error": ...}` payload is the server's error message.
pub(crate) fn parse_chunk(value: &Value) -> Result<Chunk, ChunkError> {
    if let Some(error) = value.get("error") {
        return Err(ChunkError::Server(error_text(error)));
    }
    let mut chunk = Chunk::default();
    if let Some(choices) = value.get("choices") {
        let choices = choices
            .as_array()
            .ok_or_else(|| ChunkError::Malformed("`choices` is not a list".into()))?;
        for choice in choices {
            chunk.choices.push(parse_choice(choice)?);
        }
    } else if value.get("usage").is_none() {
        return Err(ChunkError::Malformed(
            "the answer has neither `choices` nor `usage`".into(),
        ));
    }
    chunk.usage = value.get("usage").and_then(parse_usage);
    Ok(chunk)
}

/// Why a chunk could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// The server sent an error instead of text.
    Server(String),
    /// The JSON does not have the OpenAI shape.
    Malformed(String),
}

fn parse_choice(choice: &Value) -> Result<ChoiceDelta, ChunkError> {
    let index = match choice.get("index") {
        None => 0,
        Some(index) => index
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| ChunkError::Malformed(format!("choice index {index} is not a count")))?,
    };
    let text = [
        choice.pointer("/delta/content"),
        choice.pointer("/message/content"),
        choice.get("text"),
    ]
    .into_iter()
    .flatten()
    .find_map(Value::as_str)
    .unwrap_or_default()
    .to_owned();
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map(|reason| ServerFinish {
            reason: reason.to_owned(),
            stopped_by: match choice.get("stop_reason") {
                Some(Value::String(_)) => StoppedBy::StopString,
                Some(Value::Number(_)) => StoppedBy::Token,
                // vLLM sends `null` for the end-of-generation token.
                Some(Value::Null) => StoppedBy::Token,
                _ => StoppedBy::Unknown,
            },
        });
    Ok(ChoiceDelta {
        index,
        text,
        finish,
    })
}

fn parse_usage(usage: &Value) -> Option<Usage> {
    let count = |key: &str| {
        usage
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|v| usize::try_from(v).ok())
    };
    let usage = Usage {
        prompt_tokens: count("prompt_tokens"),
        completion_tokens: count("completion_tokens"),
    };
    (usage.prompt_tokens.is_some() || usage.completion_tokens.is_some()).then_some(usage)
}

/// The human-readable message in an error body: OpenAI and llama-server send
/// `{"error": {"message": ...}}`, vLLM `{"message": ...}`, FastAPI validation `{"detail": ...}`,
/// some servers `{"error": "..."}`; anything else is shown as it came, shortened.
pub(crate) fn error_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return shorten(body.trim());
    };
    if let Some(error) = value.get("error") {
        return error_text(error);
    }
    for key in ["message", "detail"] {
        match value.get(key) {
            Some(Value::String(text)) => return text.clone(),
            Some(other) if !other.is_null() => return shorten(&other.to_string()),
            _ => {}
        }
    }
    shorten(body.trim())
}

fn error_text(error: &Value) -> String {
    match error {
        Value::String(text) => text.clone(),
        other => match other.get("message").and_then(Value::as_str) {
            Some(text) => text.to_owned(),
            None => shorten(&other.to_string()),
        },
    }
}

/// At most 500 characters of a server's text for an error message.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 500;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_infer::Message;
    use crucible_types::SamplingParams;

    fn params(decoding: Decoding, n: usize, stop: &[&str]) -> GenParams {
        GenParams {
            decoding,
            seed: 7,
            max_new_tokens: 128,
            stop: stop.iter().map(|s| s.to_string()).collect(),
            n,
        }
    }

    #[test]
    fn greedy_chat_with_prefill() {
        let prompt = Prompt::Chat {
            messages: vec![Message::system("be brief"), Message::user("add")],
            prefill: "```python\n".into(),
        };
        let (route, body) =
            request_body("m", &prompt, &params(Decoding::Greedy, 1, &["\n```"]), 1, 7).unwrap();
        assert_eq!(route, Route::Chat);
        assert_eq!(
            body,
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "add"},
                    {"role": "assistant", "content": "```python\n"},
                ],
                "continue_final_message": true,
                "add_generation_prompt": false,
                "temperature": 0.0,
                "seed": 7,
                "max_tokens": 128,
                "stop": ["\n```"],
                "stream": true,
                "stream_options": {"include_usage": true},
            })
        );
    }

    #[test]
    fn sampled_text_request() {
        let sampling = Decoding::Sample(SamplingParams {
            temperature: 0.8,
            top_k: 0,
            top_p: 0.95,
            min_p: 0.05,
        });
        let prompt = Prompt::Text {
            text: "def f():".into(),
        };
        let (route, body) = request_body("m", &prompt, &params(sampling, 4, &[]), 4, 3).unwrap();
        assert_eq!(route, Route::Text);
        assert_eq!(
            body,
            json!({
                "model": "m",
                "prompt": "def f():",
                "temperature": 0.8,
                "top_p": 0.95,
                "top_k": -1,
                "min_p": 0.05,
                "seed": 3,
                "max_tokens": 128,
                "n": 4,
                "stream": true,
                "stream_options": {"include_usage": true},
            })
        );
    }

    #[test]
    fn chat_without_prefill_asks_for_a_new_turn() {
        let prompt = Prompt::Chat {
            messages: vec![Message::user("hi")],
            prefill: String::new(),
        };
        let (_, body) =
            request_body("m", &prompt, &params(Decoding::Greedy, 1, &[]), 1, 0).unwrap();
        assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
        assert!(body.get("continue_final_message").is_none());
        assert!(body.get("add_generation_prompt").is_none());
        assert!(body.get("stop").is_none());
    }

    #[test]
    fn a_fill_prompt_goes_as_its_text_rendering() {
        let prompt = Prompt::Fill {
            tokens: crucible_infer::FimTokens::qwen(),
            infill: Box::new(crucible_infer::Infill {
                prefix: "a = ".into(),
                suffix: "\n".into(),
                ..crucible_infer::Infill::default()
            }),
        };
        let (route, body) =
            request_body("m", &prompt, &params(Decoding::Greedy, 1, &[]), 1, 0).unwrap();
        assert_eq!(route, Route::Text);
        assert_eq!(
            body["prompt"],
            json!("<|fim_prefix|>a = <|fim_suffix|>\n<|fim_middle|>")
        );
    }

    #[test]
    fn beam_search_is_refused() {
        let beam = Decoding::Beam {
            width: 2,
            length_penalty: 1.0,
        };
        let prompt = Prompt::Text { text: "x".into() };
        let err = request_body("m", &prompt, &params(beam, 1, &[]), 1, 0).unwrap_err();
        assert!(matches!(err, Error::BeamSearch));
    }

    #[test]
    fn sequence_seeds_are_distinct_and_fit_31_bits() {
        assert_eq!(sequence_seed(42, 0), 42);
        let seeds: std::collections::BTreeSet<u64> = (0..4)
            .flat_map(|seed| (0..16).map(move |seq| sequence_seed(seed, seq)))
            .collect();
        assert_eq!(seeds.len(), 64);
        assert!(seeds.iter().all(|&s| s <= 0x7fff_ffff));
        assert!(sequence_seed(u64::MAX, 0) <= 0x7fff_ffff);
    }

    #[test]
    fn chunks_of_both_routes_parse() {
        let chat =
            json!({"choices": [{"index": 1, "delta": {"content": "ab"}, "finish_reason": null}]});
        assert_eq!(
            parse_chunk(&chat).unwrap().choices,
            vec![ChoiceDelta {
                index: 1,
                text: "ab".into(),
                finish: None
            }]
        );
        let text = json!({"choices": [{"index": 0, "text": "", "finish_reason": "stop", "stop_reason": "\n```"}],
                          "usage": {"prompt_tokens": 5, "completion_tokens": 9}});
        let chunk = parse_chunk(&text).unwrap();
        assert_eq!(
            chunk.choices[0].finish,
            Some(ServerFinish {
                reason: "stop".into(),
                stopped_by: StoppedBy::StopString
            })
        );
        assert_eq!(
            chunk.usage,
            Some(Usage {
                prompt_tokens: Some(5),
                completion_tokens: Some(9)
            })
        );
        let whole = json!({"choices": [{"message": {"role": "assistant", "content": "x"}, "finish_reason": "length"}]});
        assert_eq!(parse_chunk(&whole).unwrap().choices[0].text, "x");
        let usage_only = json!({"choices": [], "usage": {"prompt_tokens": 3}});
        assert!(parse_chunk(&usage_only).unwrap().choices.is_empty());
        assert_eq!(
            parse_chunk(&json!({"error": {"message": "boom"}})),
            Err(ChunkError::Server("boom".into()))
        );
        assert!(matches!(
            parse_chunk(&json!({"hello": 1})),
            Err(ChunkError::Malformed(_))
        ));
    }

    #[test]
    fn error_messages_of_known_servers() {
        let llama = r#"{"error":{"code":500,"message":"Only one completion choice is allowed","type":"server_error"}}"#;
        assert_eq!(
            error_message(llama),
            "Only one completion choice is allowed"
        );
        let vllm = r#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","code":404}"#;
        assert_eq!(error_message(vllm), "The model `x` does not exist.");
        assert_eq!(error_message(r#"{"error":"bad key"}"#), "bad key");
        assert_eq!(error_message("Bad Gateway\n"), "Bad Gateway");
        assert_eq!(error_message(&"x".repeat(600)).len(), 503);
    }
}
