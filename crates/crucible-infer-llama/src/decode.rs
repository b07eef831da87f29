//! The batched decoding loop for greedy and sampled sequences, with prompt-lookup speculation,
//! and the pieces beam search and `generate_many` share with it (prompt evaluation,
//! per-sequence text assembly, drafting and verification of one sequence).
//!
//! Speculation: each step, a sequence feeds its next token followed by a draft (tokens that
//! followed the latest earlier occurrence of its last n-gram), all in one batch with logits for
//! every row. The rows are walked in order: a draft token is kept while it is the token the
//! model chooses there (greedy: the argmax; sampled: the acceptance rule of
//! [`Sampler::verify`]), and the first row that disagrees gives the step's last token. The KV
//! cells of the rejected draft tokens are removed. On this CPU, logits computed in a batch of
//! four or more tokens differ from one-token steps by up to ~0.5 (llama.cpp's matrix-matrix
//! kernels group rows by four), so greedy speculation can choose differently from plain greedy
//! decoding where the top two logits are that close (see docs/PERFORMANCE.md).

use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crucible_infer::sampler::{Sampler, TokenId, greedy, token_logprob};
use crucible_infer::speculate::lookup_draft;
use crucible_infer::{
    Completion, DraftCost, DraftLength, DraftPrior, Error, FinishReason, Generation, Observer,
    SpecStats, StopMatcher,
};
use crucible_types::{Decoding, GenParams};

use crate::draft::{self, DraftCells, Want};
use crate::{backend_error, millis};

/// One request's fixed inputs.
pub(crate) struct Job<'a> {
    pub(crate) model: &'static LlamaModel,
    pub(crate) prompt: &'a [LlamaToken],
    pub(crate) params: &'a GenParams,
    pub(crate) batch_size: usize,
    /// Keep generating through end-of-generation tokens (benchmarks want fixed lengths).
    pub(crate) ignore_eos: bool,
    /// Longest prompt-lookup draft; 0 decodes one token per step.
    pub(crate) max_draft: usize,
    /// What a drafted token costs, which decides when drafting pays.
    pub(crate) draft_cost: DraftCost,
}

/// Most tokens one decode step carries when speculating: past it, drafts are shortened, and a
/// step with too many live sequences for a useful draft each decodes plainly (a large batch is
/// already compute-bound, and verifying drafts would only add work).
pub(crate) const STEP_TOKEN_BUDGET: usize = 16;

/// The draft length each of `live` sequences may use this step under [`STEP_TOKEN_BUDGET`]; 0
/// when that leaves less than [`DraftLength::MIN`].
pub(crate) fn draft_cap(live: usize, max_draft: usize) -> usize {
    let cap = (STEP_TOKEN_BUDGET / live.max(1))
        .saturating_sub(1)
        .min(max_draft);
    if cap < DraftLength::MIN { 0 } else { cap }
}

/// Evaluate the prompt from position `start` on (the cells before it are already in the cache)
/// once for all of `seq_ids` (its KV cells are shared by every sequence).
/// Returns the batch row holding the last prompt token's logits.
pub(crate) fn eval_prompt(
    ctx: &mut LlamaContext<'static>,
    job: &Job<'_>,
    seq_ids: &[i32],
    start: usize,
) -> Result<i32, Error> {
    debug_assert!(
        start < job.prompt.len(),
        "at least one prompt token is evaluated"
    );
    eval_tokens(ctx, job.prompt, start, job.batch_size, seq_ids, true)
}

