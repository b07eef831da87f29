//! Backend-neutral inference: the [`Generator`] trait, token sampling, beam search, stop
//! sequences, chat templates, task prompts and code extraction.
//!
//! Backends (`crucible-infer-llama`, `crucible-infer-http`) implement [`Generator`]; everything
//! here is pure and unit-tested on fixed inputs.

pub mod attention;
pub mod beam;
mod chat;
mod extract;
pub mod fim;
mod generator;
pub mod prompt;
mod python_defs;
pub mod sampler;
mod score;
mod scripted;
mod shared;
mod solve;
pub mod speculate;
mod stop;
mod vocab_math;

pub use attention::FlashAttention;
pub use chat::{ChatTemplate, Message, PromptPiece, Role};
pub use extract::{Extracted, Source, extract_code};
pub use fim::{ExtraFile, FimPiece, FimTokens, Infill, fim_pieces, fim_prompt};
pub use generator::{
    Completion, Feed, FinishReason, GenRequest, Generation, Generator, ModelInfo, Observer, Prompt,
    Silent,
};
pub use python_defs::keep_definitions;
pub use score::{ScoreError, ScoredText, TextScorer, Window, WindowRule};
pub use scripted::{Probe, ScriptedGenerator};
pub use shared::{SharedGenerator, share};
pub use solve::{Candidate, Candidates, SolveParams, SolveRequest, solve};
pub use speculate::{DraftCost, DraftLength, DraftPrior, SpecStats, Speculate};
pub use stop::StopMatcher;

/// Errors of inference.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the prompt is {prompt_tokens} tokens, but the context holds {context} tokens ({max_new_tokens} of them reserved for the answer)"
    )]
    PromptTooLong {
        prompt_tokens: usize,
        context: usize,
        max_new_tokens: usize,
    },
    #[error(transparent)]
    Params(#[from] crucible_types::DecodingError),
    #[error("chat template: {0}")]
    Template(String),
    #[error("generation was cancelled")]
    Cancelled,
    #[error("the scripted generator has no answer left for request {request}")]
    ScriptExhausted { request: usize },
    #[error("{backend} backend: {message}")]
    Backend {
        backend: &'static str,
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
