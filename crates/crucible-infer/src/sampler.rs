//! Token selection from logits: greedy and ancestral sampling with temperature, top-k, top-p
//! (nucleus) and min-p (survey eq. 13-14).
//!
//! The pipeline, applied in this order to one step's logits:
//! 1. temperature: `z_i = logit_i / T`, `p = softmax(z)`;
//! 2. top-k: keep the `k` largest `z` (ties broken by lower token id, so the set is exact);
//! 3. top-p: keep the smallest prefix of the remaining tokens, by decreasing probability, whose
//!    renormalised mass reaches `p`;
//! 4. min-p: keep tokens whose probability is at least `min_p` times the best one's;
//! 5. draw from what is left, renormalised.
//!
//! Every filter keeps at least one token. The random stream of sequence `i` under seed `s` is
//! derived from `(s, i)` alone, so a sample does not change when `n` or the batch changes.
//!
//! Speed: a vocabulary has ~150k tokens and a batch step samples every sequence, so the passes
//! over the whole vocabulary (its maximum, the softmax normaliser, the candidate filter) are
//! vectorised loops (`vocab_math`) and nothing else touches every token. Tokens
//! that cannot matter are dropped up front (without top-k): those more than
//! [`NEGLIGIBLE_NATS`] below the best (a chance of drawing any of them under 1e-8), those under
//! the min-p floor, and, with top-p `p < 1`, those less likely than `(1 - p) / 2V` times the
//! best. A token of the last kind cannot be in the nucleus: all of them together weigh less
//! than `(1 - p) / 2` of the total, so the more likely tokens reach `p` first. They still count
//! in the total the nucleus's target is computed from, so the kept set is exactly the one a
//! full sort would give.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crucible_types::SamplingParams;

use crate::vocab_math;

/// A token id, independent of any backend's token type.
pub type TokenId = u32;

/// One token kept by the filters, with its final (renormalised) probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub token: TokenId,
    /// Tempered logit.
    pub logit: f32,
    /// Probability after all filters, renormalised over the kept set.
    pub prob: f32,
}

/// Tokens this far (in tempered logits, i.e. nats) below the best are never candidates and are
/// left out of sums over the vocabulary: each weighs under 1e-13 of the best.
pub const NEGLIGIBLE_NATS: f32 = 30.0;

/// `log softmax(logits)[token]`, summing over the tokens within [`NEGLIGIBLE_NATS`] of the best
/// (the others shift the result by under 2e-8 for a 150k vocabulary).
pub fn token_logprob(logits: &[f32], token: usize) -> f64 {
    let max = vocab_math::max(logits);
    let sum = vocab_math::exp_sum(logits, 1.0, max, max - NEGLIGIBLE_NATS);
    f64::from(logits[token] - max) - sum.ln()
}

/// The most likely token; the lowest id wins a tie. An empty slice yields token 0.
pub fn greedy(logits: &[f32]) -> TokenId {
    let max = vocab_math::max(logits);
    logits.iter().position(|&l| l == max).unwrap_or(0) as TokenId
}

/// Log-softmax of `logits`, written into `out` (resized to match).
pub fn log_softmax(logits: &[f32], out: &mut Vec<f32>) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let log_z = max as f64 + sum.ln();
    out.clear();
    out.extend(logits.iter().map(|&l| (f64::from(l) - log_z) as f32));
}

/// A seeded sampler for one sequence. It keeps scratch buffers between steps, so reuse it.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: ChaCha8Rng,
    scratch: Vec<Candidate>,
}

impl Sampler {
    /// A sampler for sequence `stream` of a request seeded with `seed`.
    pub fn new(params: SamplingParams, seed: u64, stream: u64) -> Sampler {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Sampler {
            params,
            rng,
            scratch: Vec::new(),
        }
    }

    /// Filter, then draw one token.
    pub fn sample(&mut self, logits: &[f32]) -> TokenId {
        let draw: f32 = self.rng.r#gen();
        let kept = filter(&self.params, logits, &mut self.scratch);
        pick(kept, draw)
    }

