//! Scoring functions: the unbiased pass@k estimator, n@k with a visible-test filter, and the
//! test-case average.
//!
//! pass@k follows Chen et al. (2021), eq. 1 (the survey's eq. 19): with `n` samples of which `c`
//! pass, `pass@k = 1 - C(n-c, k) / C(n, k)`. The ratio of binomials is evaluated as the product
//! `prod_{i=n-c+1}^{n} (1 - k/i)`, which never forms a large binomial and so neither overflows nor
//! loses precision for n in the thousands.

/// The unbiased pass@k estimate for one task: `n` samples, `c` of them correct.
///
/// Returns `None` when the estimate is undefined: `k == 0`, `k > n` or `c > n`.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i).
    let mut fail = 1.0f64;
    for i in (n - c + 1)..=n {
        fail *= 1.0 - k as f64 / i as f64;
    }
    Some((1.0 - fail).clamp(0.0, 1.0))
}

/// Mean pass@k over tasks, each given as `(n, c)`. Tasks with fewer than `k` samples make the
/// mean undefined (`None`), as in the reference implementation, which refuses them.
pub fn mean_pass_at_k(tasks: &[(u64, u64)], k: u64) -> Option<f64> {
    if tasks.is_empty() {
        return None;
    }
    let mut sum = 0.0;
    for &(n, c) in tasks {
        sum += pass_at_k(n, c, k)?;
    }
    Some(sum / tasks.len() as f64)
}

/// How the samples of one task fared, for n@k.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FilterCounts {
    /// Passed the visible tests and the hidden tests.
    pub visible_pass_hidden_pass: u64,
    /// Passed the visible tests, failed the hidden tests.
    pub visible_pass_hidden_fail: u64,
    /// Failed the visible tests, passed the hidden tests.
    pub visible_fail_hidden_pass: u64,
    /// Failed both.
    pub visible_fail_hidden_fail: u64,
}

impl FilterCounts {
    /// Total number of samples.
    pub fn total(&self) -> u64 {
        self.visible_pass_hidden_pass
            + self.visible_pass_hidden_fail
            + self.visible_fail_hidden_pass
            + self.visible_fail_hidden_fail
    }
}

/// The expected n@k (AlphaCode): draw `k` of the task's samples at random, submit `m` of them
/// (preferring, in random order, those that pass the visible tests; topping up with the others if
/// fewer than `m` pass), and count the task solved if any submission passes the hidden tests.
///
/// The expectation is exact: it sums over every way the `k` drawn samples can split between the
/// four groups of [`FilterCounts`]. Returns `None` when `m == 0`, `k == 0` or `k` exceeds the
/// number of samples.
pub fn n_at_k(counts: FilterCounts, m: u64, k: u64) -> Option<f64> {
    let total = counts.total();
    if m == 0 || k == 0 || k > total {
        return None;
    }
    let lnf = LnFactorial::new(total);
    let ln_all = lnf.ln_choose(total, k);
    let FilterCounts {
        visible_pass_hidden_pass: a,
        visible_pass_hidden_fail: b,
        visible_fail_hidden_pass: c,
        visible_fail_hidden_fail: d,
    } = counts;
    let mut p_fail = 0.0;
    // Hidden-pass samples among the drawn ones make a failure impossible only if picked, so
    // enumerate how many of each group were drawn.
    for drawn_a in 0..=a.min(k) {
        for drawn_b in 0..=b.min(k - drawn_a) {
            for drawn_c in 0..=c.min(k - drawn_a - drawn_b) {
                let drawn_d = k - drawn_a - drawn_b - drawn_c;
                if drawn_d > d {
                    continue;
                }
                let ln_ways = lnf.ln_choose(a, drawn_a)
                    + lnf.ln_choose(b, drawn_b)
                    + lnf.ln_choose(c, drawn_c)
                    + lnf.ln_choose(d, drawn_d);
                let p_draw = (ln_ways - ln_all).exp();
                let visible = drawn_a + drawn_b;
                let from_visible = m.min(visible);
                let from_rest = (m - from_visible).min(drawn_c + drawn_d);
                // All submissions fail: every pick from the visible-pass samples is one of the
                // drawn_b, and every top-up pick is one of the drawn_d.
                let p_all_fail = ratio(&lnf, drawn_b, visible, from_visible)
                    * ratio(&lnf, drawn_d, drawn_c + drawn_d, from_rest);
                p_fail += p_draw * p_all_fail;
            }
        }
    }
    Some((1.0 - p_fail).clamp(0.0, 1.0))
}

/// `C(good, picks) / C(all, picks)`: the chance that `picks` draws from `all` all land in `good`.
fn ratio(lnf: &LnFactorial, good: u64, all: u64, picks: u64) -> f64 {
    if picks == 0 {
        return 1.0;
    }
    if good < picks {
        return 0.0;
    }
    (lnf.ln_choose(good, picks) - lnf.ln_choose(all, picks)).exp()
}

/// The test-case average for one sample: the fraction of its tests that passed (`None` when the
/// sample ran no individual tests).
pub fn test_case_fraction(passed: usize, total: usize) -> Option<f64> {
    if total == 0 {
        None
    } else {
        Some(passed as f64 / total as f64)
    }
}