/// Evaluate `tokens[start..]` at their positions for all of `seq_ids`, in batches of
/// `batch_size`; with `logits`, the last token's logits are kept. Returns the last batch row.
pub(crate) fn eval_tokens(
    ctx: &mut LlamaContext<'static>,
    tokens: &[LlamaToken],
    start: usize,
    batch_size: usize,
    seq_ids: &[i32],
    logits: bool,
) -> Result<i32, Error> {
    let chunk_size = batch_size.max(1);
    let mut batch = LlamaBatch::new(chunk_size, seq_ids.len() as i32);
    let last = tokens.len().saturating_sub(1);
    for (chunk_idx, chunk) in tokens[start..].chunks(chunk_size).enumerate() {
        batch.clear();
        for (offset, &token) in chunk.iter().enumerate() {
            let pos = start + chunk_idx * chunk_size + offset;
            batch
                .add(token, pos as i32, seq_ids, logits && pos == last)
                .map_err(backend_error)?;
        }
        ctx.decode(&mut batch)
            .map_err(|err| backend_error(format!("prompt evaluation failed: {err}")))?;
    }
    Ok(batch.n_tokens() - 1)
}

/// Text assembly for one sequence: bytes to UTF-8, stop sequences, streaming, token limit.
pub(crate) struct Text {
    pending: Vec<u8>,
    piece: Vec<u8>,
    pub(crate) text: String,
    streamed: usize,
}

impl Text {
    pub(crate) fn new() -> Text {
        Text {
            pending: Vec::new(),
            piece: Vec::new(),
            text: String::new(),
            streamed: 0,
        }
    }

    /// Append a token's bytes; return the offset where new text begins.
    pub(crate) fn append(&mut self, model: &LlamaModel, token: LlamaToken) -> usize {
        let before = self.text.len();
        self.piece.clear();
        model
            .vocab()
            .token_to_piece_into(token, &mut self.piece, false, None);
        self.pending.extend_from_slice(&self.piece);
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(valid) => {
                    self.text.push_str(valid);
                    self.pending.clear();
                    break;
                }
                Err(err) => {
                    let valid = err.valid_up_to();
                    let head = std::str::from_utf8(&self.pending[..valid])
                        .expect("valid_up_to marks a valid prefix");
                    self.text.push_str(head);
                    match err.error_len() {
                        // Invalid bytes: replace them and carry on.
                        Some(len) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + len);
                        }
                        // An incomplete character: wait for the next token.
                        None => {
                            self.pending.drain(..valid);
                            break;
                        }
                    }
                }
            }
        }
        before
    }

    /// Send newly settled text to the observer.
    pub(crate) fn stream(
        &mut self,
        seq: usize,
        stop: &StopMatcher,
        finished: bool,
        observer: &mut dyn Observer,
    ) {
        let safe = if finished {
            self.text.len()
        } else {
            stop.safe_len(&self.text)
        };
        if safe > self.streamed {
            observer.on_text(seq, &self.text[self.streamed..safe]);
            self.streamed = safe;
        }
    }
}

/// One sequence being decoded.
pub(crate) struct Sequence {
    sampler: Option<Sampler>,
    text: Text,
    pub(crate) tokens: usize,
    logprob: f64,
    finish: Option<FinishReason>,
    /// The token to feed next; `None` once the sequence has finished.
    pub(crate) next: Option<LlamaToken>,
    /// The tokens chosen so far (all but the last have been fed: their cells follow the
    /// prompt's).
    pub(crate) generated: Vec<LlamaToken>,
    /// Prompt and generated tokens, for prompt lookup (empty when not speculating).
    history: Vec<TokenId>,
    draft_length: DraftLength,
    /// Its cells in the draft model's context (unused without a draft model).
    draft_cells: DraftCells,
    pub(crate) stats: SpecStats,
}

impl Sequence {
    /// Sequence `idx` of a request decoded with `params`, its drafts starting from `prior`.
    pub(crate) fn new(job: &Job<'_>, idx: usize, prior: DraftPrior) -> Sequence {
        let params = job.params;
        Sequence {
            sampler: match params.decoding {
                Decoding::Sample(sampling) => Some(Sampler::new(sampling, params.seed, idx as u64)),
                _ => None,
            },
            text: Text::new(),
            tokens: 0,
            logprob: 0.0,
            finish: None,
            next: None,
            generated: Vec::new(),
            history: if job.max_draft > 0 {
                job.prompt.iter().map(|t| t.0 as TokenId).collect()
            } else {
                Vec::new()
            },
            draft_length: DraftLength::with_prior(job.max_draft, job.draft_cost, prior),
            draft_cells: DraftCells::after_prompt(job.prompt.len()),
            stats: SpecStats::default(),
        }
    }

