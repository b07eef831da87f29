//! Paired significance tests for comparing two runs over the same tasks: McNemar's exact test
//! (one sample per task) and a paired bootstrap over tasks (several samples per task).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// McNemar's exact (binomial) two-sided p-value from the discordant pairs: `b` tasks that the
/// first run passes and the second fails, `c` the other way round. With no discordant pair
/// the runs do not differ and the p-value is 1.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let low = b.min(c);
    // P(X <= low) for X ~ Binomial(n, 1/2), summed in log space so large n does not overflow.
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for k in 0..=low {
        if k > 0 {
            ln_choose += ((n - k + 1) as f64).ln() - (k as f64).ln();
        }
        tail += (ln_choose - ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// The result of [`paired_bootstrap`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bootstrap {
    /// Mean of `second - first` over tasks (the observed difference of the pass rates).
    pub difference: f64,
    /// Two-sided p-value of "no difference".
    pub p_value: f64,
    /// 95% percentile interval of the difference.
    pub ci_low: f64,
    pub ci_high: f64,
    pub resamples: usize,
}

/// A paired bootstrap over tasks: `first[i]` and `second[i]` are the two runs' scores on task
/// `i` (e.g. the fraction of its samples that pass). Tasks are resampled with replacement
/// `resamples` times (seeded, so the result is reproducible); the p-value is the share of
/// resampled differences, centred on the observed one, at least as far from zero as it
/// (with the usual +1 correction).
///
/// # Panics
/// If the slices differ in length (a caller's bug: the pairing is by task).
pub fn paired_bootstrap(first: &[f64], second: &[f64], resamples: usize, seed: u64) -> Bootstrap {
    assert_eq!(first.len(), second.len(), "paired scores");
    let diffs: Vec<f64> = second.iter().zip(first).map(|(b, a)| b - a).collect();
    let n = diffs.len();
    if n == 0 || resamples == 0 {
        return Bootstrap {
            difference: 0.0,
            p_value: 1.0,
            ci_low: 0.0,
            ci_high: 0.0,
            resamples,
        };
    }
    let observed = diffs.iter().sum::<f64>() / n as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| diffs[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    let far = means
        .iter()
        .filter(|m| (*m - observed).abs() >= observed.abs() - 1e-12)
        .count();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * resamples as f64) as usize).min(resamples - 1)];
    Bootstrap {
        difference: observed,
        p_value: ((far + 1) as f64 / (resamples + 1) as f64).min(1.0),
        ci_low: at(0.025),
        ci_high: at(0.975),
        resamples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_the_binomial_tail() {
        // 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096.
        assert!((mcnemar_exact(10, 2) - 158.0 / 4096.0).abs() < 1e-12);
        assert!((mcnemar_exact(2, 10) - 158.0 / 4096.0).abs() < 1e-12);
        // 2 * P(X <= 0), X ~ Bin(5, 1/2) = 2/32.
        assert!((mcnemar_exact(5, 0) - 0.0625).abs() < 1e-12);
        // Balanced: the tail reaches past one half, capped at 1.
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11 / 1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        // Large counts stay finite: 2 * P(X <= 400), X ~ Bin(1000, 1/2) is about 2.7e-10.
        let p = mcnemar_exact(400, 600);
        assert!(p > 1e-10 && p < 1e-9, "{p}");
    }

    #[test]
    fn bootstrap_finds_no_difference_between_equal_runs() {
        let a = [1.0, 0.0, 0.5, 1.0, 0.0];
        let result = paired_bootstrap(&a, &a, 2000, 1);
        assert_eq!(result.difference, 0.0);
        assert_eq!(result.p_value, 1.0);
        assert_eq!((result.ci_low, result.ci_high), (0.0, 0.0));
    }

    #[test]
    fn bootstrap_finds_a_consistent_gain_and_is_reproducible() {
        // The second run gains 0.5 on every one of 40 tasks, with some spread.
        let a: Vec<f64> = (0..40).map(|i| f64::from(i % 2) * 0.25).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 0.5).collect();
        let result = paired_bootstrap(&a, &b, 2000, 7);
        assert!((result.difference - 0.5).abs() < 1e-12);
        // Every resampled mean is exactly 0.5, never as far from 0.5 as 0.5 from zero.
        assert_eq!(result.p_value, 1.0 / 2001.0);
        assert_eq!(result, paired_bootstrap(&a, &b, 2000, 7));
        // A small mixed difference is not significant.
        let c: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, x)| if i == 0 { x + 0.25 } else { *x })
            .collect();
        let mixed = paired_bootstrap(&a, &c, 2000, 7);
        assert!(mixed.p_value > 0.2, "{mixed:?}");
        assert!(mixed.ci_low <= 0.0 && mixed.ci_high > 0.0);
    }
}
