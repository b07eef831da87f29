//! Speculative decoding, backend-neutral parts: the mode, prompt-lookup drafting (the last
//! n-gram matched against the prompt and the text so far), the adaptive draft length, and the
//! acceptance counts reports carry. The acceptance rule for sampled tokens is in
//! [`crate::sampler`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::sampler::TokenId;

/// How a backend drafts tokens for speculative decoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speculate {
    /// Decode one token per step.
    Off,
    /// Draft by matching the last n-gram against the prompt and the text so far.
    #[default]
    Lookup,
    /// Draft with a smaller model sharing the vocabulary.
    Draft,
}

impl Speculate {
    pub const NAMES: [&'static str; 3] = ["off", "lookup", "draft"];

    pub fn name(self) -> &'static str {
        match self {
            Speculate::Off => "off",
            Speculate::Lookup => "lookup",
            Speculate::Draft => "draft",
        }
    }
}

impl fmt::Display for Speculate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A speculation mode that is not one of [`Speculate::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown speculation mode `{0}`; use one of off, lookup, draft")]
pub struct UnknownSpeculate(pub String);

impl FromStr for Speculate {
    type Err = UnknownSpeculate;

    fn from_str(text: &str) -> Result<Speculate, UnknownSpeculate> {
        match text {
            "off" => Ok(Speculate::Off),
            "lookup" => Ok(Speculate::Lookup),
            "draft" => Ok(Speculate::Draft),
            other => Err(UnknownSpeculate(other.to_owned())),
        }
    }
}

/// Longest n-gram matched by prompt lookup; shorter ones are tried when it finds nothing.
pub const LOOKUP_MAX_NGRAM: usize = 3;
/// Shortest n-gram matched by prompt lookup.
pub const LOOKUP_MIN_NGRAM: usize = 1;

/// Draft up to `max_draft` tokens for the text `history` (prompt and generated tokens, the
/// last one the token about to be fed): find the most recent earlier occurrence of its last
/// n-gram (longest first, from [`LOOKUP_MAX_NGRAM`] down to [`LOOKUP_MIN_NGRAM`]) and propose
/// the tokens that followed it. Writes the draft into `out` (cleared first).
pub fn lookup_draft(history: &[TokenId], max_draft: usize, out: &mut Vec<TokenId>) {
    out.clear();
    if max_draft == 0 {
        return;
    }
    let len = history.len();
    for n in (LOOKUP_MIN_NGRAM..=LOOKUP_MAX_NGRAM).rev() {
        if len <= n {
            continue;
        }
        let key = &history[len - n..];
        // Most recent match first: the text just written is the likeliest to repeat.
        let found = (0..len - n)
            .rev()
            .find(|&start| &history[start..start + n] == key);
        if let Some(start) = found {
            let from = start + n;
            let to = (from + max_draft).min(len);
            out.extend_from_slice(&history[from..to]);
            return;
        }
    }
}

/// The draft length of one sequence, adapted to how many of its drafts were accepted.
///
/// Each verification step costs about one decode step (the weights are read once for the whole
/// batch) plus a little per drafted token; a draft pays when enough of it is accepted. The
/// length follows the accepted run: it grows by one past a fully accepted draft and shrinks to
/// the accepted run plus one after a rejection. When drafts keep failing (an exponential
/// average of accepted tokens per step below [`DraftLength::MIN_GAIN`]) speculation pauses for
/// [`DraftLength::PAUSE`] steps and then tries again at the shortest length.
#[derive(Debug, Clone)]
pub struct DraftLength {
    max: usize,
    current: usize,
    gain: f32,
    paused: usize,
}

impl DraftLength {
    /// Shortest draft worth verifying: on a CPU a batch under four tokens reads the weights
    /// once per token (llama.cpp's matrix-vector path), so it costs as much as plain steps.
    pub const MIN: usize = 3;
    /// Below this many accepted tokens per verification (averaged), speculation pauses.
    pub const MIN_GAIN: f32 = 0.6;
    /// Plain steps taken while paused.
    pub const PAUSE: usize = 16;
    /// Weight of the newest step in the average of accepted tokens.
    const RATE: f32 = 0.25;

    /// A draft length between [`DraftLength::MIN`] and `max` (at least `MIN`).
    pub fn new(max: usize) -> DraftLength {
        let max = max.max(Self::MIN);
        DraftLength {
            max,
            current: max.clamp(Self::MIN, 8),
            gain: 1.0,
            paused: 0,
        }
    }

    /// How many tokens to draft now; 0 while paused.
    pub fn take(&mut self) -> usize {
        if self.paused > 0 {
            self.paused -= 1;
            return 0;
        }
        self.current
    }

    /// Record a verification of `drafted` tokens of which `accepted` were taken.
    pub fn record(&mut self, drafted: usize, accepted: usize) {
        if drafted == 0 {
            return;
        }
        self.gain = (1.0 - Self::RATE) * self.gain + Self::RATE * accepted as f32;
        self.current = if accepted == drafted {
            (drafted + 1).min(self.max)
        } else {
            (accepted + 1).clamp(Self::MIN, self.max)
        };
        if self.gain < Self::MIN_GAIN {
            self.paused = Self::PAUSE;
            self.current = Self::MIN;
            self.gain = 1.0;
        }
    }
}

/// Counts of speculative decoding over a request (or a run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecStats {
    /// Verification steps that carried a draft.
    pub steps: usize,
    /// Draft tokens proposed.
    pub drafted: usize,
    /// Draft tokens accepted.
    pub accepted: usize,
}

impl SpecStats {
    /// Accepted over drafted tokens; `None` before anything was drafted.
    pub fn acceptance(&self) -> Option<f64> {
        (self.drafted > 0).then(|| self.accepted as f64 / self.drafted as f64)
    }

    pub fn add(&mut self, other: SpecStats) {
        self.steps += other.steps;
        self.drafted += other.drafted;
        self.accepted += other.accepted;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(history: &[TokenId], max: usize) -> Vec<TokenId> {
        let mut out = Vec::new();
        lookup_draft(history, max, &mut out);
        out
    }

    #[test]
    fn lookup_proposes_what_followed_the_latest_match_of_the_longest_ngram() {
        // "1 2 3" occurred twice; the latest one was followed by 7 8 9.
        let history = [1, 2, 3, 4, 5, 0, 1, 2, 3, 7, 8, 9, 6, 2, 3];
        // The trigram "6 2 3" never occurred before; the bigram "2 3" did, latest at 7..9.
        assert_eq!(draft(&history, 2), vec![7, 8]);
        assert_eq!(draft(&history, 10), vec![7, 8, 9, 6, 2, 3]);
        let history = [1, 2, 3, 4, 5, 9, 1, 2, 3];
        assert_eq!(draft(&history, 3), vec![4, 5, 9]);
    }

    #[test]
    fn lookup_without_a_match_drafts_nothing() {
        assert!(draft(&[1, 2, 3, 4], 5).is_empty());
        assert!(draft(&[1], 5).is_empty());
        assert!(draft(&[1, 2, 1], 0).is_empty());
    }

    #[test]
    fn draft_length_grows_on_success_and_pauses_on_failure() {
        let mut length = DraftLength::new(10);
        let first = length.take();
        length.record(first, first);
        assert_eq!(length.take(), first + 1);
        // A rejection early shrinks the draft to the minimum.
        length.record(first + 1, 0);
        assert_eq!(length.take(), DraftLength::MIN);
        // Failing drafts pause speculation for a while, then it tries again.
        for _ in 0..8 {
            let k = length.take();
            if k > 0 {
                length.record(k, 0);
            }
        }
        let paused = (0..DraftLength::PAUSE)
            .filter(|_| length.take() == 0)
            .count();
        assert!(paused > 0, "speculation paused after failing drafts");
        let mut resumed = false;
        for _ in 0..=DraftLength::PAUSE {
            resumed |= length.take() == DraftLength::MIN;
        }
        assert!(resumed);
    }

    #[test]
    fn modes_parse_and_print() {
        for name in Speculate::NAMES {
            assert_eq!(name.parse::<Speculate>().unwrap().to_string(), name);
        }
        let err = "maybe".parse::<Speculate>().unwrap_err();
        assert!(err.to_string().contains("off, lookup, draft"), "{err}");
    }

    #[test]
    fn acceptance_is_accepted_over_drafted() {
        let mut stats = SpecStats::default();
        assert_eq!(stats.acceptance(), None);
        stats.add(SpecStats {
            steps: 2,
            drafted: 8,
            accepted: 6,
        });
        assert_eq!(stats.acceptance(), Some(0.75));
    }
}
