//! The backend-neutral generation interface every model backend implements.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crucible_types::GenParams;

use crate::{Error, FimTokens, Infill, Message, SpecStats, TextScorer};

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
    /// Raw text the model continues (completion mode). Special-token text in it is read as
    /// those tokens, as completion servers do.
    Text { text: String },
    /// A fill-in-the-middle prompt ([`crate::fim`]), kept as structure: a backend that
    /// tokenizes inserts `tokens` as the model's control tokens and tokenizes the files' text
    /// (prefix, suffix, context files, names) as plain text, so a file that contains
    /// `<|fim_middle|>` or `<|endoftext|>` cannot steer the model. A backend that only takes
    /// text sends [`crate::fim_prompt`]'s rendering, in which the server may read such text as
    /// tokens.
    Fill {
        tokens: FimTokens,
        infill: Box<Infill>,
    },
}

impl Prompt {
    /// The text of a completion prompt: a text prompt's own, or a fill prompt's rendering
    /// ([`crate::fim_prompt`]); `None` for a chat.
    pub fn completion_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Prompt::Text { text } => Some(std::borrow::Cow::Borrowed(text)),
            Prompt::Fill { tokens, infill } => {
                Some(std::borrow::Cow::Owned(crate::fim_prompt(tokens, infill)))
            }
            Prompt::Chat { .. } => None,
        }
    }
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
    /// Sum of the chosen tokens' log-probabilities under the unfiltered model distribution;
    /// `None` when the backend does not report it (an OpenAI-compatible server).
    pub logprob: Option<f64>,
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
    /// Speculative decoding's draft and acceptance counts, when the backend speculated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculation: Option<SpecStats>,
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

    /// Generate for every request `feed` hands out, keeping up to `max_sequences` sequences in
    /// flight (continuous batching where the backend can decode several prompts together). A
    /// request's own failure (its prompt is too long, its parameters are invalid) goes to
    /// [`Feed::finished`]; an error that ends all work (cancellation, a broken backend) is
    /// returned.
    ///
    /// Each request's text goes to [`Feed::on_text`] as it is generated, and a request the feed
    /// reports [`Feed::cancelled`] is stopped at the next step, its slots freed, and finished
    /// with [`Error::Cancelled`] while the others go on. `observer` is polled for the
    /// cancellation of the whole call only; it sees no text.
    ///
    /// The default decodes the requests one after another.
    fn generate_many(
        &mut self,
        feed: &mut dyn Feed,
        max_sequences: usize,
        observer: &mut dyn Observer,
    ) -> Result<(), Error> {
        let _ = max_sequences;
        one_at_a_time(self, feed, observer)
    }

    /// The model's fill-in-the-middle tokens, when it has them (see [`crate::fim`]). The
    /// default: none.
    fn fim_tokens(&self) -> Option<FimTokens> {
        None
    }

    /// This model as a [`TextScorer`], when the backend can score a given text (the llama.cpp
    /// backend can; a server cannot). Perplexity is then measured under the weights already
    /// loaded for generating, instead of a second copy. The default: none.
    fn as_scorer(&mut self) -> Option<&mut dyn TextScorer> {
        None
    }
}

/// [`Generator::generate_many`] without batching: the feed's requests one after another.
pub(crate) fn one_at_a_time<G: Generator + ?Sized>(
    generator: &mut G,
    feed: &mut dyn Feed,
    observer: &mut dyn Observer,
) -> Result<(), Error> {
    let mut id = 0;
    while let Some(request) = feed.next_request(true) {
        let result = generator.generate(
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
        if feed.finished(id, result).is_break() {
            break;
        }
        id += 1;
    }
    Ok(())
}

/// The requests of a [`Generator::generate_many`] call and the place their results go.
pub trait Feed {
    /// The next request. Called only when the generator has room for it, so a feed can build
    /// requests lazily.
    ///
    /// `wait` is true when the generator has nothing in flight: the feed may block until it has
    /// a request, and `None` then ends the call. With `wait` false the generator is busy:
    /// `None` means "nothing ready yet" and it asks again after its next step, so a feed that
    /// is filled while the call runs (see [`crate::share`]) must not block then.
    fn next_request(&mut self, wait: bool) -> Option<GenRequest>;

    /// Request `id` (requests are numbered from 0 in the order `next_request` gave them) is
    /// done. Results may come in another order than the requests. `Break` stops the call:
    /// requests in flight are dropped and no more are asked for.
    fn finished(&mut self, id: usize, result: Result<Generation, Error>) -> ControlFlow<()>;

    /// New text for sequence `seq` of request `id` (safe to show: it will not be taken back).
    /// The default drops it.
    fn on_text(&mut self, id: usize, seq: usize, text: &str) {
        let _ = (id, seq, text);
    }

    /// Whether request `id` is no longer wanted (its client went away). Polled between
    /// tokens; the generator then stops the request, frees its slots and reports it to
    /// [`Feed::finished`] as [`Error::Cancelled`]. The default: never.
    fn cancelled(&self, id: usize) -> bool {
        let _ = id;
        false
    }
}

/// The observer of one request inside a `generate_many` call: its text goes to the feed, and
/// it is cancelled when the feed cancels it or the whole call is cancelled.
pub(crate) struct PerRequest<'a> {
    pub(crate) feed: &'a mut dyn Feed,
    pub(crate) id: usize,
    pub(crate) call: &'a dyn Observer,
}