    /// Speculative sampling's acceptance rule (Leviathan et al. 2023; Chen et al. 2023): the
    /// draft proposed `draft`, drawn from the distribution `q` (tokens with their
    /// probabilities; a prompt-lookup draft is certain: `q` is that one token with 1). With
    /// `p` the filtered target distribution of `logits`, the draft is accepted with probability
    /// `min(1, p(draft) / q(draft))`; otherwise a token is drawn from `max(p - q, 0)`
    /// renormalised. The token returned is distributed exactly as `p`, whatever `q` is.
    /// Returns the token and whether it is the draft's.
    pub fn verify(
        &mut self,
        logits: &[f32],
        draft: TokenId,
        q: &[(TokenId, f32)],
    ) -> (TokenId, bool) {
        let accept_draw: f32 = self.rng.r#gen();
        let residual_draw: f32 = self.rng.r#gen();
        let kept = filter(&self.params, logits, &mut self.scratch);
        let q_of = |token: TokenId| {
            q.iter()
                .find(|&&(t, _)| t == token)
                .map_or(0.0, |&(_, prob)| prob)
        };
        let p_draft = kept
            .iter()
            .find(|c| c.token == draft)
            .map_or(0.0, |c| c.prob);
        let q_draft = q_of(draft);
        if q_draft > 0.0 && accept_draw < (p_draft / q_draft).min(1.0) {
            return (draft, true);
        }
        let residual: f64 = kept
            .iter()
            .map(|c| f64::from((c.prob - q_of(c.token)).max(0.0)))
            .sum();
        if residual <= 0.0 {
            // p and q agree (up to rounding), so any rejection is rounding: draw from p.
            return (pick(kept, residual_draw), false);
        }
        let target = f64::from(residual_draw) * residual;
        let mut acc = 0.0f64;
        let mut last = draft;
        for candidate in kept {
            let weight = f64::from((candidate.prob - q_of(candidate.token)).max(0.0));
            if weight > 0.0 {
                acc += weight;
                last = candidate.token;
                if target < acc {
                    return (candidate.token, false);
                }
            }
        }
        (last, false)
    }

    /// The tokens the filters keep for `logits`, most likely first, with renormalised
    /// probabilities. Does not advance the random stream.
    pub fn candidates(&mut self, logits: &[f32]) -> &[Candidate] {
        filter(&self.params, logits, &mut self.scratch)
    }
}

/// Choose the token at cumulative mass `draw` in [0, 1).
fn pick(kept: &[Candidate], draw: f32) -> TokenId {
    let mut acc = 0.0f32;
    for candidate in kept {
        acc += candidate.prob;
        if draw < acc {
            return candidate.token;
        }
    }
    // Rounding can leave `acc` a hair below 1; the last kept token takes the remainder.
    kept.last().map_or(0, |c| c.token)
}

/// Run the filter pipeline. Returns the kept tokens sorted by decreasing probability.
fn filter<'a>(
    params: &SamplingParams,
    logits: &[f32],
    scratch: &'a mut Vec<Candidate>,
) -> &'a [Candidate] {
    scratch.clear();
    if logits.is_empty() {
        return scratch;
    }
    let total = if params.top_k > 0 && params.top_k < logits.len() {
        top_k_candidates(params, logits, scratch)
    } else {
        likely_candidates(params, logits, scratch)
    };
    let kept = sorted_nucleus(scratch, params.top_p, total);
    scratch.truncate(kept);
    let mass: f64 = scratch.iter().map(|c| f64::from(c.prob)).sum();
    for candidate in scratch.iter_mut() {
        candidate.prob = (f64::from(candidate.prob) / mass) as f32;
    }
    scratch
}

/// Top-k, then min-p: fill `scratch` with the survivors and their weights relative to the
/// best; return the total weight.
fn top_k_candidates(params: &SamplingParams, logits: &[f32], scratch: &mut Vec<Candidate>) -> f64 {
    let inv_t = 1.0 / params.temperature;
    scratch.extend(logits.iter().enumerate().map(|(idx, &logit)| Candidate {
        token: idx as TokenId,
        logit: logit * inv_t,
        prob: 0.0,
    }));
    scratch.select_nth_unstable_by(params.top_k - 1, by_logit_desc);
    scratch.truncate(params.top_k);
    let max = scratch
        .iter()
        .map(|c| c.logit)
        .fold(f32::NEG_INFINITY, f32::max);
    if params.min_p > 0.0 {
        let floor = max + params.min_p.ln();
        scratch.retain(|c| c.logit >= floor);
    }
    let mut total = 0.0f64;
    for candidate in scratch.iter_mut() {
        let weight = (candidate.logit - max).exp();
        candidate.prob = weight;
        total += f64::from(weight);
    }
    total
}

