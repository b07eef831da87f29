//! Teacher-forced scoring of a text (for perplexity): every window read in one context, log-probabilities from the full softmax.
//!
//! The text is tokenized as llama.cpp's own tools tokenize data (special tokens added as the
//! model wants, special-token text not parsed). Each window of the [`WindowRule`] is read in a
//! fresh KV cache, in batches of the configured size, with logits requested only for the
//! positions whose next token is scored; each scored token's log-probability is
//! `logit - max - ln Σ exp(logit_i - max)` in double precision, as `llama-perplexity` computes it.

use llama_cpp_2::llama_batch::LlamaBatch;

use crucible_infer::{ScoreError, ScoredText, TextScorer, WindowRule};

use crate::{Layout, LlamaGenerator, backend_error};

impl TextScorer for LlamaGenerator {
    fn score_text(&mut self, text: &str, rule: WindowRule) -> Result<ScoredText, ScoreError> {
        let model = self.model;
        let vocab = model.vocab();
        let mut tokens = vocab.tokenize(text.as_bytes(), true, false);
        let windows = rule.windows(tokens.len())?;
        let longest = windows.iter().map(|w| w.end - w.start).max().unwrap_or(0);
        if longest > self.info.context_length {
            return Err(ScoreError::BadRule {
                rule,
                reason: "a window is longer than the model's context",
            });
        }
        let add_bos = vocab.should_add_bos();
        let n_vocab = usize::try_from(model.n_vocab()).unwrap_or(0);
        let batch_size = self.config.batch_size.max(1);
        let session = self.session(Layout::Unified {
            n_ctx: longest,
            n_seq: 1,
        })?;
        let mut logprobs = Vec::new();
        for window in &windows {
            session.ctx.clear_kv_cache();
            let original_first = tokens[window.start];
            if window.replace_first_with_bos && add_bos {
                tokens[window.start] = vocab.bos();
            }
            let mut batch = LlamaBatch::new(batch_size, 1);
            let read = &tokens[window.start..window.end];
            for (chunk_index, chunk) in read.chunks(batch_size).enumerate() {
                batch.clear();
                let chunk_start = window.start + chunk_index * batch_size;
                for (offset, &token) in chunk.iter().enumerate() {
                    let position = chunk_start + offset;
                    // The logits at `position` score the token after it.
                    let wanted = position + 1 >= window.first_scored && position + 1 < window.end;
                    batch
                        .add(token, (position - window.start) as i32, &[0], wanted)
                        .map_err(backend_error)?;
                }
                session
                    .ctx
                    .decode(&mut batch)
                    .map_err(|err| backend_error(format!("scoring a window failed: {err}")))?;
                for (offset, _) in chunk.iter().enumerate() {
                    let position = chunk_start + offset;
                    if position + 1 >= window.first_scored && position + 1 < window.end {
                        let logits = session.ctx.get_logits_ith(offset as i32);
                        let next = tokens[position + 1].0 as usize;
                        logprobs.push(log_softmax_at(&logits[..n_vocab.min(logits.len())], next));
                    }
                }
            }
            tokens[window.start] = original_first;
        }
        Ok(ScoredText {
            tokens: tokens.len(),
            logprobs,
            windows: windows.len(),
            rule,
        })
    }
}

/// `log p(token)` under the softmax of `logits`, in double precision.
fn log_softmax_at(logits: &[f32], token: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    f64::from(logits.get(token).copied().unwrap_or(f32::NEG_INFINITY) - max) - sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_of_known_logits() {
        let logits = [0.0f32, (3.0f32).ln()];
        assert!((log_softmax_at(&logits, 1) - (0.75f64).ln()).abs() < 1e-6);
        assert!((log_softmax_at(&logits, 0) - (0.25f64).ln()).abs() < 1e-6);
    }
}
