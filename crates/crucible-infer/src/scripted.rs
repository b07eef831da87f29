//! A generator that replays scripted answers, for testing code that drives a [`Generator`].

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::generator::{PerRequest, one_at_a_time};
use crate::{
    Completion, Error, Feed, FimTokens, FinishReason, GenRequest, Generation, Generator, ModelInfo,
    Observer, Prompt, fim_prompt,
};

type AnswerFn = Box<dyn FnMut(&GenRequest, usize) -> Option<String> + Send>;

/// Replays answers in order (one per requested sequence) and records every request.
pub struct ScriptedGenerator {
    info: ModelInfo,
    answer: AnswerFn,
    /// Every request received, in order.
    pub requests: Vec<GenRequest>,
    /// With [`ScriptedGenerator::batching`] or [`ScriptedGenerator::streaming`], how many
    /// requests each step of `generate_many` worked on, in order.
    pub steps: Vec<usize>,
    step: Option<Step>,
    fim: Option<FimTokens>,
    probe: Probe,
    /// `generate` cuts answers at `max_new_tokens` words ([`ScriptedGenerator::capped`]).
    cap: bool,
}

/// How `generate_many` steps.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Each step answers every request in it whole.
    Whole(Duration),
    /// Each step gives every request in it its next word.
    Word(Duration),
}

/// Live counts of a [`ScriptedGenerator`]'s `generate_many`, readable from other threads while
/// it runs (the generator itself may live on a thread of its own).
#[derive(Debug, Clone, Default)]
pub struct Probe {
    in_flight: Arc<AtomicUsize>,
    cancelled: Arc<AtomicUsize>,
}

impl Probe {
    /// Sequences holding a slot now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Requests stopped because their feed cancelled them.
    pub fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }
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
            step: None,
            fim: None,
            probe: Probe::default(),
            cap: false,
        }
    }

    /// Make `generate_many` decode like a batching backend: each step takes every request the
    /// feed has ready (up to its sequence limit, counted in requests), lasts `step_time` (in
    /// which other threads' calls can arrive), then answers them all. Without it requests are
    /// answered one after another, as the trait's default does.
    pub fn batching(mut self, step_time: Duration) -> ScriptedGenerator {
        self.step = Some(Step::Whole(step_time));
        self
    }

    /// Make `generate_many` decode like a batching backend one token at a time: a request
    /// holds one slot per sequence, each step of `token_time` gives every sequence in flight
    /// its next word (streamed to the feed), a request the feed cancels is dropped and its
    /// slots freed at the next step, and a new request is admitted whenever slots are free.
    pub fn streaming(mut self, token_time: Duration) -> ScriptedGenerator {
        self.step = Some(Step::Word(token_time));
        self
    }

    /// Report `context_length` tokens of context (the default is 2^20); a request whose prompt
    /// words and `max_new_tokens` exceed it fails as too long.
    pub fn context_length(mut self, context_length: usize) -> ScriptedGenerator {
        self.info.context_length = context_length;
        self
    }

    /// Report `name` as the model's name (the default is `scripted`).
    pub fn named(mut self, name: &str) -> ScriptedGenerator {
        self.info.name = name.to_owned();
        self
    }

    /// Make `generate` stop an answer longer than the request's `max_new_tokens` words after
    /// that many, finishing with [`FinishReason::Length`], as a backend stops at its token cap
    /// (without it answers are given whole).
    pub fn capped(mut self) -> ScriptedGenerator {
        self.cap = true;
        self
    }

    /// Report fill-in-the-middle tokens, as a model that has them does.
    pub fn with_fim(mut self, tokens: FimTokens) -> ScriptedGenerator {
        self.fim = Some(tokens);
        self
    }

    /// A handle on the live counts of `generate_many`.
    pub fn probe(&self) -> Probe {
        self.probe.clone()
    }

    /// The scripted answers to `request`, one per sequence.
    fn answers(&mut self, request: &GenRequest) -> Result<Vec<String>, Error> {
        request.params.validate()?;
        // Words stand for tokens, as a backend checks its prompts against the context.
        let prompt_tokens = prompt_words(&request.prompt);
        if prompt_tokens + request.params.max_new_tokens > self.info.context_length {
            return Err(Error::PromptTooLong {
                prompt_tokens,
                context: self.info.context_length,
                max_new_tokens: request.params.max_new_tokens,
            });
        }
        self.requests.push(request.clone());
        let index = self.requests.len() - 1;
        (0..request.params.n)
            .map(|seq| (self.answer)(request, seq).ok_or(Error::ScriptExhausted { request: index }))
            .collect()
    }
}