    /// Let prompt lookup also draft from `earlier` (an earlier answer to a prompt like this
    /// one: an editor's previous completion, which the user may be typing along). It is
    /// searched as if it followed the prompt, so its matches count as the most recent ones.
    /// Call before the first token; does nothing when not speculating.
    pub(crate) fn recall(&mut self, earlier: &[LlamaToken]) {
        debug_assert!(self.generated.is_empty(), "recall before the first token");
        if !self.history.is_empty() {
            self.history.extend(earlier.iter().map(|t| t.0 as TokenId));
        }
    }

    /// Fold this sequence's drafts into `prior`, for the sequences that start after it.
    pub(crate) fn teach(&self, prior: &mut DraftPrior) {
        prior.observe(&self.draft_length);
    }

    /// The finished sequence as a completion.
    pub(crate) fn completion(self) -> Completion {
        Completion {
            text: self.text.text,
            tokens: self.tokens,
            finish: self.finish.unwrap_or(FinishReason::Length),
            logprob: Some(self.logprob),
        }
    }

    /// Choose the next token from `logits` and take it (see [`Sequence::push`]).
    pub(crate) fn step(
        &mut self,
        idx: usize,
        logits: &[f32],
        job: &Job<'_>,
        stop: &StopMatcher,
        observer: &mut dyn Observer,
    ) {
        let token = self.choose(logits);
        self.push(idx, token, job, stop, observer);
    }

    /// Draft up to `cap` tokens to verify after the next one (empty while the draft length
    /// pauses or nothing matches). Needs `job.max_draft > 0`.
    pub(crate) fn draft(&mut self, cap: usize, live: usize, out: &mut Vec<TokenId>) {
        out.clear();
        let want = self.want(cap, live);
        if want == 0 {
            return;
        }
        lookup_draft(&self.history, want, out);
        if out.len() < DraftLength::MIN {
            out.clear();
        }
    }

    /// How many tokens to draft now, at most `cap`, when `live` sequences decode together: 0
    /// while the draft length pauses, when drafting would not pay, or when fewer than
    /// [`DraftLength::MIN`] would do.
    pub(crate) fn want(&mut self, cap: usize, live: usize) -> usize {
        self.draft_length.take(cap, live)
    }

