//! OpenAI's wire types (chat completions, completions, models) and llama-server's `/infill`
//! request, with the checks that turn them into generation parameters.
//!
//! Fields that do not change the answer (`user`, `presence_penalty`, ...) are accepted and
//! ignored, as clients send them by default; fields asking for something this server cannot
//! do (`logprobs`, tools) are refused with an error that names them.

use serde::{Deserialize, Serialize};

use crucible_core::infer::{ExtraFile, Infill};
use crucible_core::types::{Decoding, GenParams, SamplingParams};

use crate::error::ApiError;

/// `stop`: one string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Stop {
    One(String),
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub(crate) include_usage: bool,
}

/// A chat message's content: a string, or parts of which only text is understood.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ContentPart {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) text: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ChatMessage {
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) content: Option<Content>,
}

/// The knobs shared by every generating route. (Each request type repeats them rather than
/// flattening this struct in, so that a wrong type is reported with its field's name.)
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Knobs {
    #[serde(default)]
    pub(crate) temperature: Option<f32>,
    #[serde(default)]
    pub(crate) top_p: Option<f32>,
    /// Not OpenAI's; llama-server and vLLM read it.
    #[serde(default)]
    pub(crate) top_k: Option<i64>,
    /// Not OpenAI's; llama-server and vLLM read it.
    #[serde(default)]
    pub(crate) min_p: Option<f32>,
    #[serde(default)]
    pub(crate) n: Option<usize>,
    #[serde(default)]
    pub(crate) seed: Option<i64>,
    #[serde(default)]
    pub(crate) stop: Option<Stop>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ChatRequest {
    #[serde(default)]
    pub(crate) model: Option<String>,
    pub(crate) messages: Vec<ChatMessage>,
    #[serde(default)]
    pub(crate) temperature: Option<f32>,
    #[serde(default)]
    pub(crate) top_p: Option<f32>,
    #[serde(default)]
    pub(crate) top_k: Option<i64>,
    #[serde(default)]
    pub(crate) min_p: Option<f32>,
    #[serde(default)]
    pub(crate) n: Option<usize>,
    #[serde(default)]
    pub(crate) seed: Option<i64>,
    #[serde(default)]
    pub(crate) stop: Option<Stop>,
    #[serde(default)]
    pub(crate) max_tokens: Option<i64>,
    #[serde(default)]
    pub(crate) max_completion_tokens: Option<i64>,
    #[serde(default)]
    pub(crate) stream: bool,
    #[serde(default)]
    pub(crate) stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub(crate) logprobs: Option<bool>,
    #[serde(default)]
    pub(crate) tools: Option<serde_json::Value>,
}

/// `prompt` of `/v1/completions`: a string or a list holding one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum PromptField {
    One(String),
    Many(Vec<String>),
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CompletionRequest {
    #[serde(default)]
    pub(crate) model: Option<String>,
    pub(crate) prompt: PromptField,
    /// Text after the gap: fill-in-the-middle with the model's FIM tokens.
    #[serde(default)]
    pub(crate) suffix: Option<String>,
    #[serde(default)]
    pub(crate) temperature: Option<f32>,
    #[serde(default)]
    pub(crate) top_p: Option<f32>,
    #[serde(default)]
    pub(crate) top_k: Option<i64>,
    #[serde(default)]
    pub(crate) min_p: Option<f32>,
    #[serde(default)]
    pub(crate) n: Option<usize>,
    #[serde(default)]
    pub(crate) seed: Option<i64>,
    #[serde(default)]
    pub(crate) stop: Option<Stop>,
    #[serde(default)]
    pub(crate) max_tokens: Option<i64>,
    #[serde(default)]
    pub(crate) stream: bool,
    #[serde(default)]
    pub(crate) stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub(crate) echo: bool,
    #[serde(default)]
    pub(crate) logprobs: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) best_of: Option<usize>,
}

/// One of `input_extra`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ExtraChunk {
    #[serde(default)]
    pub(crate) filename: String,
    #[serde(default)]
    pub(crate) text: String,
}

