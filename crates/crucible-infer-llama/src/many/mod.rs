//! Continuous batching across requests: several prompts decoded together, a new request
//! admitted as soon as sequences finish and free their slots.
//!
//! The context is laid out with one KV stream per slot ([`Layout::PerSequence`]), so each
//! sequence attends over its own cells only; in a unified cache every token would attend over
//! the cells of every prompt in flight. A request for n sequences evaluates its prompt once on
//! its first slot and copies the cells to the others.
//!
//! Each step is one batch: a token for every live sequence (with its draft when speculating),
//! then a chunk of the prompts being evaluated. While sequences decode, a step carries at most
//! [`PREFILL_CHUNK`] prompt tokens, so a newly admitted prompt is evaluated over a few steps
//! beside the decoding instead of stalling every sequence in flight for its whole length; with
//! nothing decoding, a step takes as much prompt as a batch holds. A request's sequences join
//! the decode steps once its prompt is evaluated.
//!
//! When the slots attend plainly (faster decoding on a CPU) and nothing is decoding, a new
//! prompt is evaluated with flash attention (faster prompt evaluation) in a second context and
//! its cells are moved into its slot ([`flash`]).
//!
//! The prompt cache ([`cache`]) keeps the cells of finished requests in host memory. A new
//! prompt that shares a prefix with one of them gets those cells copied into its slot and
//! evaluates only what follows: a repeated prompt, a chat's next turn, an editor's next infill.
//! Slots are as long as the requests need, not as the longest a request may be, and the KV
//! memory that leaves unused goes to the cache; a longer request grows them in place
//! ([`slots`]).
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
//! still deterministic for the same requests and `max_sequences`. A prompt whose prefix comes
//! from the cache is evaluated in other batches than the first time, with the same caveat.

mod cache;
mod flash;
mod request;
mod slots;
mod speculate;

use std::collections::BTreeSet;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{LlamaStateSeqFlags, SeqState};

use crucible_infer::sampler::TokenId;
use crucible_infer::{Error, Feed, GenRequest, Observer, StopMatcher};
use crucible_types::Decoding;

use crate::decode::{Job, STEP_TOKEN_BUDGET, Sequence, eval_prompt};
use crate::{Layout, LlamaGenerator, MAX_MODEL_DRAFT, backend_error, draft_streams, millis};
use cache::PromptCache;
pub(crate) use cache::{MIN_REUSE, reusable};
pub(crate) use flash::{FlashPrefill, prefill_single};
use request::{Active, Waiting};

/// The slot of a sequence that has finished and given its slot back.
const RELEASED: i32 = -1;

/// Most prompt tokens a step evaluates while sequences decode in it: enough that the prompt's
/// share of the step is compute-bound work done at full speed, few enough that the decoding
/// sequences wait for a fraction of a second at most.
const PREFILL_CHUNK: usize = 256;

/// Host memory the prompt cache takes by default beside what short slots leave unused: 16 MiB,
/// about 1,360 cells of the 0.5B model (a HumanEval prompt and a 64-token answer take about
/// 200, so six or seven of them). With eight 4,096-cell slots the serving process peaked at
/// 1,031 MiB with 32 MiB, over the 1 GiB bound of 50 clients (docs/PERFORMANCE.md, "Serving");
/// half of it keeps the process under it. Slots of 2,048 cells leave the cache 192 MiB more.
pub const DEFAULT_PROMPT_CACHE_BYTES: usize = 16 << 20;

/// Where a request's first logits are: a row of the step's batch, or copied out of the
/// flash-attention context ([`flash`]).
enum FirstLogits<'a> {
    Row(i32),
    Given(&'a [f32]),
}