/// Words in a prompt: the scripted stand-in for its token count.
fn prompt_words(prompt: &Prompt) -> usize {
    match prompt {
        Prompt::Text { text } => text.split_whitespace().count(),
        Prompt::Fill { tokens, infill } => fim_prompt(tokens, infill).split_whitespace().count(),
        Prompt::Chat { messages, prefill } => {
            messages
                .iter()
                .map(|m| m.content.split_whitespace().count())
                .sum::<usize>()
                + prefill.split_whitespace().count()
        }
    }
}

fn completion(text: String, tokens: usize, finish: FinishReason) -> Completion {
    Completion {
        tokens: tokens.max(1),
        text,
        finish,
        logprob: None,
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
        let answers = self.answers(request)?;
        let mut completions = Vec::with_capacity(answers.len());
        for (seq, text) in answers.into_iter().enumerate() {
            if observer.cancelled() {
                return Err(Error::Cancelled);
            }
            let cap = request.params.max_new_tokens;
            let (text, finish) = match self.cap.then(|| words(&text)) {
                Some(cut) if cut.len() > cap => (cut[..cap].concat(), FinishReason::Length),
                _ => (text, FinishReason::Eos),
            };
            observer.on_text(seq, &text);
            let tokens = text.split_whitespace().count();
            completions.push(completion(text, tokens, finish));
        }
        Ok(Generation {
            completions,
            prompt_tokens: prompt_words(&request.prompt),
            prompt_ms: 0.0,
            decode_ms: 0.0,
            speculation: None,
        })
    }

    fn generate_many(
        &mut self,
        feed: &mut dyn Feed,
        max_sequences: usize,
        observer: &mut dyn Observer,
    ) -> Result<(), Error> {
        match self.step {
            None => one_at_a_time(self, feed, observer),
            Some(Step::Whole(step_time)) => {
                self.whole_steps(feed, max_sequences, step_time, observer)
            }
            Some(Step::Word(token_time)) => {
                self.word_steps(feed, max_sequences, token_time, observer)
            }
        }
    }

    fn fim_tokens(&self) -> Option<FimTokens> {
        self.fim.clone()
    }
}

/// A request in flight in [`ScriptedGenerator::word_steps`].
struct Running {
    id: usize,
    prompt_tokens: usize,
    max_new_tokens: usize,
    /// Per sequence: its words and how many have been given.
    words: Vec<(Vec<String>, usize)>,
}

impl Running {
    fn done(&self) -> bool {
        self.words
            .iter()
            .all(|(words, given)| *given >= words.len().min(self.max_new_tokens))
    }

    fn generation(&self) -> Generation {
        let completions = self
            .words
            .iter()
            .map(|(words, given)| {
                let finish = if *given < words.len() {
                    FinishReason::Length
                } else {
                    FinishReason::Eos
                };
                completion(words[..*given].concat(), *given, finish)
            })
            .collect();
        Generation {
            completions,
            prompt_tokens: self.prompt_tokens,
            prompt_ms: 0.0,
            decode_ms: 0.0,
            speculation: None,
        }
    }
}

/// `text` cut into words that keep their following whitespace, so they join back to `text`.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        let word_ended = current.chars().last().is_some_and(char::is_whitespace)
            && current.chars().any(|c| !c.is_whitespace());
        if !ch.is_whitespace() && word_ended {
            out.push(std::mem::take(&mut current));
        }
        current.push(ch);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

