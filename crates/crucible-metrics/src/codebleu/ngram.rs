//! CodeBLEU's two n-gram components: BLEU on whitespace tokens, and the keyword-weighted n-gram match.
//!
//! Both are corpus-level up to 4-grams with uniform weights, Chen and Cherry's smoothing
//! method 1 (a zero numerator becomes 0.1) and 0 when no unigram matches, as in the
//! reference. Hypothesis and reference statistics are summed over the corpus first.
//!
//! The weighted match follows the reference's code rather than the paper's equation (2),
//! where the two differ, because its numbers are the ones published with it:
//! - it counts clipped matches against the *reference* n-grams (recall), summed over every
//!   reference; unigrams weigh 1 when they are keywords of the language and 0.2 otherwise;
//! - its brevity penalty compares the hypothesis length with a reference "length" of 2 (the
//!   length of the (tokens, weights) pair the reference code measures), so it is 1 for any
//!   hypothesis longer than two tokens.

use rustc_hash::FxHashMap as HashMap;

/// Numerators and denominators of the four orders, and the lengths, summed over a corpus.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NgramStats {
    pub(crate) numerators: [f64; 4],
    pub(crate) denominators: [f64; 4],
    pub(crate) hyp_len: usize,
    pub(crate) ref_len: usize,
}

impl NgramStats {
    pub(crate) fn add(&mut self, other: &NgramStats) {
        for order in 0..4 {
            self.numerators[order] += other.numerators[order];
            self.denominators[order] += other.denominators[order];
        }
        self.hyp_len += other.hyp_len;
        self.ref_len += other.ref_len;
    }

    /// The smoothed geometric mean with the brevity penalty.
    pub(crate) fn score(&self) -> f64 {
        if self.numerators[0] == 0.0 {
            return 0.0;
        }
        let brevity = if self.hyp_len > self.ref_len {
            1.0
        } else if self.hyp_len == 0 {
            0.0
        } else {
            (1.0 - self.ref_len as f64 / self.hyp_len as f64).exp()
        };
        let log_sum: f64 = (0..4)
            .map(|order| {
                let numerator = if self.numerators[order] == 0.0 {
                    0.1
                } else {
                    self.numerators[order]
                };
                0.25 * (numerator / self.denominators[order]).ln()
            })
            .sum();
        brevity * log_sum.exp()
    }
}

/// n-gram counts over token ids, an n-gram packed into one key (32 bits per token).
///
/// `sized` makes the map big enough up front instead of growing it. Growing and sizing give
/// the same counts but may order them differently, and the order matters in one place: the
/// weighted unigram match sums counts times 0.2 in the reference unigrams' map order, so
/// those maps grow as they always have and the scores keep every bit. Every other sum is of
/// whole numbers, exact in any order.
fn counts(ids: &[u32], n: usize, sized: bool) -> HashMap<u128, usize> {
    let mut counts = if sized {
        HashMap::with_capacity_and_hasher(ids.len(), Default::default())
    } else {
        HashMap::default()
    };
    if ids.len() >= n {
        for gram in ids.windows(n) {
            let key = gram
                .iter()
                .fold(0u128, |key, id| (key << 32) | u128::from(*id));
            *counts.entry(key).or_insert(0) += 1;
        }
    }
    counts
}

/// The closest reference length; on a tie, the shorter.
fn closest_length(reference_lengths: impl Iterator<Item = usize>, hyp_len: usize) -> usize {
    reference_lengths
        .min_by_key(|len| (len.abs_diff(hyp_len), *len))
        .unwrap_or(0)
}

/// Tokens as ids (1-based; equal tokens, equal ids), and whether each id is a keyword.
struct Vocabulary<'a> {
    ids: HashMap<&'a str, u32>,
    keyword: Vec<bool>,
}