/// `POST /infill`, as llama-server takes it and llama.vim and llama.vscode send it. The
/// editors also send `samplers`, `cache_prompt`, `t_max_prompt_ms`, `n_indent`, `id_slot` and
/// `response_fields`; they are accepted and have no effect here (the prompt cache is always on).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InfillRequest {
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) input_prefix: String,
    #[serde(default)]
    pub(crate) input_suffix: String,
    #[serde(default)]
    pub(crate) input_extra: Vec<ExtraChunk>,
    /// Text the answer starts with (after the middle token).
    #[serde(default)]
    pub(crate) prompt: String,
    #[serde(default)]
    pub(crate) n_predict: Option<i64>,
    #[serde(default)]
    pub(crate) temperature: Option<f32>,
    #[serde(default)]
    pub(crate) top_p: Option<f32>,
    #[serde(default)]
    pub(crate) top_k: Option<i64>,
    #[serde(default)]
    pub(crate) min_p: Option<f32>,
    #[serde(default)]
    pub(crate) n: Option<usize>,
    #[serde(default)]
    pub(crate) seed: Option<i64>,
    #[serde(default)]
    pub(crate) stop: Option<Stop>,
    #[serde(default)]
    pub(crate) stream: bool,
    /// Stop generating after this long and answer with what was written (editors want an
    /// answer while it is still useful).
    #[serde(default)]
    pub(crate) t_max_predict_ms: Option<u64>,
}

/// The knobs of a request type that repeats [`Knobs`]' fields.
macro_rules! knobs_of {
    ($($request:ty),*) => {$(
        impl $request {
            pub(crate) fn knobs(&self) -> Knobs {
                Knobs {
                    temperature: self.temperature,
                    top_p: self.top_p,
                    top_k: self.top_k,
                    min_p: self.min_p,
                    n: self.n,
                    seed: self.seed,
                    stop: self.stop.clone(),
                }
            }
        }
    )*};
}

knobs_of!(ChatRequest, CompletionRequest, InfillRequest);

impl InfillRequest {
    /// The gap to fill.
    pub(crate) fn infill(&self) -> Infill {
        Infill {
            prefix: self.input_prefix.clone(),
            suffix: self.input_suffix.clone(),
            extra: self
                .input_extra
                .iter()
                .map(|chunk| ExtraFile {
                    filename: chunk.filename.clone(),
                    text: chunk.text.clone(),
                })
                .collect(),
            repo_name: None,
            filename: None,
            answer_prefix: self.prompt.clone(),
            continuation: false,
        }
    }
}

/// Limits a request is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Tokens per sequence, prompt included.
    pub(crate) context_length: usize,
    /// Most sequences of one request.
    pub(crate) max_n: usize,
}

/// Most stop sequences a request may give.
const MAX_STOP: usize = 16;