impl ScriptedGenerator {
    fn whole_steps(
        &mut self,
        feed: &mut dyn Feed,
        max_sequences: usize,
        step_time: Duration,
        observer: &mut dyn Observer,
    ) -> Result<(), Error> {
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
                let result = self.generate(
                    &request,
                    &mut PerRequest {
                        feed: &mut *feed,
                        id,
                        call: &*observer,
                    },
                );
                if let Err(Error::Cancelled) = result
                    && observer.cancelled()
                {
                    return Err(Error::Cancelled);
                }
                if let ControlFlow::Break(()) = feed.finished(id, result) {
                    return Ok(());
                }
                id += 1;
            }
        }
    }

    fn word_steps(
        &mut self,
        feed: &mut dyn Feed,
        max_sequences: usize,
        token_time: Duration,
        observer: &mut dyn Observer,
    ) -> Result<(), Error> {
        let slots = max_sequences.max(1);
        let mut running: Vec<Running> = Vec::new();
        let mut waiting: Option<(usize, GenRequest)> = None;
        let mut next_id = 0;
        let mut exhausted = false;
        let in_flight = self.probe.in_flight.clone();
        let used = |running: &[Running]| running.iter().map(|r| r.words.len()).sum::<usize>();
        let outcome = loop {
            if observer.cancelled() {
                break Err(Error::Cancelled);
            }
            // Admit while there is room.
            loop {
                if waiting.is_none() && !exhausted {
                    let idle = running.is_empty();
                    match feed.next_request(idle) {
                        Some(request) => {
                            waiting = Some((next_id, request));
                            next_id += 1;
                        }
                        None => {
                            exhausted = idle;
                            break;
                        }
                    }
                }
                let Some((id, request)) = waiting.take() else {
                    break;
                };
                if request.params.n > slots {
                    let err = Error::Backend {
                        backend: "scripted",
                        message: format!(
                            "the request asks for {} sequences, but at most {slots} are decoded together",
                            request.params.n
                        ),
                    };
                    if feed.finished(id, Err(err)).is_break() {
                        return Ok(());
                    }
                    continue;
                }
                if used(&running) + request.params.n > slots {
                    waiting = Some((id, request));
                    break;
                }
                match self.answers(&request) {
                    Ok(answers) => running.push(Running {
                        id,
                        prompt_tokens: prompt_words(&request.prompt),
                        max_new_tokens: request.params.max_new_tokens,
                        words: answers.iter().map(|a| (words(a), 0)).collect(),
                    }),
                    Err(err) => {
                        if feed.finished(id, Err(err)).is_break() {
                            return Ok(());
                        }
                    }
                }
            }
            in_flight.store(used(&running), Ordering::SeqCst);
            if running.is_empty() {
                if exhausted && waiting.is_none() {
                    break Ok(());
                }
                continue;
            }
            std::thread::sleep(token_time);
            self.steps.push(running.len());
            let mut idx = 0;
            let mut stop = false;
            while idx < running.len() {
                let request = &mut running[idx];
                let id = request.id;
                if feed.cancelled(id) {
                    running.swap_remove(idx);
                    self.probe.cancelled.fetch_add(1, Ordering::SeqCst);
                    stop |= feed.finished(id, Err(Error::Cancelled)).is_break();
                    continue;
                }
                let limit = request.max_new_tokens;
                for (seq, (words, given)) in request.words.iter_mut().enumerate() {
                    if *given < words.len().min(limit) {
                        feed.on_text(id, seq, &words[*given]);
                        *given += 1;
                    }
                }
                if request.done() {
                    let generation = running.swap_remove(idx).generation();
                    stop |= feed.finished(id, Ok(generation)).is_break();
                    continue;
                }
                idx += 1;
            }
            in_flight.store(used(&running), Ordering::SeqCst);
            if stop {
                break Ok(());
            }
        };
        in_flight.store(0, Ordering::SeqCst);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_types::{Decoding, GenParams};

    fn text(prompt: &str, max_new_tokens: usize) -> GenRequest {
        GenRequest {
            prompt: Prompt::Text {
                text: prompt.into(),
            },
            params: GenParams {
                decoding: Decoding::Greedy,
                seed: 0,
                max_new_tokens,
                stop: vec![],
                n: 1,
            },
        }
    }

    /// Hands out its requests, records text and results, and cancels request 0 once it has
    /// seen `cancel_after` pieces of its text.
    struct Feeder {
        requests: VecDeque<GenRequest>,
        text: Vec<(usize, String)>,
        done: Vec<(usize, Result<String, String>)>,
        cancel_after: usize,
    }

    impl Feed for Feeder {
        fn next_request(&mut self, _wait: bool) -> Option<GenRequest> {
            self.requests.pop_front()
        }

        fn finished(&mut self, id: usize, result: Result<Generation, Error>) -> ControlFlow<()> {
            let result = result
                .map(|g| g.completions[0].text.clone())
                .map_err(|e| e.to_string());
            self.done.push((id, result));
            ControlFlow::Continue(())
        }

        fn on_text(&mut self, id: usize, _seq: usize, text: &str) {
            self.text.push((id, text.to_owned()));
        }

        fn cancelled(&self, id: usize) -> bool {
            id == 0 && self.text.iter().filter(|(i, _)| *i == 0).count() >= self.cancel_after
        }
    }

    #[test]
    fn words_keep_their_whitespace() {
        assert_eq!(words("a bc\n  d"), vec!["a ", "bc\n  ", "d"]);
        assert_eq!(words("  x"), vec!["  x"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn a_capped_generator_stops_answers_at_the_token_cap() {
        let answer = "def f():\n    return 1\n";
        let run = |generator: ScriptedGenerator, max_new_tokens: usize| {
            let mut generator = generator;
            let generation = generator
                .generate(&text("p", max_new_tokens), &mut crate::Silent)
                .unwrap();
            let completion = &generation.completions[0];
            (completion.text.clone(), completion.finish)
        };
        let capped = || ScriptedGenerator::new([answer]).capped();
        assert_eq!(
            run(capped(), 3),
            ("def f():\n    return ".into(), FinishReason::Length)
        );
        assert_eq!(run(capped(), 4), (answer.into(), FinishReason::Eos));
        // Without `capped`, answers are given whole.
        assert_eq!(
            run(ScriptedGenerator::new([answer]), 3),
            (answer.into(), FinishReason::Eos)
        );
    }

    #[test]
    fn streaming_steps_stream_words_cancel_one_request_and_free_its_slot() {
        let mut generator = ScriptedGenerator::from_fn(|request, _| match &request.prompt {
            Prompt::Text { text } if text == "long" => Some("w ".repeat(1000)),
            _ => Some("one two three".into()),
        })
        .streaming(Duration::from_millis(1));
        let probe = generator.probe();
        let mut feed = Feeder {
            requests: [text("long", 5000), text("short", 2)].into(),
            text: vec![],
            done: vec![],
            cancel_after: 3,
        };
        // One slot: the short request can start only once the long one is cancelled.
        generator
            .generate_many(&mut feed, 1, &mut crate::Silent)
            .unwrap();
        assert_eq!(feed.done.len(), 2);
        assert_eq!(feed.done[0].0, 0);
        assert!(feed.done[0].1.as_ref().unwrap_err().contains("cancelled"));
        // The second request is cut at its two tokens.
        assert_eq!(feed.done[1], (1, Ok("one two ".into())));
        let long_text = feed.text.iter().filter(|(id, _)| *id == 0).count();
        assert_eq!(long_text, 3, "cancelled right after its third word");
        assert_eq!(probe.cancelled(), 1);
        assert_eq!(probe.in_flight(), 0);
    }
}
