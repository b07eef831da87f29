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

/// What a drafted token costs, in plain decode steps of one sequence.
///
/// A verification step carries the next token and the draft; on a CPU its time grows with
/// every row (the weights are read once, but the arithmetic is per row). Measured on the
/// 2-core AVX2 machine of docs/PERFORMANCE.md ("What a drafted token costs on this CPU"), the
/// 0.5B model: a plain step 30 ms, a step of 4 tokens 75 ms, of 9 tokens 149 ms, so each
/// drafted token adds half a plain step; with a draft model, each drafted token also costs one
/// step of the draft model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DraftCost {
    /// Extra time of a verification step per drafted token, over a plain step.
    pub per_token: f32,
}

impl DraftCost {
    /// Verifying a drafted token on a CPU, as measured (see the type's documentation).
    pub const VERIFY_CPU: f32 = 0.5;

    /// Prompt lookup: drafting is free, verifying is not.
    pub fn lookup() -> DraftCost {
        DraftCost {
            per_token: Self::VERIFY_CPU,
        }
    }

    /// A draft model whose step costs `step_ratio` of the target's (about the ratio of their
    /// weights' sizes in bytes: decoding reads every weight once per step).
    pub fn model(step_ratio: f32) -> DraftCost {
        DraftCost {
            per_token: Self::VERIFY_CPU + step_ratio.max(0.0),
        }
    }

    /// The cost of a drafted token for one of `live` sequences decoded together: a plain
    /// step of `live` sequences already costs `1 + per_token * (live - 1)` single steps (each
    /// sequence is one more row), and the drafts of all of them add `per_token` each.
    fn shared(self, live: usize) -> f32 {
        let live = live.max(1) as f32;
        self.per_token * live / (1.0 + self.per_token * (live - 1.0))
    }
}

/// The draft length of one sequence, chosen where speculation is expected to pay.
///
/// Drafted tokens are taken as accepted one after another with a probability `p` until the
/// first rejection; `p` is estimated from this sequence's verifications (a decaying count,
/// starting from an optimistic prior so the first match is tried). A draft of `d` tokens then
/// yields `1 + p + ... + p^d` tokens for the cost of `1 + cost * d` plain steps
/// ([`DraftCost`]); the length with the best ratio is taken, and when no length beats plain
/// decoding, speculation pauses for [`DraftLength::PAUSE`] steps, doubling while it keeps not
/// paying (up to [`DraftLength::MAX_PAUSE`]), and then tries the shortest draft again. The
/// rule depends only on the tokens, never on timings, so a run stays deterministic.
#[derive(Debug, Clone)]
pub struct DraftLength {
    max: usize,
    cost: DraftCost,
    /// Decaying counts of accepted draft tokens and of tokens tried (accepted + rejections).
    accepted: f32,
    tried: f32,
    paused: usize,
    pause: usize,
    /// The next draft is a probe after a pause.
    probing: bool,
    /// The cost per drafted token at the last draft (it depends on the sequences decoded
    /// together).
    step_cost: f32,
    /// The acceptance this sequence started from, which a pause goes back to.
    prior: f32,
    /// Undecayed counts of accepted draft tokens and of tokens tried, for [`DraftPrior`].
    seen: (f32, f32),
}

impl DraftLength {
    /// Shortest draft worth verifying: on a CPU a batch under four tokens reads the weights
    /// once per token (llama.cpp's matrix-vector path), so it costs as much as plain steps.
    pub const MIN: usize = 3;
    /// Plain steps taken after the first verification that did not pay.
    pub const PAUSE: usize = 16;
    /// Longest pause: speculation that never pays costs at most one probe per this many steps.
    pub const MAX_PAUSE: usize = 512;
    /// Weight kept by the counts at each verification.
    const DECAY: f32 = 0.75;
    /// Tokens of evidence the prior is worth.
    const PRIOR_WEIGHT: f32 = 2.0;
    /// Expected gain over plain decoding a draft must promise.
    const MIN_SPEEDUP: f32 = 1.02;

