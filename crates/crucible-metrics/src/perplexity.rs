//! Perplexity and mean token log-probability of a text under a model.
//!
//! The numbers come from teacher-forced log-probabilities ([`crucible_infer::TextScorer`],
//! which the llama.cpp backend implements from its logits with a full softmax in double
//! precision): `mean_logprob = (1/N) Σ log p(t_i | t_<i)` over the N scored tokens and
//! `perplexity = exp(-mean_logprob)`, natural logs. Which tokens are scored, and with how much
//! context, is the [`WindowRule`]: by default every token but the first, once, with sliding
//! windows when the text is longer than the context; `WindowRule::LlamaPerplexity` reproduces
//! `llama-perplexity`, which scores only the second half of each context-sized chunk (see
//! `crucible_infer::score` for both rules).

use serde::{Deserialize, Serialize};

pub use crucible_infer::{ScoreError, ScoredText, TextScorer, WindowRule};

use crate::Error;

/// Perplexity of a text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Perplexity {
    /// Tokens scored.
    pub tokens: usize,
    /// Mean natural-log probability per scored token.
    pub mean_logprob: f64,
    /// `exp(-mean_logprob)`.
    pub perplexity: f64,
}

/// Perplexity from per-token natural-log probabilities.
pub fn perplexity(logprobs: &[f64]) -> Result<Perplexity, Error> {
    if logprobs.is_empty() {
        return Err(degenerate("no token was scored".to_string()));
    }
    if let Some(bad) = logprobs.iter().find(|lp| lp.is_nan() || **lp > 0.0) {
        return Err(degenerate(format!("{bad} is not a log-probability")));
    }
    let mean_logprob = logprobs.iter().sum::<f64>() / logprobs.len() as f64;
    Ok(Perplexity {
        tokens: logprobs.len(),
        mean_logprob,
        perplexity: (-mean_logprob).exp(),
    })
}

/// Score `text` with `scorer` under `rule` and compute its perplexity.
pub fn perplexity_of(
    scorer: &mut dyn TextScorer,
    text: &str,
    rule: WindowRule,
) -> Result<(Perplexity, ScoredText), Error> {
    let scored = scorer
        .score_text(text, rule)
        .map_err(|err| degenerate(err.to_string()))?;
    Ok((perplexity(&scored.logprobs)?, scored))
}

fn degenerate(reason: String) -> Error {
    Error::Degenerate {
        statistic: "perplexity",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perplexity_of_known_logprobs() {
        let got = perplexity(&[(0.5f64).ln(), (0.25f64).ln()]).unwrap();
        assert!((got.perplexity - 8f64.sqrt()).abs() < 1e-12);
        assert!((got.mean_logprob - (0.125f64).ln() / 2.0).abs() < 1e-12);
        assert!(perplexity(&[]).is_err());
        assert!(perplexity(&[0.3]).is_err());
    }

    /// A scorer that gives every token probability 1/4, as a model of a fixed vocabulary would.
    struct Uniform;

    impl TextScorer for Uniform {
        fn score_text(&mut self, text: &str, rule: WindowRule) -> Result<ScoredText, ScoreError> {
            let tokens = text.split_whitespace().count();
            let windows = rule.windows(tokens)?;
            let scored: usize = windows.iter().map(|w| w.end - w.first_scored).sum();
            Ok(ScoredText {
                tokens,
                logprobs: vec![(0.25f64).ln(); scored],
                windows: windows.len(),
                rule,
            })
        }
    }

    #[test]
    fn perplexity_through_a_scorer_and_its_errors() {
        let rule = WindowRule::Sliding {
            window: 4,
            stride: 2,
        };
        let (got, scored) = perplexity_of(&mut Uniform, "a b c d e f g", rule).unwrap();
        assert_eq!((got.tokens, scored.windows), (6, 3));
        assert!((got.perplexity - 4.0).abs() < 1e-12);
        let err = perplexity_of(&mut Uniform, "a", rule).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot compute perplexity: the text has 1 tokens, but scoring it needs at least 2"
        );
    }
}