/// A prompt whose evaluation ends in this step: its request and the batch row of its last
/// token's logits.
struct Evaluated {
    request: usize,
    end: usize,
    logits_row: Option<i32>,
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
        let mut cache: PromptCache<SeqState> = PromptCache::new(0);
        let mut free: BTreeSet<i32> = (0..slots as i32).collect();
        let mut active: Vec<Active> = Vec::new();
        let mut waiting: Option<Waiting> = None;
        let mut next_id = 0;
        let mut exhausted = false;
        let batch_size = self.config.batch_size.max(1);
        let mut batch = LlamaBatch::new(batch_size.max(slots).max(STEP_TOKEN_BUDGET), 1);
        // (slot, request, sequence) of each live sequence in the decode batch.
        let mut rows: Vec<(i32, usize, usize)> = Vec::with_capacity(slots);
        // Each live sequence's draft this step (all of one length; see `draft_step`).
        let mut drafts: Vec<Vec<TokenId>> = Vec::new();
        let mut evaluated: Vec<Evaluated> = Vec::new();
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
                let cells = slots::slot_cells(next.cells(), self.config.slot_cells);
                let need = Layout::PerSequence { seqs: slots, cells };
                match layout {
                    Some(current) if current.serves(need) => {}
                    Some(_) => {
                        // Its prompt needs longer slots: they grow in place, the requests in
                        // flight keeping their cells, and the prompt cache shrinks to the
                        // memory they leave.
                        let grown = self.grow_slots(need, &active)?;
                        layout = Some(grown);
                        cache.set_budget(self.cache_budget(grown));
                        slots::return_freed_memory();
                    }
                    None => {
                        // The first admission of this call gets here, so the call starts from
                        // an empty cache whatever an earlier call left in the context.
                        let made = self.session(need)?.layout;
                        layout = Some(made);
                        cache = PromptCache::new(self.cache_budget(made));
                        if self.config.prompt_cache_bytes > 0 {
                            slots::map_large_blocks();
                        }
                        // The draft model's streams mirror the slots.
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
                active.push(self.admit(next, taken, &mut cache));
            }
            // Finished sequences (some end on their first token) give their slots back, and the
            // live ones move down to keep the slots in use contiguous.
            if !active.is_empty() {
                self.release_finished(&mut active, &mut free, &mut cache)?;
                self.compact(&mut active, &mut free)?;
            }
            let mut idx = 0;
            while idx < active.len() {
                if active[idx].done() {
                    let request = active.swap_remove(idx);
                    let id = request.id;
                    for seq in &request.seqs {
                        seq.teach(&mut self.draft_prior);
                    }
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
            // One step: a token for every live sequence, in slot order. llama.cpp puts
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
            let draft_len = speculate::draft_step(&mut active, &rows, &mut drafts, draft_ctx)?;
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
            // Then the prompts being evaluated, after the decode rows (their streams are the
            // next ones up), within the step's prompt budget.
            let decode_tokens = batch.n_tokens() as usize;
            let mut budget = if decode_tokens == 0 {
                batch_size
            } else {
                PREFILL_CHUNK.min(batch_size.saturating_sub(decode_tokens))
            };
            // With nothing decoding, a prompt may go to the flash-attention context.
            if rows.is_empty() {
                self.begin_flash(&mut active, &mut cache);
            }
            budget =
                budget.saturating_sub(self.flash_step(&mut active, budget, &mut cache, feed)?);
            add_prompt_chunks(&active, budget, &mut batch, &mut evaluated)?;
            if batch.n_tokens() == 0 {
                continue;
            }
            let model = self.model;
            let session = self
                .session
                .as_mut()
                .expect("a context exists while requests run");
            let step_started = Instant::now();
            session
                .ctx
                .decode(&mut batch)
                .map_err(|err| backend_error(format!("decoding failed: {err}")))?;
            let decode_ms = millis(step_started);
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
            for done in evaluated.drain(..) {
                let request = &mut active[done.request];
                request.evaluated = done.end;
                if let Some(row) = done.logits_row {
                    self.start(request, FirstLogits::Row(row), feed)?;
                }
            }
            // The step's profile: the model's time and the host's (sampling, text, feeds).
            tracing::trace!(
                live = rows.len(),
                draft_len,
                prompt_tokens = batch.n_tokens() as usize - decode_tokens,
                decode_ms,
                host_ms = millis(step_started) - decode_ms,
                "step"
            );
        }
    }
}

/// Add to `batch` the next tokens of the prompts being evaluated, in slot order, at most
/// `budget` of them; `evaluated` gets each prompt's new end and, for a prompt that ends in
/// this step, the row of its last token (the only one whose logits are needed).
fn add_prompt_chunks(
    active: &[Active],
    mut budget: usize,
    batch: &mut LlamaBatch,
    evaluated: &mut Vec<Evaluated>,
) -> Result<(), Error> {
    let mut prefilling: Vec<usize> = (0..active.len())
        .filter(|&a| active[a].prefilling() && active[a].flash.is_none())
        .collect();
    prefilling.sort_unstable_by_key(|&a| active[a].slots[0]);
    for a in prefilling {
        if budget == 0 {
            break;
        }
        let request = &active[a];
        let (start, len) = (request.evaluated, request.prompt.len());
        let end = len.min(start + budget);
        for pos in start..end {
            batch
                .add(
                    request.prompt[pos],
                    pos as i32,
                    &[request.slots[0]],
                    pos + 1 == len,
                )
                .map_err(backend_error)?;
        }
        budget -= end - start;
        evaluated.push(Evaluated {
            request: a,
            end,
            logits_row: (end == len).then(|| batch.n_tokens() - 1),
        });
    }
    Ok(())
}

impl LlamaGenerator {
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

