//! The backend-neutral generation interface every model backend implements.

use serde::{Deserialize, Serialize};

use crucible_types::GenParams;

use crate::{Error, Message};

/// What a model is asked to continue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Prompt {
    /// Chat turns rendered with the model's chat template, followed by `prefill`: the start of
    /// the assistant's answer, which the model continues (e.g. an opening code fence).
    Chat {
        messages: Vec<Message>,
        prefill: String,
    },
    /// Raw text the model continues (completion mode).
    Text { text: String },
}

/// One generation request: a prompt and how to decode it.
#[derive(Debug, Clone, PartialEq)]
pub struct GenRequest {
    pub prompt: Prompt,
    pub params: GenParams,
}

/// Why a sequence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model emitted an end-of-generation token.
    Eos,
    /// A stop sequence appeared.
    Stop,
    /// `max_new_tokens` was reached.
    Length,
}

/// One generated sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Generated text (after the prefill), without the stop sequence.
    pub text: String,
    /// Number of generated tokens.
    pub tokens: usize,
    pub finish: FinishReason,
    /// Sum of the chosen tokens' log-probabilities under the unfiltered model distribution.
    pub logprob: f64,
}

/// The result of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    pub completions: Vec<Completion>,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
    /// Time spent evaluating the prompt.
    pub prompt_ms: f64,
    /// Time spent generating.
    pub decode_ms: f64,
}

impl Generation {
    /// Generated tokens over all sequences.
    pub fn generated_tokens(&self) -> usize {
        self.completions.iter().map(|c| c.tokens).sum()
    }
}

/// Receives text as it is generated and can cancel the request.
pub trait Observer {
    /// New text for sequence `seq` (safe to show: it will not be taken back).
    fn on_text(&mut self, seq: usize, text: &str) {
        let _ = (seq, text);
    }

    /// Polled between tokens; returning true stops generation with [`Error::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Observer for Silent {}

/// Static facts about a loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// A short name for reports (the known-model name or the file stem).
    pub name: String,
    /// Where it came from: a file path or a server URL and model id.
    pub source: String,
    /// Maximum tokens per sequence (prompt plus generation) this backend will accept.
    pub context_length: usize,
}

/// A language model that turns prompts into completions.
pub trait Generator {
    /// Facts about the model.
    fn info(&self) -> &ModelInfo;

    /// Generate `request.params.n` sequences for one prompt.
    fn generate(
        &mut self,
        request: &GenRequest,
        observer: &mut dyn Observer,
    ) -> Result<Generation, Error>;
}
