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

use std::borrow::Cow;

use rustc_hash::FxHashMap as HashMap;

/// n-gram counts: an n-gram packed into one key (32 bits per token id) -> occurrences.
type Counts = HashMap<u128, usize>;

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
fn counts(ids: &[u32], n: usize, sized: bool) -> Counts {
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

/// Tokens as ids (1-based; equal tokens, equal ids) shared by every pair a scorer compares,
/// and whether each id is a keyword.
#[derive(Default)]
pub(crate) struct Vocabulary {
    ids: HashMap<String, u32>,
    keyword: Vec<bool>,
}

impl Vocabulary {
    /// Distinct tokens held.
    pub(crate) fn len(&self) -> usize {
        self.keyword.len()
    }

    fn encode(&mut self, tokens: &[&str], is_keyword: &dyn Fn(&str) -> bool) -> Vec<u32> {
        tokens
            .iter()
            .map(|token| match self.ids.get(*token) {
                Some(&id) => id,
                None => {
                    self.keyword.push(is_keyword(token));
                    let id = self.keyword.len() as u32;
                    self.ids.insert((*token).to_string(), id);
                    id
                }
            })
            .collect()
    }
}

/// A reference's side of the comparison, made once however many pairs share the reference:
/// its tokens' ids and its 2- to 4-gram counts.
pub(crate) struct ReferenceNgrams {
    ids: Vec<u32>,
    longer: [Counts; 3],
}

impl ReferenceNgrams {
    pub(crate) fn new(
        vocabulary: &mut Vocabulary,
        tokens: &[&str],
        is_keyword: &dyn Fn(&str) -> bool,
    ) -> ReferenceNgrams {
        let ids = vocabulary.encode(tokens, is_keyword);
        let longer = [2, 3, 4].map(|n| counts(&ids, n, true));
        ReferenceNgrams { ids, longer }
    }
}

/// BLEU statistics (clipped precision) and weighted n-gram statistics (clipped recall, keyword
/// unigrams weighing 1 and others 0.2) of one hypothesis against its references.
///
/// Unigrams are counted over ids numbered afresh for the pair (first appearance in the
/// hypothesis, then in the references), as they always have been: the weighted unigram sums
/// follow the order of those maps (see [`counts`]). Longer n-grams only sum whole numbers and
/// use the vocabulary's ids, so the references' counts are made once.
pub(crate) fn pair_stats(
    vocabulary: &mut Vocabulary,
    references: &[&ReferenceNgrams],
    hypothesis: &[&str],
    is_keyword: &dyn Fn(&str) -> bool,
) -> (NgramStats, NgramStats) {
    let hyp_ids = vocabulary.encode(hypothesis, is_keyword);
    let n_tokens = hyp_ids.len() + references.iter().map(|r| r.ids.len()).sum::<usize>();
    let mut pair_ids: HashMap<u32, u32> =
        HashMap::with_capacity_and_hasher(n_tokens, Default::default());
    let mut keyword: Vec<bool> = Vec::with_capacity(n_tokens);
    let mut renumber = |ids: &[u32]| -> Vec<u32> {
        ids.iter()
            .map(|id| {
                *pair_ids.entry(*id).or_insert_with(|| {
                    keyword.push(vocabulary.keyword[*id as usize - 1]);
                    keyword.len() as u32
                })
            })
            .collect()
    };
    let hyp_unigrams = renumber(&hyp_ids);
    let ref_unigrams: Vec<Vec<u32>> = references.iter().map(|r| renumber(&r.ids)).collect();
    let mut bleu = NgramStats::default();
    let mut weighted = NgramStats::default();
    for n in 1..=4 {
        let (hyp_counts, ref_counts): (Counts, Vec<Cow<'_, Counts>>) = if n == 1 {
            let refs = ref_unigrams
                .iter()
                .map(|ids| Cow::Owned(counts(ids, 1, false)))
                .collect();
            (counts(&hyp_unigrams, 1, true), refs)
        } else {
            let refs = references
                .iter()
                .map(|r| Cow::Borrowed(&r.longer[n - 2]))
                .collect();
            (counts(&hyp_ids, n, true), refs)
        };
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
            if n == 1 && !keyword[(gram as u32 - 1) as usize] {
                0.2
            } else {
                1.0
            }
        };
        for counts in &ref_counts {
            let mut matched = 0.0;
            let mut total = 0.0;
            for (gram, count) in counts.iter() {
                let clipped = (*count).min(hyp_counts.get(gram).copied().unwrap_or(0));
                matched += clipped as f64 * weight(*gram);
                total += *count as f64 * weight(*gram);
            }
            weighted.numerators[n - 1] += matched;
            weighted.denominators[n - 1] += f64::max(1.0, total);
        }
    }
    bleu.hyp_len = hypothesis.len();
    bleu.ref_len = closest_length(references.iter().map(|r| r.ids.len()), hypothesis.len());
    weighted.hyp_len = hypothesis.len();
    // The reference measures len((tokens, weights)) == 2 for every reference.
    weighted.ref_len = closest_length(references.iter().map(|_| 2), hypothesis.len());
    (bleu, weighted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair_stats(
        references: &[Vec<&str>],
        hypothesis: &[&str],
        is_keyword: &dyn Fn(&str) -> bool,
    ) -> (NgramStats, NgramStats) {
        let mut vocabulary = Vocabulary::default();
        let references: Vec<ReferenceNgrams> = references
            .iter()
            .map(|tokens| ReferenceNgrams::new(&mut vocabulary, tokens, is_keyword))
            .collect();
        let references: Vec<&ReferenceNgrams> = references.iter().collect();
        super::pair_stats(&mut vocabulary, &references, hypothesis, is_keyword)
    }

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