/// Without top-k: one pass over the vocabulary. The total weight counts every token above the
/// min-p floor (and within [`NEGLIGIBLE_NATS`] of the best); only tokens that can be in the
/// nucleus become candidates (see the module docs). Returns the total weight.
fn likely_candidates(params: &SamplingParams, logits: &[f32], scratch: &mut Vec<Candidate>) -> f64 {
    let inv_t = 1.0 / params.temperature;
    // Multiplying by a positive number is monotonic, so this is the best tempered logit.
    let max = vocab_math::max(logits) * inv_t;
    let mut floor = max - NEGLIGIBLE_NATS;
    if params.min_p > 0.0 {
        floor = floor.max(max + params.min_p.ln());
    }
    let mut candidate_floor = floor;
    if params.top_p < 1.0 {
        let ratio = (1.0 - params.top_p) / (2.0 * logits.len() as f32);
        candidate_floor = candidate_floor.max(max + ratio.ln());
    }
    let total = vocab_math::exp_sum(logits, inv_t, max, floor);
    for (idx, &logit) in logits.iter().enumerate() {
        let logit = logit * inv_t;
        if logit >= candidate_floor {
            scratch.push(Candidate {
                token: idx as TokenId,
                logit,
                prob: vocab_math::exp(logit - max),
            });
        }
    }
    total
}

/// Sort the candidates by decreasing weight far enough to find the top-p prefix, and return
/// its length. Sorting 150k tokens at every step would dominate decode time, so the prefix is
/// grown geometrically: partition out the `m` best, sort them, and widen only if their mass is
/// not yet enough.
fn sorted_nucleus(cands: &mut [Candidate], top_p: f32, total: f64) -> usize {
    let target = f64::from(top_p) * total;
    let mut sorted = 0usize;
    let mut acc = 0.0f64;
    let mut width = 64usize;
    loop {
        let end = (sorted + width).min(cands.len());
        let rest = &mut cands[sorted..];
        if end - sorted < rest.len() {
            rest.select_nth_unstable_by(end - sorted - 1, by_logit_desc);
        }
        cands[sorted..end].sort_unstable_by(by_logit_desc);
        for (idx, candidate) in cands[sorted..end].iter().enumerate() {
            acc += f64::from(candidate.prob);
            // Top-p of 1 keeps everything; otherwise stop at the first prefix reaching p.
            if top_p < 1.0 && acc >= target {
                return sorted + idx + 1;
            }
        }
        sorted = end;
        if sorted == cands.len() {
            return sorted;
        }
        width *= 4;
    }
}

