//! A generator that replays scripted answers, for testing code that drives a [`Generator`].

use std::collections::VecDeque;

use crate::{
    Completion, Error, FinishReason, GenRequest, Generation, Generator, ModelInfo, Observer,
};

type AnswerFn = Box<dyn FnMut(&GenRequest, usize) -> Option<String> + Send>;

/// Replays answers in order (one per requested sequence) and records every request.
pub struct ScriptedGenerator {
    info: ModelInfo,
    answer: AnswerFn,
    /// Every request received, in order.
    pub requests: Vec<GenRequest>,
}

impl std::fmt::Debug for ScriptedGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedGenerator")
            .field("requests", &self.requests.len())
            .finish()
    }
}

impl ScriptedGenerator {
    /// Answer with `answers` in order; running out is an error.
    pub fn new<S: Into<String>>(answers: impl IntoIterator<Item = S>) -> ScriptedGenerator {
        let mut queue: VecDeque<String> = answers.into_iter().map(Into::into).collect();
        ScriptedGenerator::from_fn(move |_, _| queue.pop_front())
    }

    /// Answer with `f(request, sequence index)`; `None` means the script is exhausted.
    pub fn from_fn(
        f: impl FnMut(&GenRequest, usize) -> Option<String> + Send + 'static,
    ) -> ScriptedGenerator {
        ScriptedGenerator {
            info: ModelInfo {
                name: "scripted".into(),
                source: "scripted".into(),
                context_length: 1 << 20,
            },
            answer: Box::new(f),
            requests: Vec::new(),
        }
    }
}

impl Generator for ScriptedGenerator {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn generate(
        &mut self,
        request: &GenRequest,
        observer: &mut dyn Observer,
    ) -> Result<Generation, Error> {
        request.params.validate()?;
        self.requests.push(request.clone());
        let mut completions = Vec::with_capacity(request.params.n);
        for seq in 0..request.params.n {
            if observer.cancelled() {
                return Err(Error::Cancelled);
            }
            let text = (self.answer)(request, seq).ok_or(Error::ScriptExhausted {
                request: self.requests.len() - 1,
            })?;
            observer.on_text(seq, &text);
            completions.push(Completion {
                tokens: text.split_whitespace().count().max(1),
                text,
                finish: FinishReason::Eos,
                logprob: 0.0,
            });
        }
        Ok(Generation {
            completions,
            prompt_tokens: 0,
            prompt_ms: 0.0,
            decode_ms: 0.0,
        })
    }
}
