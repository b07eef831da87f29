//! Continuous batching across requests: several prompts decoded together, a new request
//! admitted as soon as sequences finish and free their slots.
//!
//! The context is laid out with one KV stream per slot ([`Layout::PerSequence`]), so each
//! sequence attends over its own cells only; in a unified cache every token would attend over
//! the cells of every prompt in flight. A request for n sequences evaluates its prompt once on
//! its first slot and copies the cells to the others. A newly admitted prompt is evaluated on
//! its own (prompt evaluation is compute-bound; the sequences in flight wait for it), then its
//! sequences join the shared decode steps, one token per live sequence per step.
//!
//! llama.cpp evaluates a step's tokens together only if their stream ids run 0, 1, 2, ... in
//! batch order, so a finished sequence's slot is filled at once by moving the sequence in the
//! highest slot down (a stream copy), and each step's batch is in slot order.
//!
//! Each request's text goes to its feed as it settles, and a request the feed cancels (its
//! client went away) stops before the next step: its sequences end, their slots are freed and
//! compacted like finished ones, and it is reported as cancelled while the others go on.
//!
//! Batched steps change the floating-point order inside matrix products, so a greedy answer can
//! differ from the one decoded alone in the last bits of a logit and then in a token; a run is
//! still deterministic for the same requests and `max_sequences`.

use std::collections::BTreeSet;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crucible_infer::{Error, Feed, GenRequest, Generation, Observer, SpecStats, StopMatcher};
use crucible_types::{Decoding, GenParams};

use crucible_infer::sampler::TokenId;

use crate::decode::{Job, STEP_TOKEN_BUDGET, Sequence, draft_cap, eval_prompt};
use crate::{
    Layout, LlamaGenerator, MAX_DRAFT, MAX_MODEL_DRAFT, backend_error, draft, draft_streams, millis,
};

/// Smallest per-slot cache: room for a typical benchmark prompt beside the answer.
const MIN_SLOT_CELLS: usize = 2048;

/// The slot of a sequence that has finished and given its slot back.
const RELEASED: i32 = -1;

/// Shortest shared prefix worth copying instead of evaluating.
const MIN_REUSE: usize = 16;

/// The cells of the last prompt evaluated, kept in a KV stream of their own. The next prompt
/// copies them and evaluates only what follows the prefix they share: prompts of one benchmark
/// share the chat template's system turn and the instruction, a third to a half of them.
struct PrefixCache {
    /// The KV sequence (stream) holding the cells.
    seq: i32,
    tokens: Vec<LlamaToken>,
}

impl PrefixCache {
    /// How many leading tokens of `prompt` can be copied from the cache (at least one token is
    /// always left to evaluate, for its logits).
    fn reusable(&self, prompt: &[LlamaToken]) -> usize {
        let shared = self
            .tokens
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len().saturating_sub(1));
        if shared >= MIN_REUSE { shared } else { 0 }
    }
}

/// Draft for every live sequence of a step (`rows`, in slot order) into `drafts[row]`, and
/// return the one draft length they all use (0: a plain step). llama.cpp decodes separate KV
/// streams together only when each carries the same number of tokens, so shorter drafts are
/// padded with their sequence's last token repeated (a guess like any other: verified, and
/// usually rejected). A step speculates only when real drafts fill at least half of it, and
/// within the token budget of [`draft_cap`]. With `draft_ctx`, the draft model drafts (each
/// sequence in the KV stream of its slot), else prompt lookup.
fn draft_step(
    active: &mut [Active],
    rows: &[(i32, usize, usize)],
    drafts: &mut Vec<Vec<TokenId>>,
    draft_ctx: Option<&mut LlamaContext<'static>>,
) -> Result<usize, Error> {
    drafts.resize_with(rows.len(), Vec::new);
    let cap = draft_cap(rows.len(), MAX_DRAFT);
    match draft_ctx {
        Some(draft_ctx) if cap > 0 => {
            let mut outs: Vec<Option<&mut Vec<TokenId>>> = drafts.iter_mut().map(Some).collect();
            let mut wants = Vec::with_capacity(rows.len());
            for (a, request) in active.iter_mut().enumerate() {
                let max_draft = request.max_draft;
                for (s, seq) in request.seqs.iter_mut().enumerate() {
                    let Some(row) = rows.iter().position(|&(_, ra, rs)| (ra, rs) == (a, s)) else {
                        continue;
                    };
                    let out = outs[row].take().expect("each row once");
                    out.clear();
                    let want = if max_draft > 0 {
                        seq.want(cap.min(max_draft))
                    } else {
                        0
                    };
                    if want > 0 {
                        wants.push(seq.model_want(rows[row].0, want, out));
                    }
                }
            }
            draft::draft(draft_ctx, &mut wants)?;
        }
        _ => {
            for (row, &(_, a, s)) in rows.iter().enumerate() {
                let request = &mut active[a];
                let draft = &mut drafts[row];
                draft.clear();
                if cap > 0 && request.max_draft > 0 {
                    request.seqs[s].draft(cap.min(request.max_draft), draft);
                }
            }
        }
    }
    let longest = drafts.iter().map(Vec::len).max().unwrap_or(0);
    let real: usize = drafts.iter().map(Vec::len).sum();
    if longest == 0 || 2 * real < rows.len() * longest {
        return Ok(0);
    }
    for (row, &(_, a, s)) in rows.iter().enumerate() {
        let last = active[a].seqs[s]
            .next
            .expect("only live sequences have rows")
            .0 as TokenId;
        let draft = &mut drafts[row];
        let pad = draft.last().copied().unwrap_or(last);
        draft.resize(longest, pad);
    }
    Ok(longest)
}

