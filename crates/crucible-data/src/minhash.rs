//! MinHash signatures over token shingles, LSH banding with bands and rows chosen by the
//! FP/FN-weighted rule, and Jaccard estimates.
//!
//! ## Tokens and shingles
//! A token is a maximal run of alphanumeric characters or `_`, lowercased; punctuation and
//! whitespace separate tokens and are dropped, so reformatting does not change a document's
//! shingles. A shingle is `n` consecutive tokens (default 5, as BigCode and datatrove use). A
//! document with fewer than `n` tokens has one shingle, all its tokens; one with none has no
//! signature and takes no part in near deduplication.
//!
//! ## Permutations
//! Each shingle is hashed once to 64 bits (xxh3 of its tokens' hashes), folded to 32 bits, and
//! permutation `i` maps it with `fmix32(x ^ seed_i)`, the MurmurHash3 finaliser: a bijection of
//! the 32-bit values for every seed, so each is a true permutation of the shingle hashes. The
//! inner loop over the permutations is branch-free arithmetic on a fixed-size array, which the
//! compiler turns into 8-lane AVX2 code.
//!
//! ## Bands and rows: the FP/FN-weighted rule
//! With `b` bands of `r` rows (`b * r <= P` permutations), two documents of Jaccard similarity
//! `s` share at least one band with probability `p(s) = 1 - (1 - s^r)^b`. For a threshold `t`,
//! the false-positive mass is the area under `p` left of `t`, `FP(b, r) = ∫_0^t p(s) ds`, and
//! the false-negative mass the area above it right of `t`, `FN(b, r) = ∫_t^1 (1 - p(s)) ds`.
//! The rule picks the `(b, r)` minimising `w_fp * FP + w_fn * FN` over all `b * r <= P` (both
//! integrals by Simpson's rule on 256 intervals). With `P = 256`, `t = 0.7` and equal weights it
//! picks `b = 25`, `r = 10` (250 of the 256 values; checked by a test below). Candidate pairs are then verified by
//! their full-signature estimate (see `crate::pipeline`), so the rule's false positives cost
//! time, not precision.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Number of 32-bit values in a signature (fixed at 256 permutations).
pub const PERMUTATIONS: usize = 256;

/// A document's MinHash signature.
pub type Signature = [u32; PERMUTATIONS];

/// Computes signatures; built once per run from the seed.
#[derive(Debug, Clone)]
pub struct MinHasher {
    ngram: usize,
    seeds: Box<[u32; PERMUTATIONS]>,
}

impl MinHasher {
    /// A hasher for `ngram`-token shingles with permutations drawn from `seed`.
    pub fn new(ngram: usize, seed: u64) -> Self {
        let mut seeds = Box::new([0u32; PERMUTATIONS]);
        let mut state = seed;
        for slot in seeds.iter_mut() {
            state = splitmix64(state);
            *slot = (state >> 32) as u32;
        }
        MinHasher {
            ngram: ngram.max(1),
            seeds,
        }
    }

    /// The signature of `text`, or `None` when it has no tokens.
    pub fn signature(&self, text: &str) -> Option<Signature> {
        let tokens = token_hashes(text);
        if tokens.is_empty() {
            return None;
        }
        let mut sig = [u32::MAX; PERMUTATIONS];
        if tokens.len() <= self.ngram {
            self.absorb(&mut sig, shingle_hash(&tokens));
        } else {
            for window in tokens.windows(self.ngram) {
                self.absorb(&mut sig, shingle_hash(window));
            }
        }
        Some(sig)
    }

    #[inline]
    fn absorb(&self, sig: &mut Signature, shingle: u64) {
        let x = (shingle ^ (shingle >> 32)) as u32;
        for (slot, seed) in sig.iter_mut().zip(self.seeds.iter()) {
            let h = fmix32(x ^ seed);
            *slot = (*slot).min(h);
        }
    }
}

/// The set of shingle hashes of `text`: what the signature summarises, for exact Jaccard.
pub fn shingle_set(text: &str, ngram: usize) -> std::collections::HashSet<u64> {
    let tokens = token_hashes(text);
    let ngram = ngram.max(1);
    if tokens.is_empty() {
        return std::collections::HashSet::new();
    }
    if tokens.len() <= ngram {
        return std::iter::once(shingle_hash(&tokens)).collect();
    }
    tokens.windows(ngram).map(shingle_hash).collect()
}

/// The exact Jaccard similarity of two shingle sets (two empty sets: 1).
pub fn exact_jaccard(
    a: &std::collections::HashSet<u64>,
    b: &std::collections::HashSet<u64>,
) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let inter = a.iter().filter(|x| b.contains(x)).count();
    inter as f64 / (a.len() + b.len() - inter) as f64
}

/// The fraction of equal positions: an unbiased estimate of the Jaccard similarity.
pub fn estimate_jaccard(a: &Signature, b: &Signature) -> f64 {
    let equal = a.iter().zip(b.iter()).filter(|(x, y)| x == y).count();
    equal as f64 / PERMUTATIONS as f64
}

/// Bands and rows for LSH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Banding {
    pub bands: usize,
    pub rows: usize,
}

impl Banding {
    /// The `(b, r)` minimising `w_fp * FP + w_fn * FN` at `threshold` (module docs).
    pub fn optimal(threshold: f64, permutations: usize, fp_weight: f64, fn_weight: f64) -> Self {
        let mut best = (f64::INFINITY, Banding { bands: 1, rows: 1 });
        for bands in 1..=permutations {
            for rows in 1..=permutations / bands {
                let fp = integrate(0.0, threshold, |s| collision_probability(s, bands, rows));
                let fn_ = integrate(threshold, 1.0, |s| {
                    1.0 - collision_probability(s, bands, rows)
                });
                let cost = fp_weight * fp + fn_weight * fn_;
                if cost < best.0 {
                    best = (cost, Banding { bands, rows });
                }
            }
        }
        best.1
    }