    /// A draft length between [`DraftLength::MIN`] and `max` (at least `MIN`), for drafts
    /// that cost `cost`, starting from the optimistic prior (acceptance 0.8).
    pub fn new(max: usize, cost: DraftCost) -> DraftLength {
        DraftLength::with_prior(max, cost, DraftPrior::default())
    }

    /// [`DraftLength::new`], starting from what earlier sequences' drafts said.
    pub fn with_prior(max: usize, cost: DraftCost, prior: DraftPrior) -> DraftLength {
        let prior = prior.acceptance();
        DraftLength {
            max: max.max(Self::MIN),
            cost,
            accepted: prior * Self::PRIOR_WEIGHT,
            tried: Self::PRIOR_WEIGHT,
            paused: 0,
            pause: Self::PAUSE,
            probing: false,
            step_cost: cost.per_token,
            prior,
            seen: (0.0, 0.0),
        }
    }

    /// The estimated probability that a drafted token is accepted.
    pub fn acceptance(&self) -> f32 {
        (self.accepted / self.tried).clamp(0.0, 1.0)
    }

    /// How many tokens to draft now, at most `cap`, for one of `live` sequences decoded
    /// together; 0 while paused or when no length would pay.
    pub fn take(&mut self, cap: usize, live: usize) -> usize {
        if self.paused > 0 {
            self.paused -= 1;
            return 0;
        }
        let cap = cap.min(self.max);
        if cap < Self::MIN {
            return 0;
        }
        self.step_cost = self.cost.shared(live);
        if self.probing {
            return Self::MIN;
        }
        let (best, speedup) = best_length(self.acceptance(), self.step_cost, cap);
        if speedup < Self::MIN_SPEEDUP {
            self.pause_now();
            return 0;
        }
        best
    }

    /// Record a verification of `drafted` tokens of which `accepted` were taken.
    pub fn record(&mut self, drafted: usize, accepted: usize) {
        if drafted == 0 {
            return;
        }
        let rejected = usize::from(accepted < drafted);
        self.accepted = Self::DECAY * self.accepted + accepted as f32;
        self.tried = Self::DECAY * self.tried + (accepted + rejected) as f32;
        self.seen.0 += accepted as f32;
        self.seen.1 += (accepted + rejected) as f32;
        if std::mem::take(&mut self.probing) {
            let (_, speedup) = best_length(self.acceptance(), self.step_cost, self.max);
            if speedup < Self::MIN_SPEEDUP {
                self.pause_now();
            } else {
                self.pause = Self::PAUSE;
            }
        }
    }

    fn pause_now(&mut self) {
        self.paused = self.pause;
        self.pause = (self.pause * 2).min(Self::MAX_PAUSE);
        // After the pause, one probe at the shortest length, judged on fresh evidence.
        self.probing = true;
        self.accepted = self.prior * Self::PRIOR_WEIGHT / 2.0;
        self.tried = Self::PRIOR_WEIGHT / 2.0;
    }
}

/// The acceptance new sequences start from ([`DraftLength::with_prior`]): what the drafts of
/// sequences that finished before said, since a server's or a run's requests resemble each
/// other. Without it each sequence starts optimistic and drafts until its own evidence says
/// drafts do not pay; with it, a one-client serving run made 69 drafting steps instead of 117,
/// at the same throughput (docs/PERFORMANCE.md, "Serving"). Folded in per finished sequence,
/// the older evidence decaying, and capped so a change of workload shows within a few
/// requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DraftPrior {
    accepted: f32,
    tried: f32,
}

impl Default for DraftPrior {
    /// Acceptance 0.8, worth two tokens of evidence: the first match is tried.
    fn default() -> DraftPrior {
        DraftPrior {
            accepted: 0.8 * DraftLength::PRIOR_WEIGHT,
            tried: DraftLength::PRIOR_WEIGHT,
        }
    }
}

