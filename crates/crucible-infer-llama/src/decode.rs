//! The batched decoding loop for greedy and sampled sequences, and the pieces beam search
//! shares with it (prompt evaluation, per-sequence text assembly).

use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crucible_infer::sampler::{Sampler, greedy, token_logprob};
use crucible_infer::{Completion, Error, FinishReason, Generation, Observer, StopMatcher};
use crucible_types::{Decoding, GenParams};

use crate::{backend_error, millis};

/// One request's fixed inputs.
pub(crate) struct Job<'a> {
    pub(crate) model: &'static LlamaModel,
    pub(crate) prompt: &'a [LlamaToken],
    pub(crate) params: &'a GenParams,
    pub(crate) batch_size: usize,
    /// Keep generating through end-of-generation tokens (benchmarks want fixed lengths).
    pub(crate) ignore_eos: bool,
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
    let chunk_size = job.batch_size.max(1);
    let mut batch = LlamaBatch::new(chunk_size, seq_ids.len() as i32);
    let last = job.prompt.len() - 1;
    for (chunk_idx, chunk) in job.prompt[start..].chunks(chunk_size).enumerate() {
        batch.clear();
        for (offset, &token) in chunk.iter().enumerate() {
            let pos = start + chunk_idx * chunk_size + offset;
            batch
                .add(token, pos as i32, seq_ids, pos == last)
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
}

impl Sequence {
    /// Sequence `idx` of a request decoded with `params`.
    pub(crate) fn new(params: &GenParams, idx: usize) -> Sequence {
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
        }
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

/// Greedy or sampled decoding of `params.n` sequences sharing the prompt.
pub(crate) fn run(
    ctx: &mut LlamaContext<'static>,
    job: &Job<'_>,
    observer: &mut dyn Observer,
) -> Result<Generation, Error> {
    let params = job.params;
    let n = params.n;
    let seq_ids: Vec<i32> = (0..n as i32).collect();
    let started = Instant::now();
    let prompt_row = eval_prompt(ctx, job, &seq_ids, 0)?;
    let prompt_ms = millis(started);
    let decode_started = Instant::now();
    let stop = StopMatcher::new(&params.stop);
    let mut seqs: Vec<Sequence> = (0..n).map(|idx| Sequence::new(params, idx)).collect();
    // Every sequence's first token comes from the same prompt logits.
    for (idx, seq) in seqs.iter_mut().enumerate() {
        seq.step(idx, ctx.get_logits_ith(prompt_row), job, &stop, observer);
    }
    let mut batch = LlamaBatch::new(n, 1);
    let mut rows = Vec::with_capacity(n);
    while seqs.iter().any(|s| s.next.is_some()) {
        if observer.cancelled() {
            return Err(Error::Cancelled);
        }
        batch.clear();
        rows.clear();
        for (idx, seq) in seqs.iter().enumerate() {
            if let Some(token) = seq.next {
                let pos = job.prompt.len() + seq.tokens - 1;
                batch
                    .add(token, pos as i32, &[idx as i32], true)
                    .map_err(backend_error)?;
                rows.push(idx);
            }
        }
        ctx.decode(&mut batch)
            .map_err(|err| backend_error(format!("decoding failed: {err}")))?;
        for (row, &idx) in rows.iter().enumerate() {
            seqs[idx].step(idx, ctx.get_logits_ith(row as i32), job, &stop, observer);
        }
    }
    let completions = seqs.into_iter().map(Sequence::completion).collect();
    Ok(Generation {
        completions,
        prompt_tokens: job.prompt.len(),
        prompt_ms,
        decode_ms: millis(decode_started),
    })
}