    /// Take a request into `slots`: its first slot gets the cells the prompt cache holds of its
    /// prompt, and the rest of the prompt is evaluated by the steps that follow.
    fn admit(
        &mut self,
        next: Waiting,
        slots: Vec<i32>,
        cache: &mut PromptCache<SeqState>,
    ) -> Active {
        let max_draft = self.max_draft(&next.params);
        let draft_cost = self.draft_cost();
        let seqs = {
            let job = Job {
                model: self.model,
                prompt: &next.prompt,
                params: &next.params,
                batch_size: self.config.batch_size,
                ignore_eos: false,
                max_draft,
                draft_cost,
            };
            (0..next.params.n)
                .map(|idx| Sequence::new(&job, idx, self.draft_prior))
                .collect()
        };
        let session = self
            .session
            .as_mut()
            .expect("a context exists before admission");
        let reuse = restore(&mut session.ctx, slots[0], &next.prompt, cache);
        self.reused_prompt_tokens += reuse;
        tracing::trace!(
            prompt = next.prompt.len(),
            reused = reuse,
            "admitted a request"
        );
        Active {
            id: next.id,
            stop: StopMatcher::new(&next.params.stop),
            seqs,
            prompt: next.prompt,
            params: next.params,
            slots,
            started: Instant::now(),
            prompt_ms: 0.0,
            cancelled: false,
            max_draft,
            draft_cost,
            evaluated: reuse,
            flash: None,
        }
    }

    /// A request's prompt has been evaluated (`logits` are its last token's): share its
    /// cells with its other slots, let the draft model read it, and choose every sequence's
    /// first token.
    fn start(
        &mut self,
        request: &mut Active,
        logits: FirstLogits<'_>,
        feed: &mut dyn Feed,
    ) -> Result<(), Error> {
        let model = self.model;
        let session = self
            .session
            .as_mut()
            .expect("a context exists while requests run");
        let ctx = &mut session.ctx;
        let copy_err = |err| backend_error(format!("could not copy KV cells: {err}"));
        let first = request.slots[0];
        for &slot in &request.slots[1..] {
            ctx.copy_kv_cache_seq(first, slot, None, None)
                .map_err(copy_err)?;
        }
        if let Some(draft_ctx) = draft_streams(&mut self.draft, self.config.speculate) {
            // The draft model reads the whole prompt on the first slot (its streams were
            // cleared when their last sequences finished) and shares it with the others.
            let job = Job {
                model,
                prompt: &request.prompt,
                params: &request.params,
                batch_size: self.config.batch_size,
                ignore_eos: false,
                max_draft: request.max_draft,
                draft_cost: request.draft_cost,
            };
            eval_prompt(draft_ctx, &job, &[first], 0)?;
            for &slot in &request.slots[1..] {
                draft_ctx
                    .copy_kv_cache_seq(first, slot, None, None)
                    .map_err(copy_err)?;
            }
        }
        request.prompt_ms = millis(request.started);
        // Every sequence's first token comes from the same prompt logits.
        let logits = match logits {
            FirstLogits::Row(row) => ctx.get_logits_ith(row),
            FirstLogits::Given(logits) => logits,
        };
        for idx in 0..request.seqs.len() {
            request.step(model, idx, logits, feed);
        }
        Ok(())
    }