impl DraftPrior {
    /// Weight earlier evidence keeps at each finished sequence that drafted.
    const DECAY: f32 = 0.75;
    /// Most tokens of evidence held.
    const MAX_TRIED: f32 = 64.0;

    /// The estimated probability that a drafted token is accepted.
    pub fn acceptance(&self) -> f32 {
        (self.accepted / self.tried).clamp(0.0, 1.0)
    }

    /// Fold in the drafts of a sequence that finished. One that drafted nothing moves the
    /// estimate back towards the optimistic start, so that after a run of sequences that
    /// never drafted (a poor estimate pauses short answers for all of their length) one tries
    /// again and brings fresh evidence.
    pub fn observe(&mut self, length: &DraftLength) {
        let (mut accepted, mut tried) = length.seen;
        if tried == 0.0 {
            let optimistic = DraftPrior::default();
            accepted = (1.0 - Self::DECAY) * optimistic.accepted;
            tried = (1.0 - Self::DECAY) * optimistic.tried;
        }
        self.accepted = Self::DECAY * self.accepted + accepted;
        self.tried = Self::DECAY * self.tried + tried;
        if self.tried > Self::MAX_TRIED {
            let scale = Self::MAX_TRIED / self.tried;
            self.accepted *= scale;
            self.tried = Self::MAX_TRIED;
        }
    }
}

