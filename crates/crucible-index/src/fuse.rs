//! Reciprocal rank fusion: merge rankings (BM25 and embeddings) by `sum 1 / (k + rank)`, as
//! Tabby does with k = 60 (Cormack, Clarke and Buettcher, SIGIR 2009).

use std::collections::HashMap;
use std::hash::Hash;

/// The constant of reciprocal rank fusion used throughout (the paper's and Tabby's).
pub const RRF_K: f32 = 60.0;

/// Fuse `rankings` (each best first) into one, best first, with each item's fused score.
///
/// An item missing from a ranking gets nothing from it. Ties keep the order in which items
/// were first seen (rankings in order, then rank), so the result is deterministic.
pub fn reciprocal_rank_fusion<T: Clone + Eq + Hash>(rankings: &[Vec<T>], k: f32) -> Vec<(T, f32)> {
    let mut scores: HashMap<T, (f32, usize)> = HashMap::new();
    let mut order = 0;
    for ranking in rankings {
        for (at, item) in ranking.iter().enumerate() {
            let gain = 1.0 / (k + (at + 1) as f32);
            let entry = scores.entry(item.clone()).or_insert_with(|| {
                order += 1;
                (0.0, order)
            });
            entry.0 += gain;
        }
    }
    let mut fused: Vec<(T, f32, usize)> = scores
        .into_iter()
        .map(|(item, (score, first))| (item, score, first))
        .collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    fused
        .into_iter()
        .map(|(item, score, _)| (item, score))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_in_both_rankings_rise() {
        let bm25 = vec!["a", "b", "c"];
        let embedding = vec!["c", "d", "a"];
        let fused = reciprocal_rank_fusion(&[bm25, embedding], RRF_K);
        let order: Vec<&str> = fused.iter().map(|(item, _)| *item).collect();
        // a: 1/61 + 1/63; c: 1/63 + 1/61 (a tie, a first seen); b: 1/62; d: 1/62.
        assert_eq!(order, ["a", "c", "b", "d"]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-7);
        assert!((fused[2].1 - 1.0 / 62.0).abs() < 1e-7);
    }

    #[test]
    fn one_ranking_keeps_its_order_and_empty_is_empty() {
        let fused = reciprocal_rank_fusion(&[vec![3, 1, 2]], RRF_K);
        assert_eq!(fused.iter().map(|(x, _)| *x).collect::<Vec<_>>(), [3, 1, 2]);
        assert!(reciprocal_rank_fusion::<u8>(&[], RRF_K).is_empty());
    }
}