    /// This sequence's request for `want` tokens from the draft model, in KV stream `stream`
    /// of the draft context.
    pub(crate) fn model_want<'a>(
        &'a mut self,
        stream: i32,
        want: usize,
        out: &'a mut Vec<TokenId>,
    ) -> Want<'a> {
        Want {
            stream,
            history: &self.history,
            want,
            cells: &mut self.draft_cells,
            out,
        }
    }

    /// Walk the rows of a verification: `logits(j)` is the output of the row fed the next
    /// token (j = 0) or `draft[j - 1]`. Takes tokens until one differs from the draft, or the
    /// sequence finishes. Returns how many draft tokens were accepted.
    pub(crate) fn verify<'l>(
        &mut self,
        idx: usize,
        logits: impl Fn(usize) -> &'l [f32],
        draft: &[TokenId],
        job: &Job<'_>,
        stop: &StopMatcher,
        observer: &mut dyn Observer,
    ) -> usize {
        let mut accepted = 0;
        for j in 0..=draft.len() {
            let row = logits(j);
            let (token, took) = match draft.get(j) {
                Some(&proposed) => self.choose_against(row, proposed),
                None => (self.choose(row), false),
            };
            self.push(idx, token, job, stop, observer);
            if !took || self.next.is_none() {
                break;
            }
            accepted += 1;
        }
        if !draft.is_empty() {
            self.stats.steps += 1;
            self.stats.drafted += draft.len();
            self.stats.accepted += accepted;
            self.draft_length.record(draft.len(), accepted);
        }
        accepted
    }

    /// Choose a token from `logits` where the draft proposed `proposed`; the flag says whether
    /// the draft's token was taken.
    fn choose_against(&mut self, logits: &[f32], proposed: TokenId) -> (LlamaToken, bool) {
        let (token, took) = match &mut self.sampler {
            Some(sampler) => sampler.verify(logits, proposed, &[(proposed, 1.0)]),
            None => {
                let token = greedy(logits);
                (token, token == proposed)
            }
        };
        self.logprob += token_logprob(logits, token as usize);
        (LlamaToken(token as i32), took)
    }

    fn choose(&mut self, logits: &[f32]) -> LlamaToken {
        let token = match &mut self.sampler {
            Some(sampler) => sampler.sample(logits),
            None => greedy(logits),
        };
        self.logprob += token_logprob(logits, token as usize);
        LlamaToken(token as i32)
    }

    fn push(
        &mut self,
        idx: usize,
        token: LlamaToken,
        job: &Job<'_>,
        stop: &StopMatcher,
        observer: &mut dyn Observer,
    ) {
        self.tokens += 1;
        self.next = None;
        self.generated.push(token);
        if job.max_draft > 0 {
            self.history.push(token.0 as TokenId);
        }
        if !job.ignore_eos && job.model.vocab().is_eog(token) {
            self.finish = Some(FinishReason::Eos);
        } else {
            let new_from = self.text.append(job.model, token);
            if let Some(pos) = stop.find(&self.text.text, new_from) {
                self.text.text.truncate(pos);
                self.finish = Some(FinishReason::Stop);
            } else if self.tokens >= job.params.max_new_tokens {
                self.finish = Some(FinishReason::Length);
            } else {
                self.next = Some(token);
            }
        }
        self.text.stream(idx, stop, self.finish.is_some(), observer);
    }
}