/// A request in flight.
struct Active {
    id: usize,
    prompt: Vec<LlamaToken>,
    params: GenParams,
    stop: StopMatcher,
    /// The KV sequence (slot) of each of its sequences; [`RELEASED`] once it has finished.
    slots: Vec<i32>,
    seqs: Vec<Sequence>,
    started: Instant,
    prompt_ms: f64,
    /// The feed cancelled it: its sequences were stopped and it ends with `Error::Cancelled`.
    cancelled: bool,
    /// Longest draft of its sequences (0: no speculation).
    max_draft: usize,
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
    fn step(&mut self, model: &'static LlamaModel, s: usize, logits: &[f32], feed: &mut dyn Feed) {
        self.with_sequence(model, s, feed, |seq, job, stop, text| {
            seq.step(s, logits, job, stop, text)
        });
    }

    /// Walk sequence `s`'s verification rows (see [`Sequence::verify`]); returns the number of
    /// draft tokens accepted.
    fn verify<'l>(
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
            ..
        } = self;
        let job = Job {
            model,
            prompt,
            params,
            batch_size: 1,
            ignore_eos: false,
            max_draft: *max_draft,
        };
        let mut text = FeedText { feed, id: *id };
        f(&mut seqs[s], &job, stop, &mut text)
    }

    /// Stop every sequence (their slots are freed with the finished ones').
    fn cancel(&mut self) {
        self.cancelled = true;
        for seq in &mut self.seqs {
            seq.next = None;
        }
    }

    fn done(&self) -> bool {
        self.seqs.iter().all(|s| s.next.is_none())
    }

    fn generation(self) -> Generation {
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
struct Waiting {
    id: usize,
    prompt: Vec<LlamaToken>,
    params: GenParams,
}

impl Waiting {
    fn cells(&self) -> usize {
        self.prompt.len() + self.params.max_new_tokens
    }
}

impl LlamaGenerator {
    /// [`crucible_infer::Generator::generate_many`] for llama.cpp.
    pub(crate) fn run_many(
        &mut self,
        feed: &mut dyn Feed,
        max_sequences: usize,
        observer: &mut dyn Observer,
    ) -> Result<(), Error> {
        let slots = max_sequences.max(1);
        let mut layout: Option<Layout> = None;
        let mut cache = PrefixCache {
            seq: slots as i32,
            tokens: Vec::new(),
        };
        let mut free: BTreeSet<i32> = (0..slots as i32).collect();
        let mut active: Vec<Active> = Vec::new();
        let mut waiting: Option<Waiting> = None;
        let mut next_id = 0;
        let mut exhausted = false;
        let mut batch = LlamaBatch::new(slots.max(STEP_TOKEN_BUDGET), 1);
        // (slot, request, sequence) of each live sequence in the decode batch.
        let mut rows: Vec<(i32, usize, usize)> = Vec::with_capacity(slots);
        // Each live sequence's draft this step (all of one length; see `draft_step`).
        let mut drafts: Vec<Vec<TokenId>> = Vec::new();
        loop {
            if observer.cancelled() {
                return Err(Error::Cancelled);
            }
            // Requests whose clients went away stop now; their slots are freed below.
            for request in active.iter_mut().filter(|r| !r.cancelled) {
                if feed.cancelled(request.id) {
                    request.cancel();
                }
            }
            if let Some(next) = waiting.take_if(|w| feed.cancelled(w.id))
                && feed.finished(next.id, Err(Error::Cancelled)).is_break()
            {
                return Ok(());
            }
            // Admit requests while there are free slots.
            loop {
                if waiting.is_none() && !exhausted {
                    let idle = active.is_empty();
                    match feed.next_request(idle) {
                        // A busy call asks again after its next step.
                        None => exhausted = idle,
                        Some(request) => {
                            let id = next_id;
                            next_id += 1;
                            match self.admissible(&request, slots) {
                                Ok(prompt) => {
                                    waiting = Some(Waiting {
                                        id,
                                        prompt,
                                        params: request.params,
                                    })
                                }
                                Err(err) => {
                                    if feed.finished(id, Err(err)).is_break() {
                                        return Ok(());
                                    }
                                    continue;
                                }
                            }
                        }
                    }
                }
                let Some(next) = waiting.take() else { break };
                // One stream per slot and one for the prefix cache.
                let need = Layout::PerSequence {
                    seqs: slots + 1,
                    cells: next
                        .cells()
                        .max(MIN_SLOT_CELLS)
                        .max(self.config.slot_cells.unwrap_or(0)),
                };
                if !layout.is_some_and(|l| l.serves(need)) {
                    if !active.is_empty() {
                        // Its prompt needs longer slots: let the requests in flight finish.
                        waiting = Some(next);
                        break;
                    }
                    // The first admission of this call always gets here, so the call starts
                    // from an empty cache whatever an earlier call left in the context.
                    let session = self.session(need)?;
                    layout = Some(session.layout);
                    cache.tokens.clear();
                    if let Layout::PerSequence { cells, .. } = need {
                        // The draft model's streams mirror the slots (no prefix cache).
                        self.draft_context(Layout::PerSequence {
                            seqs: slots,
                            cells: cells + MAX_MODEL_DRAFT + 1,
                        })?;
                    }
                }
                if free.len() < next.params.n {
                    waiting = Some(next);
                    break;
                }
                let taken: Vec<i32> = (0..next.params.n)
                    .map(|_| free.pop_first().expect("enough free slots were checked"))
                    .collect();
                active.push(self.start(next, taken, &mut cache, feed)?);
            }
            // Finished sequences (some end on their first token) give their slots back, and the
            // live ones move down to keep the slots in use contiguous.
            if !active.is_empty() {
                self.release_finished(&mut active, &mut free)?;
                self.compact(&mut active, &mut free)?;
            }
            let mut idx = 0;
            while idx < active.len() {
                if active[idx].done() {
                    let request = active.swap_remove(idx);
                    let id = request.id;
                    let result = if request.cancelled {
                        Err(Error::Cancelled)
                    } else {
                        Ok(request.generation())
                    };
                    if feed.finished(id, result).is_break() {
                        return Ok(());
                    }
                } else {
                    idx += 1;
                }
            }
            if active.is_empty() {
                if exhausted && waiting.is_none() {
                    return Ok(());
                }
                continue;
            }
            // One decode step: a token for every live sequence, in slot order. llama.cpp puts
            // sequences of separate KV streams in one micro-batch only when their ids follow
            // each other in the batch (0, 1, 2, ...); any gap or disorder splits the step into
            // several model evaluations, which costs the whole gain of batching.
            batch.clear();
            rows.clear();
            for (a, request) in active.iter().enumerate() {
                for (s, seq) in request.seqs.iter().enumerate() {
                    if seq.next.is_some() {
                        rows.push((request.slots[s], a, s));
                    }
                }
            }
            rows.sort_unstable();
            let draft_ctx = draft_streams(&mut self.draft, self.config.speculate);
            let draft_len = draft_step(&mut active, &rows, &mut drafts, draft_ctx)?;
            for (row, &(slot, a, s)) in rows.iter().enumerate() {
                let request = &active[a];
                let seq = &request.seqs[s];
                let token = seq.next.expect("only live sequences have rows");
                let pos = request.prompt.len() + seq.tokens - 1;
                batch
                    .add(token, pos as i32, &[slot], true)
                    .map_err(backend_error)?;
                for (j, &proposed) in drafts[row][..draft_len].iter().enumerate() {
                    batch
                        .add(
                            LlamaToken(proposed as i32),
                            (pos + 1 + j) as i32,
                            &[slot],
                            true,
                        )
                        .map_err(backend_error)?;
                }
            }
            let model = self.model;
            let session = self
                .session
                .as_mut()
                .expect("a context exists while requests run");
            session
                .ctx
                .decode(&mut batch)
                .map_err(|err| backend_error(format!("decoding failed: {err}")))?;
            for (row, &(slot, a, s)) in rows.iter().enumerate() {
                let first = (row * (1 + draft_len)) as i32;
                let seq = &active[a].seqs[s];
                let pos = active[a].prompt.len() + seq.tokens - 1;
                let context = &session.ctx;
                let accepted = active[a].verify(
                    model,
                    s,
                    |j| context.get_logits_ith(first + j as i32),
                    &drafts[row][..draft_len],
                    feed,
                );
                if accepted < draft_len {
                    // The rejected draft tokens' cells go: the next token is fed at their place.
                    session
                        .ctx
                        .clear_kv_cache_seq(
                            Some(slot as u32),
                            Some((pos + 1 + accepted) as u32),
                            None,
                        )
                        .map_err(|err| {
                            backend_error(format!("could not drop draft cells: {err}"))
                        })?;
                }
            }
        }
    }

    /// Check a request and tokenize its prompt; the error is the request's own.
    fn admissible(&self, request: &GenRequest, slots: usize) -> Result<Vec<LlamaToken>, Error> {
        let params = &request.params;
        params.validate()?;
        if let Decoding::Beam { .. } = params.decoding {
            return Err(backend_error(
                "beam search is decoded one request at a time; use `generate` for it",
            ));
        }
        if params.n > slots {
            return Err(backend_error(format!(
                "the request asks for {} sequences, but at most {slots} are decoded together",
                params.n
            )));
        }
        let prompt = self.prompt_tokens(&request.prompt)?;
        self.check_prompt(&prompt, params)?;
        Ok(prompt)
    }

    /// Evaluate a request's prompt on its first slot (after what the prefix cache holds of it),
    /// share it with the others, keep it as the new cached prefix, and choose every sequence's
    /// first token.
    fn start(
        &mut self,
        next: Waiting,
        slots: Vec<i32>,
        cache: &mut PrefixCache,
        feed: &mut dyn Feed,
    ) -> Result<Active, Error> {
        let started = Instant::now();
        let max_draft = self.max_draft(&next.params);
        let seqs = {
            let job = Job {
                model: self.model,
                prompt: &next.prompt,
                params: &next.params,
                batch_size: self.config.batch_size,
                ignore_eos: false,
                max_draft,
            };
            (0..next.params.n)
                .map(|idx| Sequence::new(&job, idx))
                .collect()
        };
        let mut request = Active {
            id: next.id,
            stop: StopMatcher::new(&next.params.stop),
            seqs,
            prompt: next.prompt,
            params: next.params,
            slots,
            started,
            prompt_ms: 0.0,
            cancelled: false,
            max_draft,
        };
        let model = self.model;
        let job = Job {
            model,
            prompt: &request.prompt,
            params: &request.params,
            batch_size: self.config.batch_size,
            ignore_eos: false,
            max_draft,
        };
        let session = self
            .session
            .as_mut()
            .expect("a context exists before admission");
        let ctx = &mut session.ctx;
        let draft_ctx = draft_streams(&mut self.draft, self.config.speculate);
        let copy_err = |err| backend_error(format!("could not copy KV cells: {err}"));
        let first = request.slots[0];
        let reuse = cache.reusable(&request.prompt);
        if reuse > 0 {
            // A copy between streams takes the whole stream; drop what is not shared.
            ctx.copy_kv_cache_seq(cache.seq, first, None, None)
                .map_err(copy_err)?;
            let trimmed = ctx
                .clear_kv_cache_seq(Some(first as u32), Some(reuse as u32), None)
                .map_err(copy_err)?;
            if !trimmed {
                return Err(backend_error(
                    "this model's cache cannot drop the end of a sequence; prefix reuse fails",
                ));
            }
        }
        let row = eval_prompt(ctx, &job, &[first], reuse)?;
        for &slot in request.slots[1..].iter().chain([&cache.seq]) {
            ctx.copy_kv_cache_seq(first, slot, None, None)
                .map_err(copy_err)?;
        }
        if let Some(draft_ctx) = draft_ctx {
            // The draft model reads the whole prompt on the first slot (its streams were
            // cleared when their last sequences finished) and shares it with the others.
            eval_prompt(draft_ctx, &job, &[first], 0)?;
            for &slot in &request.slots[1..] {
                draft_ctx
                    .copy_kv_cache_seq(first, slot, None, None)
                    .map_err(copy_err)?;
            }
        }
        cache.tokens.clone_from(&request.prompt);
        self.reused_prompt_tokens += reuse;
        tracing::trace!(
            prompt = request.prompt.len(),
            reused = reuse,
            "admitted a request"
        );
        request.prompt_ms = millis(started);
        // Every sequence's first token comes from the same prompt logits.
        let logits = ctx.get_logits_ith(row);
        for idx in 0..request.seqs.len() {
            request.step(model, idx, logits, feed);
        }
        Ok(request)
    }

    /// Drop the cells of every finished sequence and return its slot to the free list.
    fn release_finished(
        &mut self,
        active: &mut [Active],
        free: &mut BTreeSet<i32>,
    ) -> Result<(), Error> {
        let session = self
            .session
            .as_mut()
            .expect("a context exists while requests run");
        let mut draft_ctx = draft_streams(&mut self.draft, self.config.speculate);
        for request in active {
            for (slot, seq) in request.slots.iter_mut().zip(&request.seqs) {
                if seq.next.is_none() && *slot >= 0 {
                    session
                        .ctx
                        .clear_kv_cache_seq(Some(*slot as u32), None, None)
                        .map_err(|err| {
                            backend_error(format!("could not free a sequence: {err}"))
                        })?;
                    if let Some(draft_ctx) = draft_ctx.as_deref_mut() {
                        draft_ctx
                            .clear_kv_cache_seq(Some(*slot as u32), None, None)
                            .map_err(|err| {
                                backend_error(format!("could not free a draft sequence: {err}"))
                            })?;
                    }
                    free.insert(*slot);
                    *slot = RELEASED;
                }
            }
        }
        Ok(())
    }

    /// Move live sequences from the highest slots into free lower ones (a stream copy each)
    /// until the slots in use are `0..k`.
    fn compact(&mut self, active: &mut [Active], free: &mut BTreeSet<i32>) -> Result<(), Error> {
        let session = self
            .session
            .as_mut()
            .expect("a context exists while requests run");
        let mut draft_ctx = draft_streams(&mut self.draft, self.config.speculate);
        let err = |err| backend_error(format!("could not move a sequence: {err}"));
        loop {
            let Some(&low) = free.first() else {
                return Ok(());
            };
            let highest = active
                .iter()
                .enumerate()
                .flat_map(|(a, request)| {
                    request
                        .slots
                        .iter()
                        .enumerate()
                        .filter(|&(_, &slot)| slot != RELEASED)
                        .map(move |(s, &slot)| (slot, a, s))
                })
                .max();
            let Some((high, a, s)) = highest else {
                return Ok(());
            };
            if high < low {
                return Ok(());
            }
            session
                .ctx
                .copy_kv_cache_seq(high, low, None, None)
                .map_err(err)?;
            session
                .ctx
                .clear_kv_cache_seq(Some(high as u32), None, None)
                .map_err(err)?;
            if let Some(draft_ctx) = draft_ctx.as_deref_mut() {
                draft_ctx
                    .copy_kv_cache_seq(high, low, None, None)
                    .map_err(err)?;
                draft_ctx
                    .clear_kv_cache_seq(Some(high as u32), None, None)
                    .map_err(err)?;
            }
            free.remove(&low);
            free.insert(high);
            active[a].slots[s] = low;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().copied().map(LlamaToken).collect()
    }

    #[test]
    fn the_cache_offers_the_shared_prefix_but_leaves_a_token_to_evaluate() {
        let shared: Vec<i32> = (0..20).collect();
        let cache = PrefixCache {
            seq: 4,
            tokens: tokens(&[shared.clone(), vec![100, 101]].concat()),
        };
        // A prompt that goes on differently reuses the shared part.
        assert_eq!(
            cache.reusable(&tokens(&[shared.clone(), vec![7, 8]].concat())),
            20
        );
        // The same prompt again: all but its last token.
        assert_eq!(cache.reusable(&cache.tokens.clone()), 21);
        // A prompt that is a prefix of the cached one: all but its last token.
        assert_eq!(cache.reusable(&tokens(&shared)), 19);
    }

    #[test]
    fn short_shared_prefixes_are_evaluated_again() {
        let cache = PrefixCache {
            seq: 1,
            tokens: tokens(&(0..40).collect::<Vec<_>>()),
        };
        let short: Vec<i32> = (0..(MIN_REUSE as i32 - 1)).chain([999, 998]).collect();
        assert_eq!(cache.reusable(&tokens(&short)), 0);
        let empty = PrefixCache {
            seq: 1,
            tokens: Vec::new(),
        };
        assert_eq!(empty.reusable(&tokens(&[1, 2, 3])), 0);
    }
}
