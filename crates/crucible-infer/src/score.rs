//! Teacher-forced scoring of a text: the interface backends implement, and how long texts are cut into windows.
//!
//! A [`TextScorer`] reads a text the way a model reads a prompt and reports, for each token,
//! the natural-log probability the model gave it after the tokens before it
//! ([`ScoredText`]). `crucible-metrics` turns that into perplexity; the llama.cpp backend
//! implements it from its logits. How a text longer than the context is read changes the
//! numbers, so every score names its [`WindowRule`]:
//! - [`WindowRule::Sliding`]: every token but the first is scored exactly once. A text that
//!   fits the window is read in one pass; a longer one is read in windows of `window` tokens
//!   that start `stride` tokens apart, each scoring only the tokens the previous window did
//!   not, so every scored token has at least `window - stride` tokens of context (all of them
//!   in the first window).
//! - [`WindowRule::LlamaPerplexity`]: llama.cpp's `llama-perplexity` rule, for comparing with
//!   it: the tokens are cut into consecutive chunks of `n_ctx` (a tail shorter than a chunk is
//!   dropped), each chunk is read on its own (its first token replaced by BOS when the model
//!   adds one), and only the second half of each chunk is scored (positions `n_ctx/2 + 1` to
//!   `n_ctx - 1`), so every scored token has at least `n_ctx/2` tokens of context; half of the
//!   text is never scored, and a text shorter than one chunk cannot be scored at all.

use serde::{Deserialize, Serialize};

use crate::Error;

/// A model that can score a text token by token.
pub trait TextScorer {
    /// The natural-log probability of each scored token of `text` under `rule`.
    fn score_text(&mut self, text: &str, rule: WindowRule) -> Result<ScoredText, ScoreError>;
}

/// Per-token log-probabilities of a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredText {
    /// Tokens the text tokenized to (BOS included when the model adds one).
    pub tokens: usize,
    /// Natural-log probability of each scored token, in text order.
    pub logprobs: Vec<f64>,
    /// Model passes made (windows read).
    pub windows: usize,
    /// The rule used.
    pub rule: WindowRule,
}

/// Why a text could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// The window rule's numbers do not make sense.
    #[error("window rule {rule:?} cannot be used: {reason}")]
    BadRule {
        /// The rule given.
        rule: WindowRule,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The text has too few tokens for the rule.
    #[error("the text has {tokens} tokens, but scoring it needs at least {needed}")]
    TooShort {
        /// Tokens in the text.
        tokens: usize,
        /// Tokens the rule needs.
        needed: usize,
    },
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] Error),
}

/// How a text longer than the model's context is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum WindowRule {
    /// Every token scored once; windows of `window` tokens, `stride` apart.
    Sliding {
        /// Tokens per window (at most the context length).
        window: usize,
        /// How far apart windows start (1..=window).
        stride: usize,
    },
    /// llama-perplexity's rule: chunks of `n_ctx`, second halves scored.
    LlamaPerplexity {
        /// Tokens per chunk.
        n_ctx: usize,
    },
}

impl WindowRule {
    /// The windows to evaluate for a text of `len` tokens: (first token, end, first scored
    /// position). Within a window, the token at position `p` is scored from the logits at
    /// `p - 1`. Errors when the rule is malformed or the text too short for it.
    pub fn windows(self, len: usize) -> Result<Vec<Window>, ScoreError> {
        match self {
            WindowRule::Sliding { window, stride } => {
                if window < 2 || stride == 0 || stride > window {
                    return Err(ScoreError::BadRule {
                        rule: self,
                        reason: "a sliding window needs window >= 2 and 1 <= stride <= window",
                    });
                }
                if len < 2 {
                    return Err(ScoreError::TooShort {
                        tokens: len,
                        needed: 2,
                    });
                }
                let mut windows = Vec::new();
                let mut scored_until = 1; // token 0 has no context
                let mut start = 0;
                loop {
                    let end = (start + window).min(len);
                    windows.push(Window {
                        start,
                        end,
                        first_scored: scored_until,
                        replace_first_with_bos: false,
                    });
                    scored_until = end;
                    if end == len {
                        break;
                    }
                    start += stride;
                }
                Ok(windows)
            }
            WindowRule::LlamaPerplexity { n_ctx } => {
                if n_ctx < 4 {
                    return Err(ScoreError::BadRule {
                        rule: self,
                        reason: "llama-perplexity chunks need n_ctx >= 4",
                    });
                }
                let chunks = len / n_ctx;
                if chunks == 0 {
                    return Err(ScoreError::TooShort {
                        tokens: len,
                        needed: n_ctx,
                    });
                }
                Ok((0..chunks)
                    .map(|chunk| Window {
                        start: chunk * n_ctx,
                        end: (chunk + 1) * n_ctx,
                        first_scored: chunk * n_ctx + n_ctx / 2 + 1,
                        replace_first_with_bos: true,
                    })
                    .collect())
            }
        }
    }
}

/// One pass of the model over `tokens[start..end]`, scoring tokens `first_scored..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First token read.
    pub start: usize,
    /// One past the last token read.
    pub end: usize,
    /// First token scored (the ones before it are context only).
    pub first_scored: usize,
    /// Read BOS in place of the first token, when the model adds BOS (llama-perplexity does).
    pub replace_first_with_bos: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_windows_score_every_token_once() {
        let rule = WindowRule::Sliding {
            window: 8,
            stride: 4,
        };
        let windows = rule.windows(19).unwrap();
        let mut scored = Vec::new();
        for window in &windows {
            assert!(window.end - window.start <= 8);
            scored.extend(window.first_scored..window.end);
        }
        assert_eq!(scored, (1..19).collect::<Vec<_>>());
        // Later windows keep at least window - stride tokens of context.
        for window in &windows[1..] {
            assert!(window.first_scored - window.start >= 4);
        }
        assert_eq!(rule.windows(5).unwrap().len(), 1);
    }

    #[test]
    fn llama_perplexity_rule_scores_second_halves_of_whole_chunks() {
        let windows = WindowRule::LlamaPerplexity { n_ctx: 8 }
            .windows(20)
            .unwrap();
        assert_eq!(windows.len(), 2);
        assert_eq!((windows[0].first_scored, windows[0].end), (5, 8));
        assert_eq!((windows[1].start, windows[1].first_scored), (8, 13));
        assert!(WindowRule::LlamaPerplexity { n_ctx: 8 }.windows(7).is_err());
    }
}