    /// Drop the cells of every finished sequence and return its slot to the free list; the
    /// cells of a request's first sequence go to the prompt cache first.
    fn release_finished(
        &mut self,
        active: &mut [Active],
        free: &mut BTreeSet<i32>,
        cache: &mut PromptCache<SeqState>,
    ) -> Result<(), Error> {
        let session = self
            .session
            .as_mut()
            .expect("a context exists while requests run");
        let mut draft_ctx = draft_streams(&mut self.draft, self.config.speculate);
        for request in active.iter_mut().filter(|r| !r.prefilling()) {
            for (s, seq) in request.seqs.iter().enumerate() {
                let slot = request.slots[s];
                if seq.next.is_some() || slot == RELEASED {
                    continue;
                }
                if s == 0 {
                    let tokens = request.cached_tokens();
                    let prompt = request.evaluated.min(tokens.len());
                    keep(&mut session.ctx, slot, tokens, prompt, cache);
                }
                session
                    .ctx
                    .clear_kv_cache_seq(Some(slot as u32), None, None)
                    .map_err(|err| backend_error(format!("could not free a sequence: {err}")))?;
                if let Some(draft_ctx) = draft_ctx.as_deref_mut() {
                    draft_ctx
                        .clear_kv_cache_seq(Some(slot as u32), None, None)
                        .map_err(|err| {
                            backend_error(format!("could not free a draft sequence: {err}"))
                        })?;
                }
                free.insert(slot);
                request.slots[s] = RELEASED;
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

/// Copy into `slot` (empty) the cached cells of the longest prefix of `prompt` the cache holds;
/// returns how many prompt tokens they stand for (0: none, the slot stays empty).
fn restore(
    ctx: &mut LlamaContext<'static>,
    slot: i32,
    prompt: &[LlamaToken],
    cache: &mut PromptCache<SeqState>,
) -> usize {
    let Some(hit) = cache.lookup(prompt) else {
        return 0;
    };
    let reuse = hit.reuse;
    let restored = ctx.state_seq_set(hit.state, slot).is_ok()
        // The cells past the shared prefix go.
        && matches!(
            ctx.clear_kv_cache_seq(Some(slot as u32), Some(reuse as u32), None),
            Ok(true)
        );
    if restored {
        reuse
    } else {
        tracing::debug!("could not restore cached cells; the whole prompt is evaluated");
        let _ = ctx.clear_kv_cache_seq(Some(slot as u32), None, None);
        0
    }
}

/// Save the cells of `slot`, which hold `tokens` (the first `prompt` of them the request's
/// prompt), in the prompt cache if it wants them: all of them while the cache has room, the
/// prompt's alone once keeping the answer too would evict another entry (the slot is being
/// freed, so its answer's cells are dropped first).
fn keep(
    ctx: &mut LlamaContext<'static>,
    slot: i32,
    mut tokens: Vec<LlamaToken>,
    prompt: usize,
    cache: &mut PromptCache<SeqState>,
) {
    if !cache.wants(&tokens) {
        return;
    }
    // The cells are positions 0.. of the tokens; anything else is not what the tokens say.
    let held = ctx.kv_cache_seq_pos_max(slot) + 1;
    if usize::try_from(held).ok() != Some(tokens.len()) {
        tracing::debug!(
            held,
            tokens = tokens.len(),
            "a slot's cells do not match its tokens; not cached"
        );
        return;
    }
    let Some(state) = save(ctx, slot) else {
        return;
    };
    if prompt >= tokens.len() || state.byte_len() <= cache.room_for(&tokens) {
        let bytes = state.byte_len();
        cache.insert(tokens, state, bytes);
        return;
    }
    drop(state);
    if !matches!(
        ctx.clear_kv_cache_seq(Some(slot as u32), Some(prompt as u32), None),
        Ok(true)
    ) {
        tracing::debug!("could not drop an answer's cells; not cached");
        return;
    }
    tokens.truncate(prompt);
    if cache.wants(&tokens)
        && let Some(state) = save(ctx, slot)
    {
        let bytes = state.byte_len();
        cache.insert(tokens, state, bytes);
    }
}

/// The cells of `slot`, serialized.
fn save(ctx: &LlamaContext<'static>, slot: i32) -> Option<SeqState> {
    ctx.state_seq_get(slot, LlamaStateSeqFlags::empty())
        .map_err(|err| tracing::debug!("could not save a slot's cells: {err}"))
        .ok()
}
