//! Beam search on llama.cpp: live hypotheses are KV-cache sequences, and moving a hypothesis to
//! a new slot copies its cells (a cheap re-tagging in llama.cpp's unified cache).

use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use crucible_infer::beam::{BeamModel, BeamParams, beam_search};
use crucible_infer::sampler::TokenId;
use crucible_infer::{Completion, Error, FinishReason, Generation, Observer, StopMatcher};

use crate::decode::{Job, Text, eval_prompt};
use crate::{backend_error, millis};

struct LlamaBeam<'a, 'j> {
    ctx: &'a mut LlamaContext<'static>,
    job: &'a Job<'j>,
    observer: &'a mut dyn Observer,
    stop: StopMatcher,
    /// KV sequence id of each live hypothesis. Ids come from `0..2 * width` so that a step can
    /// copy every parent into a free slot before the old slots are dropped.
    seq_of: Vec<i32>,
    slots: i32,
    logits: Vec<Vec<f32>>,
    generated: usize,
}

impl BeamModel for LlamaBeam<'_, '_> {
    type Error = Error;

    fn logits(&self, beam: usize) -> &[f32] {
        &self.logits[beam]
    }

    fn advance(&mut self, parents: &[usize], tokens: &[TokenId]) -> Result<(), Error> {
        if self.observer.cancelled() {
            return Err(Error::Cancelled);
        }
        let free: Vec<i32> = (0..self.slots)
            .filter(|id| !self.seq_of.contains(id))
            .collect();
        let kv_error = |err| backend_error(format!("KV cache: {err}"));
        for (new_idx, &parent) in parents.iter().enumerate() {
            let dest = free[new_idx];
            self.ctx
                .clear_kv_cache_seq(Some(dest as u32), None, None)
                .map_err(kv_error)?;
            self.ctx
                .copy_kv_cache_seq(self.seq_of[parent], dest, None, None)
                .map_err(kv_error)?;
        }
        for &old in &self.seq_of {
            self.ctx
                .clear_kv_cache_seq(Some(old as u32), None, None)
                .map_err(kv_error)?;
        }
        let mut batch = LlamaBatch::new(parents.len(), 1);
        let pos = (self.job.prompt.len() + self.generated) as i32;
        for (new_idx, &token) in tokens.iter().enumerate() {
            batch
                .add(LlamaToken(token as i32), pos, &[free[new_idx]], true)
                .map_err(backend_error)?;
        }
        self.ctx
            .decode(&mut batch)
            .map_err(|err| backend_error(format!("decoding failed: {err}")))?;
        self.logits = (0..tokens.len())
            .map(|row| self.ctx.get_logits_ith(row as i32).to_vec())
            .collect();
        self.seq_of = free[..parents.len()].to_vec();
        self.generated += 1;
        Ok(())
    }

    fn is_end(&self, token: TokenId) -> bool {
        self.job.model.vocab().is_eog(LlamaToken(token as i32))
    }

    fn hits_stop(&self, tokens: &[TokenId]) -> bool {
        let text = detokenize(self.job, tokens);
        self.stop.find(&text, 0).is_some()
    }
}

fn detokenize(job: &Job<'_>, tokens: &[TokenId]) -> String {
    let mut text = Text::new();
    for &token in tokens {
        text.append(job.model, LlamaToken(token as i32));
    }
    text.text
}

/// Beam search with `width` beams; returns the best `params.n` hypotheses.
pub(crate) fn run(
    ctx: &mut LlamaContext<'static>,
    job: &Job<'_>,
    width: usize,
    length_penalty: f32,
    observer: &mut dyn Observer,
) -> Result<Generation, Error> {
    let started = Instant::now();
    let row = eval_prompt(ctx, job, &[0], 0)?;
    let prompt_ms = millis(started);
    let decode_started = Instant::now();
    let stop = StopMatcher::new(&job.params.stop);
    let root_logits = ctx.get_logits_ith(row).to_vec();
    let mut model = LlamaBeam {
        ctx,
        job,
        observer,
        stop: stop.clone(),
        seq_of: vec![0],
        slots: (2 * width) as i32,
        logits: vec![root_logits],
        generated: 0,
    };
    let hypotheses = beam_search(
        &mut model,
        BeamParams {
            width,
            length_penalty,
            max_new_tokens: job.params.max_new_tokens,
        },
    )?;
    let observer = model.observer;
    let completions: Vec<Completion> = hypotheses
        .into_iter()
        .take(job.params.n)
        .enumerate()
        .map(|(idx, hyp)| {
            let mut text = detokenize(job, &hyp.tokens);
            let finish = match stop.find(&text, 0) {
                Some(pos) => {
                    text.truncate(pos);
                    FinishReason::Stop
                }
                None if hyp.ended => FinishReason::Eos,
                None => FinishReason::Length,
            };
            observer.on_text(idx, &text);
            Completion {
                text,
                tokens: hyp.tokens.len() + usize::from(finish == FinishReason::Eos),
                finish,
                logprob: Some(hyp.logprob),
            }
        })
        .collect();
    Ok(Generation {
        completions,
        prompt_tokens: job.prompt.len(),
        prompt_ms,
        decode_ms: millis(decode_started),
        speculation: None,
    })
}