fn by_logit_desc(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.logit
        .total_cmp(&a.logit)
        .then_with(|| a.token.cmp(&b.token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_k: usize, top_p: f32, min_p: f32) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k,
            top_p,
            min_p,
        }
    }

    /// Logits whose softmax (T = 1) is exactly `probs`.
    fn logits_of(probs: &[f32]) -> Vec<f32> {
        probs.iter().map(|p| p.ln()).collect()
    }

    fn kept(params: SamplingParams, logits: &[f32]) -> Vec<(TokenId, f32)> {
        let mut sampler = Sampler::new(params, 0, 0);
        sampler
            .candidates(logits)
            .iter()
            .map(|c| (c.token, (c.prob * 1000.0).round() / 1000.0))
            .collect()
    }

    #[test]
    fn greedy_is_argmax_with_lowest_id_on_ties() {
        assert_eq!(greedy(&[0.1, 2.0, -1.0, 2.0]), 1);
        assert_eq!(greedy(&[-3.0]), 0);
        assert_eq!(greedy(&[f32::NEG_INFINITY, -1e30, 5.0]), 2);
    }

    #[test]
    fn top_k_keeps_exactly_k() {
        let logits = logits_of(&[0.1, 0.4, 0.2, 0.3]);
        assert_eq!(
            kept(params(1.0, 2, 1.0, 0.0), &logits),
            vec![(1, 0.571), (3, 0.429)]
        );
        // Ties at the boundary resolve to the lower id, so the set has exactly k tokens.
        let tied = [1.0, 1.0, 1.0, 0.0];
        assert_eq!(
            kept(params(1.0, 2, 1.0, 0.0), &tied),
            vec![(0, 0.5), (1, 0.5)]
        );
    }

    #[test]
    fn top_p_keeps_smallest_prefix_reaching_p() {
        let logits = logits_of(&[0.5, 0.25, 0.15, 0.1]);
        // 0.5 < 0.6, 0.75 >= 0.6: two tokens.
        assert_eq!(
            kept(params(1.0, 0, 0.6, 0.0), &logits),
            vec![(0, 0.667), (1, 0.333)]
        );
        // Exactly reaching p stops there.
        assert_eq!(kept(params(1.0, 0, 0.5, 0.0), &logits), vec![(0, 1.0)]);
        assert_eq!(kept(params(1.0, 0, 1.0, 0.0), &logits).len(), 4);
    }

    #[test]
    fn top_p_on_a_large_flat_vocabulary_widens_past_the_first_chunk() {
        let logits = vec![0.0f32; 10_000];
        let set = kept(params(1.0, 0, 0.5, 0.0), &logits);
        assert_eq!(set.len(), 5_000);
        // Sorted by id among equals, so the kept set is the first half.
        assert!(set.iter().all(|(token, _)| *token < 5_000));
    }

    #[test]
    fn min_p_is_relative_to_the_best_token() {
        let logits = logits_of(&[0.5, 0.3, 0.1, 0.05, 0.05]);
        // Floor 0.2 * 0.5 = 0.1: keeps 0.5, 0.3 and 0.1 (equal to the floor).
        let set = kept(params(1.0, 0, 1.0, 0.2), &logits);
        assert_eq!(
            set.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn temperature_sharpens_and_flattens() {
        let logits = logits_of(&[0.6, 0.4]);
        let cold = kept(params(0.5, 0, 1.0, 0.0), &logits);
        let hot = kept(params(2.0, 0, 1.0, 0.0), &logits);
        // p^(1/T) renormalised: T=0.5 gives 0.36/0.52 = 0.692; T=2 gives 0.775/1.407 = 0.551.
        assert_eq!(cold[0], (0, 0.692));
        assert_eq!(hot[0], (0, 0.551));
    }

    #[test]
    fn filters_compose_in_documented_order() {
        let logits = logits_of(&[0.4, 0.3, 0.2, 0.06, 0.04]);
        // top-k 4 renormalises to .417 .3125 .208 .0625; top-p .7 keeps the first two.
        let set = kept(params(1.0, 4, 0.7, 0.0), &logits);
        assert_eq!(set, vec![(0, 0.571), (1, 0.429)]);
    }

    #[test]
    fn seeds_are_reproducible_and_streams_independent() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let p = params(1.0, 0, 1.0, 0.0);
        let draw = |seed, stream| {
            let mut sampler = Sampler::new(p, seed, stream);
            (0..20).map(|_| sampler.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7, 0), draw(7, 0));
        assert_ne!(draw(7, 0), draw(7, 1));
        assert_ne!(draw(7, 0), draw(8, 0));
    }

    #[test]
    fn sampling_frequencies_follow_the_distribution() {
        let logits = logits_of(&[0.7, 0.2, 0.1]);
        let mut sampler = Sampler::new(params(1.0, 0, 1.0, 0.0), 42, 0);
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[sampler.sample(&logits) as usize] += 1;
        }
        let freq: Vec<f64> = counts.iter().map(|&c| c as f64 / 20_000.0).collect();
        assert!((freq[0] - 0.7).abs() < 0.015, "{freq:?}");
        assert!((freq[1] - 0.2).abs() < 0.015, "{freq:?}");
        assert!((freq[2] - 0.1).abs() < 0.015, "{freq:?}");
    }

    #[test]
    fn a_large_vocabulary_gives_the_same_nucleus_as_a_small_one() {
        // Four likely tokens in a 150k vocabulary of unlikely ones (each 25 nats down): the
        // unlikely tail weighs 150k * e^-25 (about 2e-6) of the total, and must not change
        // the nucleus.
        let mut logits = vec![-25.0f32; 150_000];
        for (token, logit) in [(7, 0.0f32), (70_000, -0.5), (3, -1.0), (149_999, -3.0)] {
            logits[token] = logit;
        }
        let small = [0.0f32, -0.5, -1.0, -3.0];
        for top_p in [0.5, 0.9, 0.95, 1.0] {
            let big: Vec<f32> = kept(params(1.0, 0, top_p, 0.0), &logits)
                .iter()
                .map(|&(_, p)| p)
                .take(4)
                .collect();
            let reference: Vec<f32> = kept(params(1.0, 0, top_p, 0.0), &small)
                .iter()
                .map(|&(_, p)| p)
                .collect();
            assert_eq!(big[..reference.len()], reference[..], "top-p {top_p}");
        }
        let tokens: Vec<TokenId> = kept(params(1.0, 0, 0.9, 0.0), &logits)
            .iter()
            .map(|&(t, _)| t)
            .collect();
        assert_eq!(tokens, vec![7, 70_000, 3]);
    }

    /// Frequencies of `draws` tokens against `want`, within `tolerance` each.
    fn assert_frequencies(counts: &[usize], want: &[f64], tolerance: f64) {
        let total: usize = counts.iter().sum();
        for (token, (&count, &p)) in counts.iter().zip(want).enumerate() {
            let freq = count as f64 / total as f64;
            assert!(
                (freq - p).abs() < tolerance,
                "token {token}: frequency {freq}, target {p} ({counts:?})"
            );
        }
    }

    #[test]
    fn verifying_a_certain_draft_keeps_the_target_distribution() {
        // A prompt-lookup draft is one token with probability 1. Whatever token it proposes,
        // the tokens that come out follow the target distribution.
        let target = [0.5, 0.3, 0.15, 0.05];
        let logits = logits_of(&[0.5, 0.3, 0.15, 0.05]);
        for draft in [0u32, 2, 3] {
            let mut sampler = Sampler::new(params(1.0, 0, 1.0, 0.0), 11, u64::from(draft));
            let mut counts = [0usize; 4];
            let mut accepted = 0usize;
            for _ in 0..40_000 {
                let (token, took) = sampler.verify(&logits, draft, &[(draft, 1.0)]);
                counts[token as usize] += 1;
                accepted += usize::from(took);
                assert_eq!(took, token == draft);
            }
            assert_frequencies(&counts, &target, 0.01);
            // The draft is accepted with probability p(draft).
            let rate = accepted as f64 / 40_000.0;
            assert!((rate - target[draft as usize]).abs() < 0.01, "{rate}");
        }
    }

    #[test]
    fn verifying_a_sampled_draft_keeps_the_target_distribution() {
        // The draft model's distribution q differs from the target's p; drafts drawn from q and
        // passed through the acceptance rule come out distributed as p.
        let target = [0.1, 0.6, 0.25, 0.05];
        let q = [(0u32, 0.4f32), (1, 0.2), (2, 0.2), (3, 0.2)];
        let logits = logits_of(&[0.1, 0.6, 0.25, 0.05]);
        let mut draft_rng = ChaCha8Rng::seed_from_u64(5);
        let mut sampler = Sampler::new(params(1.0, 0, 1.0, 0.0), 3, 0);
        let mut counts = [0usize; 4];
        for _ in 0..60_000 {
            let draft = pick_q(&q, draft_rng.r#gen());
            let (token, _) = sampler.verify(&logits, draft, &q);
            counts[token as usize] += 1;
        }
        assert_frequencies(&counts, &target, 0.01);
    }

    #[test]
    fn verifying_keeps_the_filtered_distribution() {
        // Top-k 2 keeps tokens 0 and 1 (renormalised 0.625 / 0.375); a draft outside the kept
        // set is never accepted.
        let logits = logits_of(&[0.5, 0.3, 0.15, 0.05]);
        let mut sampler = Sampler::new(params(1.0, 2, 1.0, 0.0), 1, 0);
        let mut counts = [0usize; 4];
        for _ in 0..40_000 {
            let (token, took) = sampler.verify(&logits, 2, &[(2, 1.0)]);
            assert!(!took);
            counts[token as usize] += 1;
        }
        assert_frequencies(&counts, &[0.625, 0.375, 0.0, 0.0], 0.01);
    }

    fn pick_q(q: &[(TokenId, f32)], draw: f32) -> TokenId {
        let mut acc = 0.0;
        for &(token, prob) in q {
            acc += prob;
            if draw < acc {
                return token;
            }
        }
        q.last().unwrap().0
    }

    #[test]
    fn token_logprob_matches_log_softmax() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 * 0.1).collect();
        let mut full = Vec::new();
        log_softmax(&logits, &mut full);
        for token in [0, 17, 999] {
            assert!((token_logprob(&logits, token) - f64::from(full[token])).abs() < 1e-5);
        }
    }

    #[test]
    fn log_softmax_normalises() {
        let mut out = Vec::new();
        log_softmax(&[1.0, 2.0, 3.0], &mut out);
        let total: f32 = out.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!(out[2] > out[1] && out[1] > out[0]);
    }
}