impl Observer for PerRequest<'_> {
    fn on_text(&mut self, seq: usize, text: &str) {
        self.feed.on_text(self.id, seq, text);
    }

    fn cancelled(&self) -> bool {
        self.call.cancelled() || self.feed.cancelled(self.id)
    }
}

/// Forwards cancellation polls and drops text.
pub(crate) struct PollOnly<'a>(pub(crate) &'a dyn Observer);

impl Observer for PollOnly<'_> {
    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScriptedGenerator;
    use crucible_types::Decoding;

    /// A feed of text requests that records what came back.
    struct Recorder {
        prompts: Vec<&'static str>,
        given: usize,
        done: Vec<(usize, Result<String, String>)>,
        stop_after: usize,
    }

    impl Recorder {
        fn new(prompts: &[&'static str], stop_after: usize) -> Recorder {
            Recorder {
                prompts: prompts.to_vec(),
                given: 0,
                done: vec![],
                stop_after,
            }
        }
    }

    impl Feed for Recorder {
        fn next_request(&mut self, _wait: bool) -> Option<GenRequest> {
            let text = self.prompts.get(self.given)?;
            self.given += 1;
            Some(GenRequest {
                prompt: Prompt::Text {
                    text: (*text).into(),
                },
                params: GenParams {
                    decoding: Decoding::Greedy,
                    seed: 0,
                    max_new_tokens: 8,
                    stop: vec![],
                    n: if text.is_empty() { 0 } else { 1 },
                },
            })
        }

        fn finished(&mut self, id: usize, result: Result<Generation, Error>) -> ControlFlow<()> {
            let result = result
                .map(|g| g.completions[0].text.clone())
                .map_err(|e| e.to_string());
            self.done.push((id, result));
            if self.done.len() >= self.stop_after {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }

    fn echo() -> ScriptedGenerator {
        ScriptedGenerator::from_fn(|request, _| {
            let text = request.prompt.completion_text()?;
            Some(format!("re: {text}"))
        })
    }

    #[test]
    fn default_generate_many_answers_each_request_in_turn_and_reports_its_own_errors() {
        // The empty prompt asks for n = 0 sequences: invalid parameters for that request.
        let mut feed = Recorder::new(&["a", "", "c"], usize::MAX);
        echo().generate_many(&mut feed, 4, &mut Silent).unwrap();
        assert_eq!(feed.done.len(), 3);
        assert_eq!(feed.done[0], (0, Ok("re: a".into())));
        assert_eq!(feed.done[1].0, 1);
        assert!(feed.done[1].1.is_err(), "{:?}", feed.done[1]);
        assert_eq!(feed.done[2], (2, Ok("re: c".into())));
    }

    #[test]
    fn a_break_from_the_feed_stops_asking_for_requests() {
        let mut feed = Recorder::new(&["a", "b", "c"], 1);
        echo().generate_many(&mut feed, 4, &mut Silent).unwrap();
        assert_eq!(feed.done, vec![(0, Ok("re: a".into()))]);
        assert_eq!(feed.given, 1);
    }

    #[test]
    fn cancellation_ends_the_call_with_an_error() {
        struct Cancel;
        impl Observer for Cancel {
            fn cancelled(&self) -> bool {
                true
            }
        }
        let mut feed = Recorder::new(&["a"], usize::MAX);
        let err = echo().generate_many(&mut feed, 4, &mut Cancel).unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
        assert!(feed.done.is_empty());
    }

    /// Records text per request and cancels request 1.
    struct CancelsOne(Recorder, Vec<(usize, String)>);

    impl Feed for CancelsOne {
        fn next_request(&mut self, wait: bool) -> Option<GenRequest> {
            self.0.next_request(wait)
        }

        fn finished(&mut self, id: usize, result: Result<Generation, Error>) -> ControlFlow<()> {
            self.0.finished(id, result)
        }

        fn on_text(&mut self, id: usize, _seq: usize, text: &str) {
            self.1.push((id, text.to_owned()));
        }

        fn cancelled(&self, id: usize) -> bool {
            id == 1
        }
    }

    #[test]
    fn default_generate_many_streams_text_per_request_and_cancels_one_request_only() {
        let mut feed = CancelsOne(Recorder::new(&["a", "b", "c"], usize::MAX), vec![]);
        echo().generate_many(&mut feed, 4, &mut Silent).unwrap();
        assert_eq!(feed.0.done[0], (0, Ok("re: a".into())));
        assert_eq!(feed.0.done[1], (1, Err("generation was cancelled".into())));
        assert_eq!(feed.0.done[2], (2, Ok("re: c".into())));
        assert_eq!(feed.1, vec![(0, "re: a".into()), (2, "re: c".into())]);
    }
}