/// Greedy or sampled decoding of `params.n` sequences sharing the prompt, whose first `reused`
/// tokens sequence 0's cells already hold (the other sequences hold nothing). With `draft_ctx`
/// (a context of the draft model, its cache empty), drafts come from the draft model, else
/// from prompt lookup (when `job.max_draft > 0`), which also searches `recall` (see
/// [`Sequence::recall`]); drafts start from `prior`, which learns from them when the request
/// ends. Also returns the tokens sequence 0 chose.
pub(crate) fn run(
    ctx: &mut LlamaContext<'static>,
    mut draft_ctx: Option<&mut LlamaContext<'static>>,
    job: &Job<'_>,
    reused: usize,
    recall: &[LlamaToken],
    prior: &mut DraftPrior,
    observer: &mut dyn Observer,
) -> Result<(Generation, Vec<LlamaToken>), Error> {
    let params = job.params;
    let n = params.n;
    let seq_ids: Vec<i32> = (0..n as i32).collect();
    let started = Instant::now();
    if reused > 0 {
        // The other sequences share the reused cells too (a tag on the same cells).
        for &seq in &seq_ids[1..] {
            ctx.copy_kv_cache_seq(0, seq, None, Some(reused as u32))
                .map_err(|err| backend_error(format!("could not share KV cells: {err}")))?;
        }
    }
    let prompt_row = eval_prompt(ctx, job, &seq_ids, reused)?;
    if let Some(draft_ctx) = draft_ctx.as_deref_mut() {
        // The draft model reads the prompt once too; its logits are not needed.
        eval_prompt(draft_ctx, job, &seq_ids, 0)?;
    }
    let prompt_ms = millis(started);
    let decode_started = Instant::now();
    let stop = StopMatcher::new(&params.stop);
    // An earlier answer to draft from is a better source than the requests before were: its
    // drafts start optimistic.
    let start = if recall.is_empty() {
        *prior
    } else {
        DraftPrior::default()
    };
    let mut seqs: Vec<Sequence> = (0..n).map(|idx| Sequence::new(job, idx, start)).collect();
    // Every sequence's first token comes from the same prompt logits.
    for (idx, seq) in seqs.iter_mut().enumerate() {
        seq.recall(recall);
        seq.step(idx, ctx.get_logits_ith(prompt_row), job, &stop, observer);
    }
    let mut batch = LlamaBatch::new(n.max(STEP_TOKEN_BUDGET), 1);
    // (sequence, first batch row, its draft) of each live sequence this step.
    let mut rows: Vec<(usize, i32, Vec<TokenId>)> = Vec::with_capacity(n);
    let mut spare: Vec<Vec<TokenId>> = Vec::new();
    while seqs.iter().any(|s| s.next.is_some()) {
        if observer.cancelled() {
            return Err(Error::Cancelled);
        }
        batch.clear();
        spare.extend(rows.drain(..).map(|(_, _, draft)| draft));
        let live = seqs.iter().filter(|s| s.next.is_some()).count();
        let cap = if job.max_draft > 0 {
            draft_cap(live, job.max_draft)
        } else {
            0
        };
        let mut drafts: Vec<Vec<TokenId>> = Vec::with_capacity(live);
        match draft_ctx.as_deref_mut() {
            Some(draft_ctx) if cap > 0 => {
                for _ in 0..live {
                    drafts.push(spare.pop().unwrap_or_default());
                }
                let mut outs = drafts.iter_mut();
                let mut requests = Vec::with_capacity(live);
                for (idx, seq) in seqs.iter_mut().enumerate() {
                    if seq.next.is_none() {
                        continue;
                    }
                    let out = outs.next().expect("one draft per live sequence");
                    out.clear();
                    let want = seq.want(cap, live);
                    if want > 0 {
                        requests.push(seq.model_want(idx as i32, want, out));
                    }
                }
                draft::draft(draft_ctx, &mut requests)?;
            }
            _ => {
                for seq in seqs.iter_mut() {
                    if seq.next.is_none() {
                        continue;
                    }
                    let mut draft = spare.pop().unwrap_or_default();
                    if cap > 0 {
                        seq.draft(cap, live, &mut draft);
                    } else {
                        draft.clear();
                    }
                    drafts.push(draft);
                }
            }
        }
        let mut drafts = drafts.into_iter();
        for (idx, seq) in seqs.iter_mut().enumerate() {
            let Some(token) = seq.next else { continue };
            let draft = drafts.next().expect("one draft per live sequence");
            let pos = job.prompt.len() + seq.tokens - 1;
            let first = batch.n_tokens();
            batch
                .add(token, pos as i32, &[idx as i32], true)
                .map_err(backend_error)?;
            for (j, &proposed) in draft.iter().enumerate() {
                batch
                    .add(
                        LlamaToken(proposed as i32),
                        (pos + 1 + j) as i32,
                        &[idx as i32],
                        true,
                    )
                    .map_err(backend_error)?;
            }
            rows.push((idx, first, draft));
        }
        ctx.decode(&mut batch)
            .map_err(|err| backend_error(format!("decoding failed: {err}")))?;
        for (idx, first, draft) in &rows {
            let seq = &mut seqs[*idx];
            let pos = job.prompt.len() + seq.tokens - 1;
            let context = &*ctx;
            let accepted = seq.verify(
                *idx,
                |j| context.get_logits_ith(first + j as i32),
                draft,
                job,
                &stop,
                observer,
            );
            if accepted < draft.len() {
                // The rejected draft tokens' cells go: the next token is fed at their place.
                ctx.clear_kv_cache_seq(Some(*idx as u32), Some((pos + 1 + accepted) as u32), None)
                    .map_err(|err| backend_error(format!("could not drop draft cells: {err}")))?;
            }
        }
    }
    let mut speculation = None::<SpecStats>;
    if job.max_draft > 0 {
        let stats = speculation.get_or_insert_default();
        for seq in &seqs {
            stats.add(seq.stats);
            seq.teach(prior);
        }
    }
    let chosen = seqs[0].generated.clone();
    let completions = seqs.into_iter().map(Sequence::completion).collect();
    let generation = Generation {
        completions,
        prompt_tokens: job.prompt.len(),
        prompt_ms,
        decode_ms: millis(decode_started),
        speculation,
    };
    Ok((generation, chosen))
}
