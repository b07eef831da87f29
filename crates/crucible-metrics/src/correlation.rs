//! Which metric predicts correctness: point-biserial correlation, AUROC and Kendall's tau-b.
//!
//! - [`point_biserial`]: Pearson's r between a 0/1 verdict (passed = 1) and a score, as
//!   `scipy.stats.pointbiserialr` computes it.
//! - [`auroc`]: the probability that a passing sample scores above a failing one, ties
//!   counted half (the Mann-Whitney U statistic over `n_pass * n_fail`); 0.5 is chance.
//! - [`kendall_tau_b`]: rank agreement of two paired lists with the tie correction of
//!   tau-b, as `scipy.stats.kendalltau` (default variant) computes it, for ranking models or
//!   strategies by a metric against ranking them by pass rate.
//!
//! Each needs both classes (or, for tau-b, some variation in both lists): otherwise the
//! statistic is undefined and the result is [`Error::Degenerate`], never a NaN.

use crate::Error;

/// Pearson's r between 0/1 labels and scores.
pub fn point_biserial(scores: &[f64], passed: &[bool]) -> Result<f64, Error> {
    check_pairs("point-biserial r", scores.len(), passed.len())?;
    let n = scores.len() as f64;
    let labels: Vec<f64> = passed.iter().map(|p| f64::from(u8::from(*p))).collect();
    let mean_x = labels.iter().sum::<f64>() / n;
    let mean_y = scores.iter().sum::<f64>() / n;
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    let mut syy = 0.0;
    for (x, y) in labels.iter().zip(scores) {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
        syy += (y - mean_y) * (y - mean_y);
    }
    if sxx == 0.0 {
        return Err(degenerate(
            "point-biserial r",
            "every sample has the same verdict",
        ));
    }
    if syy == 0.0 {
        return Err(degenerate(
            "point-biserial r",
            "every sample has the same score",
        ));
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Area under the ROC curve of `scores` as a predictor of `passed`, ties counted half.
pub fn auroc(scores: &[f64], passed: &[bool]) -> Result<f64, Error> {
    check_pairs("AUROC", scores.len(), passed.len())?;
    if scores.iter().any(|score| score.is_nan()) {
        return Err(degenerate("AUROC", "a score is not a number"));
    }
    let positives = passed.iter().filter(|p| **p).count();
    let negatives = passed.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(degenerate(
            "AUROC",
            "needs both passing and failing samples",
        ));
    }
    // Rank-sum: sort by score, give tied groups their average rank.
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut rank_sum_pos = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let average_rank = (start + 1 + end) as f64 / 2.0;
        rank_sum_pos +=
            order[start..end].iter().filter(|i| passed[**i]).count() as f64 * average_rank;
        start = end;
    }
    let u = rank_sum_pos - (positives * (positives + 1)) as f64 / 2.0;
    Ok(u / (positives * negatives) as f64)
}

/// Kendall's tau-b between two paired lists.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<f64, Error> {
    check_pairs("Kendall's tau-b", x.len(), y.len())?;
    let mut concordant = 0i64;
    let mut discordant = 0i64;
    let mut ties_x = 0i64;
    let mut ties_y = 0i64;
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let dx = x[i].total_cmp(&x[j]);
            let dy = y[i].total_cmp(&y[j]);
            match (dx.is_eq(), dy.is_eq()) {
                (true, true) => {}
                (true, false) => ties_x += 1,
                (false, true) => ties_y += 1,
                (false, false) if dx == dy => concordant += 1,
                (false, false) => discordant += 1,
            }
        }
    }
    let n_x = (concordant + discordant + ties_x) as f64;
    let n_y = (concordant + discordant + ties_y) as f64;
    if n_x == 0.0 || n_y == 0.0 {
        return Err(degenerate(
            "Kendall's tau-b",
            "one list has no two different values",
        ));
    }
    Ok(((concordant - discordant) as f64 / (n_x * n_y).sqrt()).clamp(-1.0, 1.0))
}

fn check_pairs(statistic: &'static str, left: usize, right: usize) -> Result<(), Error> {
    if left != right {
        return Err(degenerate(
            statistic,
            &format!("{left} values against {right}"),
        ));
    }
    if left < 2 {
        return Err(degenerate(statistic, "needs at least two samples"));
    }
    Ok(())
}

fn degenerate(statistic: &'static str, reason: &str) -> Error {
    Error::Degenerate {
        statistic,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_separation_and_chance() {
        let passed = [false, false, true, true];
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &passed).unwrap(), 1.0);
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &passed).unwrap(), 0.0);
        assert_eq!(auroc(&[0.5; 4], &passed).unwrap(), 0.5);
        assert!((point_biserial(&[0.0, 0.0, 1.0, 1.0], &passed).unwrap() - 1.0).abs() < 1e-12);
        assert!((kendall_tau_b(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs_are_errors_not_nan() {
        let err = auroc(&[0.1, 0.2], &[true, true]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot compute AUROC: needs both passing and failing samples"
        );
        assert!(point_biserial(&[0.3, 0.3], &[true, false]).is_err());
        assert!(kendall_tau_b(&[1.0, 1.0], &[1.0, 2.0]).is_err());
        assert!(auroc(&[0.1], &[true, false]).is_err());
    }
}