/// The draft length in `MIN..=cap` with the best expected tokens per unit of time, and that
/// ratio over plain decoding, when each drafted token is accepted with probability `p` (until
/// the first rejection) and costs `cost` plain steps.
fn best_length(p: f32, cost: f32, cap: usize) -> (usize, f32) {
    let mut best = (DraftLength::MIN, 0.0);
    // Expected accepted tokens of a draft of length d: p + p^2 + ... + p^d.
    let (mut expected, mut power) = (0.0f32, 1.0f32);
    for d in 1..=cap {
        power *= p;
        expected += power;
        if d >= DraftLength::MIN {
            let speedup = (1.0 + expected) / (1.0 + cost * d as f32);
            if speedup > best.1 {
                best = (d, speedup);
            }
        }
    }
    best
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
    fn the_best_length_balances_acceptance_against_cost() {
        // Acceptance 0.8 at half a step per drafted token: three tokens, about 1.18x.
        let (d, speedup) = best_length(0.8, 0.5, 10);
        assert_eq!(d, 3);
        assert!((speedup - 2.952 / 2.5).abs() < 1e-3, "{speedup}");
        // Every draft accepted: the longest draft pays best.
        assert_eq!(best_length(1.0, 0.5, 10).0, 10);
        // Free drafts: longer is better even at modest acceptance.
        assert_eq!(best_length(0.8, 0.0, 10).0, 10);
        // Acceptance 0.5 at half a step: nothing pays.
        assert!(best_length(0.5, 0.5, 10).1 < 1.0);
    }

    #[test]
    fn accepted_drafts_grow_and_rejected_ones_pause_with_a_doubling_backoff() {
        let mut length = DraftLength::new(10, DraftCost::lookup());
        // The prior tries the first match.
        let first = length.take(10, 1);
        assert!(first >= DraftLength::MIN, "{first}");
        for _ in 0..20 {
            let d = length.take(10, 1);
            length.record(d, d);
        }
        assert_eq!(length.take(10, 1), 10, "every draft accepted: the longest");
        // Drafts that are all rejected stop paying: speculation pauses.
        let mut steps = 0;
        while length.take(10, 1) > 0 {
            length.record(3, 0);
            steps += 1;
            assert!(
                steps < 10,
                "rejections pause speculation within a few drafts"
            );
        }
        // The step that found it did not pay drafted nothing; PAUSE plain steps follow, then
        // one probe at the shortest length.
        let until_probe = |length: &mut DraftLength| {
            let mut plain = 0;
            loop {
                match length.take(10, 1) {
                    0 => plain += 1,
                    d => return (plain, d),
                }
            }
        };
        assert_eq!(
            until_probe(&mut length),
            (DraftLength::PAUSE, DraftLength::MIN)
        );
        // Rejected, the next pause is twice as long.
        length.record(DraftLength::MIN, 0);
        assert_eq!(
            until_probe(&mut length),
            (2 * DraftLength::PAUSE, DraftLength::MIN)
        );
        // A probe accepted in full resumes speculation.
        length.record(DraftLength::MIN, DraftLength::MIN);
        assert!(length.take(10, 1) >= DraftLength::MIN);
    }

    #[test]
    fn a_speculation_that_never_pays_costs_little() {
        // Every draft rejected for 10,000 steps: the probes are few.
        let mut length = DraftLength::new(10, DraftCost::lookup());
        let mut drafted = 0;
        for _ in 0..10_000 {
            let d = length.take(10, 1);
            if d > 0 {
                drafted += d;
                length.record(d, 0);
            }
        }
        // Each probe costs 3 tokens of verification, half a step each: under 1% of the steps.
        assert!(drafted < 200, "{drafted} tokens drafted");
    }

    #[test]
    fn drafts_that_do_not_pay_are_not_made() {
        // The measured draft-model case: 94% accepted, but each drafted token costs a step of
        // a model 0.44 the size of the target's besides its verification.
        let (_, speedup) = best_length(0.94, DraftCost::model(0.44).per_token, 6);
        assert!(speedup < 1.0, "{speedup}");
        let mut length = DraftLength::new(6, DraftCost::model(0.44));
        assert!((0..10).all(|_| length.take(6, 1) == 0));
        // Eight sequences decoded together: a drafted token costs nearly a sequence's whole
        // step, so even lookup at 90% acceptance does not pay.
        let shared = DraftCost::lookup().shared(8);
        assert!(best_length(0.9, shared, 10).1 < 1.0, "{shared}");
        // One sequence at 90%: it pays.
        assert!(best_length(0.9, DraftCost::lookup().shared(1), 10).1 > 1.2);
    }

    #[test]
    fn sequences_start_from_what_earlier_drafts_said() {
        let mut prior = DraftPrior::default();
        assert!((prior.acceptance() - 0.8).abs() < 1e-6);
        // An earlier sequence whose drafts were all rejected: a new one does not draft at
        // first, and probes after a pause.
        let mut length = DraftLength::with_prior(10, DraftCost::lookup(), prior);
        while length.take(10, 1) > 0 {
            length.record(3, 0);
        }
        prior.observe(&length);
        assert!(prior.acceptance() < 0.6, "{prior:?}");
        let mut length = DraftLength::with_prior(10, DraftCost::lookup(), prior);
        assert_eq!(length.take(10, 1), 0, "a poor prior does not draft");
        let plain = (0..DraftLength::PAUSE).filter(|_| length.take(10, 1) == 0);
        assert_eq!(plain.count(), DraftLength::PAUSE);
        assert_eq!(length.take(10, 1), DraftLength::MIN, "then one probe");
        // Drafts that were all accepted bring the prior back up within a few sequences, and
        // a new sequence then drafts long at once.
        for _ in 0..4 {
            let mut length = DraftLength::with_prior(10, DraftCost::lookup(), prior);
            for _ in 0..200 {
                let d = length.take(10, 1);
                length.record(d, d);
            }
            prior.observe(&length);
        }
        assert!(prior.acceptance() > 0.9, "{prior:?}");
        let mut length = DraftLength::with_prior(10, DraftCost::lookup(), prior);
        assert_eq!(length.take(10, 1), 10);
        // Sequences that drafted nothing bring a poor estimate back up until one drafts.
        let mut poor = DraftPrior {
            accepted: 1.6,
            tried: 8.0,
        };
        let mut sequences = 0;
        while DraftLength::with_prior(10, DraftCost::lookup(), poor).take(10, 1) == 0 {
            poor.observe(&DraftLength::with_prior(10, DraftCost::lookup(), poor));
            sequences += 1;
            assert!(sequences < 20, "{poor:?}");
        }
        assert!(sequences > 3, "not at once: {sequences}");
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
