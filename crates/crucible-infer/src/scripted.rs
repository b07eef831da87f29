//! A generator that replays scripted answers, for testing code that drives a [`Generator`].

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::Duration;

use crate::generator::{PollOnly, one_at_a_time};
use crate::{
    Completion, Error, Feed, FinishReason, GenRequest, Generation, Generator, ModelInfo, Observer,
};

type AnswerFn = Box<dyn FnMut(&GenRequest, usize) -> Option<String> + Send>;

/// Replays answers in order (one per requested sequence) and records every request.
pub struct ScriptedGenerator {
    info: ModelInfo,
    answer: AnswerFn,
    /// Every request received, in order.
    pub requests: Vec<GenRequest>,
    /// With [`ScriptedGenerator::batching`], how many requests each step of `generate_many`
    /// answered, in order.
    pub steps: Vec<usize>,
    /// With [`ScriptedGenerator::batching`]: the time a step takes.
    step_time: Option<Duration>,
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
            steps: Vec::new(),
            step_time: None,
        }
    }

    /// Make `generate_many` decode like a batching backend: each step takes every request the
    /// feed has ready (up to its sequence limit, counted in requests), lasts `step_time` (in
    /// which other threads' calls can arrive), then answers them all. Without it requests are
    /// answered one after another, as the trait's default does.
    pub fn batching(mut self, step_time: Duration) -> ScriptedGenerator {
        self.step_time = Some(step_time);
        self
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
                logprob: None,
            });
        }
        Ok(Generation {
            completions,
            prompt_tokens: 0,
            prompt_ms: 0.0,
            decode_ms: 0.0,
        })
    }

    fn generate_many(
        &mut self,
        feed: &mut dyn Feed,
        max_sequences: usize,
        observer: &mut dyn Observer,
    ) -> Result<(), Error> {
        let Some(step_time) = self.step_time else {
            return one_at_a_time(self, feed, observer);
        };
        let mut id = 0;
        loop {
            if observer.cancelled() {
                return Err(Error::Cancelled);
            }
            let mut step = Vec::new();
            while step.len() < max_sequences.max(1) {
                match feed.next_request(step.is_empty()) {
                    Some(request) => step.push(request),
                    None if step.is_empty() => return Ok(()),
                    None => break,
                }
            }
            std::thread::sleep(step_time);
            self.steps.push(step.len());
            for request in step {
                let result = self.generate(&request, &mut PollOnly(&*observer));
                if let Err(Error::Cancelled) = result {
                    return Err(Error::Cancelled);
                }
                if let ControlFlow::Break(()) = feed.finished(id, result) {
                    return Ok(());
                }
                id += 1;
            }
        }
    }
}
