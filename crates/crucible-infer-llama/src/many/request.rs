//! A request in `generate_many`: waiting for slots, then in flight (its prompt evaluated, then
//! its sequences decoded), until it is reported to its feed.

use std::time::Instant;

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crucible_infer::sampler::TokenId;
use crucible_infer::{DraftCost, Feed, Generation, Observer, SpecStats, StopMatcher};
use crucible_types::GenParams;

use crate::decode::{Job, Sequence};
use crate::millis;

/// A request in flight.
pub(super) struct Active {
    pub(super) id: usize,
    pub(super) prompt: Vec<LlamaToken>,
    pub(super) params: GenParams,
    pub(super) stop: StopMatcher,
    /// The KV sequence (slot) of each of its sequences; [`RELEASED`](super::RELEASED) once it has finished.
    pub(super) slots: Vec<i32>,
    pub(super) seqs: Vec<Sequence>,
    pub(super) started: Instant,
    pub(super) prompt_ms: f64,
    /// The feed cancelled it: its sequences were stopped and it ends with `Error::Cancelled`.
    pub(super) cancelled: bool,
    /// Longest draft of its sequences (0: no speculation).
    pub(super) max_draft: usize,
    /// What a drafted token costs this request's sequences.
    pub(super) draft_cost: DraftCost,
    /// Prompt tokens whose cells are in its first slot: copied from the prompt cache at
    /// admission, then evaluated a chunk a step until the whole prompt is.
    pub(super) evaluated: usize,
    /// Prompt tokens evaluated so far in the flash-attention context (`flash.rs`), whose cells
    /// are not in its slot yet; `None` while its prompt is evaluated in its slot.
    pub(super) flash: Option<usize>,
}

/// Passes one request's text to its feed.
struct FeedText<'a> {
    feed: &'a mut dyn Feed,
    id: usize,
}

impl Observer for FeedText<'_> {
    fn on_text(&mut self, seq: usize, text: &str) {
        self.feed.on_text(self.id, seq, text);
    }
}

impl Active {
    /// Choose sequence `s`'s next token from `logits`; new text goes to `feed`.
    pub(super) fn step(
        &mut self,
        model: &'static LlamaModel,
        s: usize,
        logits: &[f32],
        feed: &mut dyn Feed,
    ) {
        self.with_sequence(model, s, feed, |seq, job, stop, text| {
            seq.step(s, logits, job, stop, text)
        });
    }

    /// Walk sequence `s`'s verification rows (see [`Sequence::verify`]); returns the number of
    /// draft tokens accepted.
    pub(super) fn verify<'l>(
        &mut self,
        model: &'static LlamaModel,
        s: usize,
        logits: impl Fn(usize) -> &'l [f32],
        draft: &[TokenId],
        feed: &mut dyn Feed,
    ) -> usize {
        self.with_sequence(model, s, feed, |seq, job, stop, text| {
            seq.verify(s, logits, draft, job, stop, text)
        })
    }

    /// Run `f` on sequence `s` with this request's decoding job, stop matcher and feed.
    fn with_sequence<R>(
        &mut self,
        model: &'static LlamaModel,
        s: usize,
        feed: &mut dyn Feed,
        f: impl FnOnce(&mut Sequence, &Job<'_>, &StopMatcher, &mut FeedText<'_>) -> R,
    ) -> R {
        let Active {
            id,
            prompt,
            params,
            stop,
            seqs,
            max_draft,
            draft_cost,
            ..
        } = self;
        let job = Job {
            model,
            prompt,
            params,
            batch_size: 1,
            ignore_eos: false,
            max_draft: *max_draft,
            draft_cost: *draft_cost,
        };
        let mut text = FeedText { feed, id: *id };
        f(&mut seqs[s], &job, stop, &mut text)
    }

    /// Stop every sequence, and the prompt's evaluation (their slots are freed with the
    /// finished ones').
    pub(super) fn cancel(&mut self) {
        self.cancelled = true;
        for seq in &mut self.seqs {
            seq.next = None;
        }
    }

    /// Whether its prompt is still being evaluated (its sequences start once it is).
    pub(super) fn prefilling(&self) -> bool {
        !self.cancelled && self.evaluated < self.prompt.len()
    }

    pub(super) fn done(&self) -> bool {
        !self.prefilling() && self.seqs.iter().all(|s| s.next.is_none())
    }

    /// The tokens whose cells its first slot holds, in position order: the prompt as far as
    /// it was evaluated, then the first sequence's tokens that were fed (all it chose but the
    /// last).
    pub(super) fn cached_tokens(&self) -> Vec<LlamaToken> {
        let mut tokens = self.prompt[..self.evaluated].to_vec();
        if self.evaluated == self.prompt.len()
            && let Some(seq) = self.seqs.first()
        {
            tokens.extend_from_slice(&seq.generated[..seq.generated.len().saturating_sub(1)]);
        }
        tokens
    }

    pub(super) fn generation(self) -> Generation {
        let prompt_tokens = self.prompt.len();
        let decode_ms = millis(self.started) - self.prompt_ms;
        let speculation = (self.max_draft > 0).then(|| {
            let mut stats = SpecStats::default();
            for seq in &self.seqs {
                stats.add(seq.stats);
            }
            stats
        });
        Generation {
            completions: self.seqs.into_iter().map(Sequence::completion).collect(),
            prompt_tokens,
            prompt_ms: self.prompt_ms,
            decode_ms,
            speculation,
        }
    }
}

/// A request taken from the feed, tokenized, waiting for free slots.
pub(super) struct Waiting {
    pub(super) id: usize,
    pub(super) prompt: Vec<LlamaToken>,
    pub(super) params: GenParams,
}

impl Waiting {
    pub(super) fn cells(&self) -> usize {
        self.prompt.len() + self.params.max_new_tokens
    }
}