/// Turn a request's knobs into generation parameters. `max_tokens` is what the request asked
/// for (`None`: `default_max_tokens`), `default_temperature` applies when it gives none.
pub(crate) fn gen_params(
    knobs: &Knobs,
    max_tokens: Option<i64>,
    default_max_tokens: usize,
    default_temperature: f32,
    bounds: Bounds,
) -> Result<GenParams, ApiError> {
    let n = knobs.n.unwrap_or(1);
    if n == 0 {
        return Err(ApiError::invalid_param("n", "`n` must be at least 1"));
    }
    if n > bounds.max_n {
        return Err(ApiError::invalid_param(
            "n",
            format!(
                "`n` is {n}, but this server decodes at most {} sequences of one request (its --max-batch)",
                bounds.max_n
            ),
        ));
    }
    let context = bounds.context_length;
    let max_new_tokens = match max_tokens {
        None => default_max_tokens.min(context / 2).max(1),
        Some(m) if m < 1 => {
            return Err(ApiError::invalid_param(
                "max_tokens",
                format!("`max_tokens` must be at least 1 (got {m})"),
            ));
        }
        Some(m) if m as u64 >= context as u64 => {
            return Err(ApiError::invalid_param(
                "max_tokens",
                format!(
                    "`max_tokens` is {m}, but the model's context holds {context} tokens, prompt included; ask for fewer"
                ),
            ));
        }
        Some(m) => m as usize,
    };
    let temperature = knobs.temperature.unwrap_or(default_temperature);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid_param(
            "temperature",
            format!("`temperature` must be between 0 and 2 (got {temperature})"),
        ));
    }
    let top_p = knobs.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::invalid_param(
            "top_p",
            format!("`top_p` must be above 0 and at most 1 (got {top_p})"),
        ));
    }
    let min_p = knobs.min_p.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&min_p) {
        return Err(ApiError::invalid_param(
            "min_p",
            format!("`min_p` must be between 0 and 1 (got {min_p})"),
        ));
    }
    // llama-server's convention: 0 or a negative number turns top-k off.
    let top_k = knobs.top_k.filter(|k| *k > 0).unwrap_or(0) as usize;
    let decoding = if temperature == 0.0 {
        if n > 1 {
            return Err(ApiError::invalid_param(
                "n",
                format!(
                    "temperature 0 is greedy decoding, which gives one answer, but `n` asks for {n}; use a temperature above 0"
                ),
            ));
        }
        Decoding::Greedy
    } else {
        Decoding::Sample(SamplingParams {
            temperature,
            top_k,
            top_p,
            min_p,
        })
    };
    let stop: Vec<String> = match &knobs.stop {
        None => vec![],
        Some(Stop::One(one)) => vec![one.clone()],
        Some(Stop::Many(many)) => many.clone(),
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect();
    if stop.len() > MAX_STOP {
        return Err(ApiError::invalid_param(
            "stop",
            format!(
                "`stop` has {} sequences; at most {MAX_STOP} are accepted",
                stop.len()
            ),
        ));
    }
    // Without a seed, every request samples anew (as OpenAI's API does); with one, the same
    // request gives the same answer.
    let seed = match knobs.seed {
        Some(seed) => seed as u64,
        None => rand::random(),
    };
    let params = GenParams {
        decoding,
        seed,
        max_new_tokens,
        stop,
        n,
    };
    params
        .validate()
        .map_err(|err| ApiError::invalid(err.to_string()))?;
    Ok(params)
}

/// `usage`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Usage {
    pub(crate) prompt_tokens: usize,
    pub(crate) completion_tokens: usize,
    pub(crate) total_tokens: usize,
}

impl Usage {
    pub(crate) fn new(prompt_tokens: usize, completion_tokens: usize) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// OpenAI's `finish_reason` for a sequence that ended so.
pub(crate) fn finish_reason(finish: crucible_core::infer::FinishReason) -> &'static str {
    use crucible_core::infer::FinishReason;
    match finish {
        FinishReason::Eos | FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        context_length: 1024,
        max_n: 4,
    };

    fn knobs(json: serde_json::Value) -> Knobs {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn defaults_follow_openai_and_temperature_zero_is_greedy() {
        let params = gen_params(&knobs(serde_json::json!({})), None, 256, 1.0, BOUNDS).unwrap();
        assert!(matches!(params.decoding, Decoding::Sample(s) if s.temperature == 1.0));
        assert_eq!(params.max_new_tokens, 256);
        let params = gen_params(
            &knobs(serde_json::json!({"temperature": 0, "seed": 3, "stop": "\n"})),
            Some(10),
            256,
            1.0,
            BOUNDS,
        )
        .unwrap();
        assert_eq!(params.decoding, Decoding::Greedy);
        assert_eq!((params.seed, params.max_new_tokens), (3, 10));
        assert_eq!(params.stop, vec!["\n"]);
    }

    #[test]
    fn impossible_requests_name_their_field() {
        let cases = [
            (serde_json::json!({"n": 9}), None, "n"),
            (serde_json::json!({"n": 2, "temperature": 0}), None, "n"),
            (serde_json::json!({}), Some(5000), "max_tokens"),
            (serde_json::json!({}), Some(0), "max_tokens"),
            (serde_json::json!({"temperature": 3}), None, "temperature"),
            (serde_json::json!({"top_p": 0}), None, "top_p"),
        ];
        for (json, max_tokens, field) in cases {
            let err = gen_params(&knobs(json.clone()), max_tokens, 16, 1.0, BOUNDS).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(field), "{json}: {err}");
            assert!(err.message.contains(&format!("`{field}`")), "{err}");
        }
    }
}