    /// The hash of band `band` of `sig`.
    pub fn band_hash(&self, sig: &Signature, band: usize) -> u64 {
        let rows = &sig[band * self.rows..(band + 1) * self.rows];
        let mut bytes = [0u8; PERMUTATIONS * 4];
        for (idx, value) in rows.iter().enumerate() {
            bytes[idx * 4..idx * 4 + 4].copy_from_slice(&value.to_le_bytes());
        }
        xxh3_64_with_seed(&bytes[..rows.len() * 4], band as u64)
    }
}

/// Probability that two documents of Jaccard similarity `s` share a band.
pub fn collision_probability(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

/// Hashes of the document's tokens, in order (module docs).
pub fn token_hashes(text: &str) -> Vec<u64> {
    let mut out = Vec::with_capacity(text.len() / 4);
    let mut token: Vec<u8> = Vec::with_capacity(64);
    for ch in text.chars() {
        if ch.is_ascii() {
            let byte = ch as u8;
            if byte.is_ascii_alphanumeric() || byte == b'_' {
                token.push(byte.to_ascii_lowercase());
                continue;
            }
        } else if ch.is_alphanumeric() {
            for lower in ch.to_lowercase() {
                let mut buf = [0u8; 4];
                token.extend_from_slice(lower.encode_utf8(&mut buf).as_bytes());
            }
            continue;
        }
        if !token.is_empty() {
            out.push(xxh3_64(&token));
            token.clear();
        }
    }
    if !token.is_empty() {
        out.push(xxh3_64(&token));
    }
    out
}

fn shingle_hash(tokens: &[u64]) -> u64 {
    let mut acc: u64 = 0x9E37_79B9_7F4A_7C15;
    for &token in tokens {
        acc = splitmix64(acc ^ token);
    }
    acc
}

#[inline]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

pub(crate) fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Simpson's rule on 256 intervals.
fn integrate(lo: f64, hi: f64, f: impl Fn(f64) -> f64) -> f64 {
    const STEPS: usize = 256;
    let h = (hi - lo) / STEPS as f64;
    let mut sum = f(lo) + f(hi);
    for step in 1..STEPS {
        let weight = if step % 2 == 1 { 4.0 } else { 2.0 };
        sum += weight * f(lo + step as f64 * h);
    }
    sum * h / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_rule_picks_25_bands_of_10_rows_at_0_7() {
        assert_eq!(
            Banding::optimal(0.7, 256, 0.5, 0.5),
            Banding {
                bands: 25,
                rows: 10
            }
        );
    }

    #[test]
    fn heavier_false_negative_weight_lowers_the_effective_threshold() {
        let balanced = Banding::optimal(0.7, 256, 0.5, 0.5);
        let recall = Banding::optimal(0.7, 256, 0.2, 0.8);
        // The S-curve's midpoint (1/b)^(1/r) moves left when misses cost more.
        let midpoint = |b: Banding| (1.0 / b.bands as f64).powf(1.0 / b.rows as f64);
        assert!(
            midpoint(recall) < midpoint(balanced),
            "{recall:?} {balanced:?}"
        );
    }

    #[test]
    fn tokens_ignore_case_punctuation_and_layout() {
        assert_eq!(
            token_hashes("def Foo(a, b):\n    return a+b"),
            token_hashes("def foo( a,b ) :  return   a + b")
        );
        assert_eq!(token_hashes(" ,;{} ").len(), 0);
        assert_eq!(token_hashes("été x_1").len(), 2);
    }

    #[test]
    fn estimates_track_the_true_jaccard() {
        // Documents of distinct words: shingles = word 5-grams. Doc B shares a prefix of A.
        let hasher = MinHasher::new(5, 42);
        let words: Vec<String> = (0..2000).map(|i| format!("w{i}")).collect();
        let a = words[..1000].join(" ");
        for shared in [300usize, 700, 900] {
            // B = the first `shared` words of A, then fresh words: |A∩B| = shared-4 shingles.
            let b = format!(
                "{} {}",
                words[..shared].join(" "),
                words[1000..2000 - shared].join(" ")
            );
            let inter = (shared - 4) as f64;
            let union = (996 + 996) as f64 - inter;
            let truth = inter / union;
            let est = estimate_jaccard(
                &hasher.signature(&a).unwrap(),
                &hasher.signature(&b).unwrap(),
            );
            // Standard error sqrt(J(1-J)/256) <= 0.032; allow 4 of them.
            assert!(
                (est - truth).abs() < 0.125,
                "shared {shared}: truth {truth:.3} est {est:.3}"
            );
        }
    }

    #[test]
    fn a_text_without_tokens_has_no_signature() {
        assert!(MinHasher::new(5, 1).signature("  {} ;; \n").is_none());
        assert!(MinHasher::new(5, 1).signature("x").is_some());
    }

    proptest! {
        #[test]
        fn identical_texts_have_estimate_one(text in "[a-z ]{1,200}") {
            let hasher = MinHasher::new(5, 7);
            if let Some(sig) = hasher.signature(&text) {
                prop_assert_eq!(estimate_jaccard(&sig, &sig), 1.0);
                let again = hasher.signature(&text).unwrap();
                prop_assert_eq!(sig, again);
            }
        }
    }
}