/// Natural logarithms of factorials up to a bound, for exact binomial ratios in log space.
struct LnFactorial {
    table: Vec<f64>,
}

impl LnFactorial {
    fn new(max: u64) -> Self {
        let mut table = Vec::with_capacity(max as usize + 1);
        table.push(0.0);
        for i in 1..=max {
            let prev = table[i as usize - 1];
            table.push(prev + (i as f64).ln());
        }
        LnFactorial { table }
    }

    fn ln_choose(&self, n: u64, k: u64) -> f64 {
        if k > n {
            return f64::NEG_INFINITY;
        }
        self.table[n as usize] - self.table[k as usize] - self.table[(n - k) as usize]
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Exact C(n, k) for small n.
    fn choose(n: u64, k: u64) -> u128 {
        if k > n {
            return 0;
        }
        let mut result: u128 = 1;
        for i in 0..k {
            result = result * (n - i) as u128 / (i + 1) as u128;
        }
        result
    }

    fn direct(n: u64, c: u64, k: u64) -> f64 {
        1.0 - choose(n - c, k) as f64 / choose(n, k) as f64
    }

    #[test]
    fn known_values() {
        assert_eq!(pass_at_k(10, 0, 1), Some(0.0));
        assert_eq!(pass_at_k(10, 10, 5), Some(1.0));
        assert!((pass_at_k(10, 3, 1).unwrap() - 0.3).abs() < 1e-12);
        // 1 - C(8,2)/C(10,2) = 1 - 28/45.
        assert!((pass_at_k(10, 2, 2).unwrap() - 17.0 / 45.0).abs() < 1e-12);
        assert_eq!(pass_at_k(5, 1, 6), None);
        assert_eq!(pass_at_k(5, 1, 0), None);
        // Large n stays finite and in range.
        let big = pass_at_k(100_000, 3, 100).unwrap();
        assert!(big > 0.0 && big < 1.0);
    }

    #[test]
    fn mean_refuses_too_few_samples() {
        assert_eq!(mean_pass_at_k(&[(10, 5), (10, 0)], 1), Some(0.25));
        assert_eq!(mean_pass_at_k(&[(10, 5), (3, 0)], 5), None);
    }

    #[test]
    fn n_at_k_cases() {
        let counts = |a, b, c, d| FilterCounts {
            visible_pass_hidden_pass: a,
            visible_pass_hidden_fail: b,
            visible_fail_hidden_pass: c,
            visible_fail_hidden_fail: d,
        };
        // The filter is perfect: one correct sample passes visible, the rest fail both.
        let perfect = counts(1, 0, 0, 9);
        assert!((n_at_k(perfect, 1, 10).unwrap() - 1.0).abs() < 1e-12);
        // Without any visible-pass sample, 1@k picks a random drawn sample: equals pass@1.
        let unfiltered = counts(0, 0, 3, 7);
        assert!((n_at_k(unfiltered, 1, 10).unwrap() - 0.3).abs() < 1e-12);
        // When m >= k every drawn sample is submitted: n@k equals pass@k.
        let mixed = counts(2, 3, 1, 4);
        let expect = pass_at_k(10, 3, 4).unwrap();
        assert!((n_at_k(mixed, 4, 4).unwrap() - expect).abs() < 1e-12);
        assert_eq!(n_at_k(mixed, 0, 4), None);
        assert_eq!(n_at_k(mixed, 1, 11), None);
    }

    proptest! {
        #[test]
        fn agrees_with_direct_computation((n, c, k) in (1u64..60).prop_flat_map(|n| (Just(n), 0..=n, 1..=n))) {
            let fast = pass_at_k(n, c, k).unwrap();
            let exact = direct(n, c, k);
            prop_assert!((fast - exact).abs() < 1e-9, "n={n} c={c} k={k}: {fast} vs {exact}");
        }

        #[test]
        fn in_unit_interval_and_monotone((n, c) in (1u64..400).prop_flat_map(|n| (Just(n), 0..=n))) {
            let mut last = 0.0;
            for k in 1..=n.min(120) {
                let value = pass_at_k(n, c, k).unwrap();
                prop_assert!((0.0..=1.0).contains(&value));
                prop_assert!(value + 1e-12 >= last, "not monotone at k={k}");
                last = value;
            }
        }

        #[test]
        fn equals_fraction_at_k1((n, c) in (1u64..10_000).prop_flat_map(|n| (Just(n), 0..=n))) {
            let value = pass_at_k(n, c, 1).unwrap();
            prop_assert!((value - c as f64 / n as f64).abs() < 1e-9);
        }

        #[test]
        fn n_at_k_bounded_by_pass_at_k(a in 0u64..5, b in 0u64..5, c in 0u64..5, d in 0u64..5, m in 1u64..4, k in 1u64..20) {
            let counts = FilterCounts { visible_pass_hidden_pass: a, visible_pass_hidden_fail: b, visible_fail_hidden_pass: c, visible_fail_hidden_fail: d };
            let total = counts.total();
            prop_assume!(k <= total);
            let value = n_at_k(counts, m, k).unwrap();
            let upper = pass_at_k(total, a + c, k).unwrap();
            prop_assert!((0.0..=1.0).contains(&value));
            prop_assert!(value <= upper + 1e-9, "n@k {value} above pass@k {upper}");
        }
    }
}