impl<'a> Vocabulary<'a> {
    fn encode(&mut self, tokens: &[&'a str], is_keyword: &dyn Fn(&str) -> bool) -> Vec<u32> {
        tokens
            .iter()
            .map(|token| {
                let next = self.keyword.len() as u32 + 1;
                *self.ids.entry(token).or_insert_with(|| {
                    self.keyword.push(is_keyword(token));
                    next
                })
            })
            .collect()
    }
}

/// BLEU statistics (clipped precision) and weighted n-gram statistics (clipped recall, keyword
/// unigrams weighing 1 and others 0.2) of one hypothesis against its references.
pub(crate) fn pair_stats(
    references: &[Vec<&str>],
    hypothesis: &[&str],
    is_keyword: &dyn Fn(&str) -> bool,
) -> (NgramStats, NgramStats) {
    let n_tokens = hypothesis.len() + references.iter().map(Vec::len).sum::<usize>();
    // Ids follow first appearance, so sizing the map up front changes none of them.
    let mut vocabulary = Vocabulary {
        ids: HashMap::with_capacity_and_hasher(n_tokens, Default::default()),
        keyword: Vec::with_capacity(n_tokens),
    };
    let hyp = vocabulary.encode(hypothesis, is_keyword);
    let refs: Vec<Vec<u32>> = references
        .iter()
        .map(|reference| vocabulary.encode(reference, is_keyword))
        .collect();
    let mut bleu = NgramStats::default();
    let mut weighted = NgramStats::default();
    for n in 1..=4 {
        let hyp_counts = counts(&hyp, n, true);
        let ref_counts: Vec<HashMap<u128, usize>> = refs
            .iter()
            .map(|reference| counts(reference, n, n > 1))
            .collect();
        // BLEU: each hypothesis n-gram clipped by its largest count in any reference.
        let mut clipped = 0usize;
        let mut total = 0usize;
        for (gram, count) in &hyp_counts {
            let max_ref = ref_counts
                .iter()
                .map(|counts| counts.get(gram).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            clipped += (*count).min(max_ref);
            total += count;
        }
        bleu.numerators[n - 1] = clipped as f64;
        bleu.denominators[n - 1] = total.max(1) as f64;
        // Weighted: each reference's n-grams clipped by the hypothesis's counts, summed.
        let weight = |gram: u128| {
            let unigram_is_keyword = vocabulary.keyword[(gram as u32 - 1) as usize];
            if n == 1 && !unigram_is_keyword {
                0.2
            } else {
                1.0
            }
        };
        for counts in &ref_counts {
            let mut matched = 0.0;
            let mut total = 0.0;
            for (gram, count) in counts {
                let clipped = (*count).min(hyp_counts.get(gram).copied().unwrap_or(0));
                matched += clipped as f64 * weight(*gram);
                total += *count as f64 * weight(*gram);
            }
            weighted.numerators[n - 1] += matched;
            weighted.denominators[n - 1] += f64::max(1.0, total);
        }
    }
    bleu.hyp_len = hypothesis.len();
    bleu.ref_len = closest_length(references.iter().map(Vec::len), hypothesis.len());
    weighted.hyp_len = hypothesis.len();
    // The reference measures len((tokens, weights)) == 2 for every reference.
    weighted.ref_len = closest_length(references.iter().map(|_| 2), hypothesis.len());
    (bleu, weighted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn identical_sentences_score_one() {
        let sentence = tokens("a b c d e f");
        let (stats, _) = pair_stats(std::slice::from_ref(&sentence), &sentence, &|_| false);
        assert!((stats.score() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn no_unigram_match_is_zero_and_short_hypotheses_are_penalised() {
        let (stats, _) = pair_stats(&[tokens("a b c d")], &tokens("x y z w"), &|_| false);
        assert_eq!(stats.score(), 0.0);
        let (stats, _) = pair_stats(&[tokens("a b c d e f g h")], &tokens("a b c d"), &|_| false);
        assert!(stats.score() < 0.5, "{}", stats.score());
    }

    #[test]
    fn keywords_weigh_more_in_the_weighted_match() {
        let keyword = |token: &str| token == "return";
        let reference = tokens("return x + y");
        let (_, misses_keyword) =
            pair_stats(std::slice::from_ref(&reference), &tokens("x + y"), &keyword);
        let (_, misses_name) = pair_stats(
            std::slice::from_ref(&reference),
            &tokens("return + y"),
            &keyword,
        );
        assert!(misses_name.numerators[0] > misses_keyword.numerators[0]);
    }
}
