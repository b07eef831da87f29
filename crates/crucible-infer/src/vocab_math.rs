//! Whole-vocabulary reductions over one step's logits: the maximum and sums of `exp`.
//!
//! A batched decode step hands the sampler one 150k-entry logit row per sequence, and every
//! row needs its maximum and a softmax normaliser (for sampling and for the sequence's
//! log-probability). Done with scalar `f32::max` and the C library's `exp`, that took 1.4 ms
//! per sampled row on the main thread while llama.cpp's workers waited (`cargo bench -p
//! crucible-infer --bench sampler_bench`): 14 ms of a 10-sequence step of about 180 ms.
//! These loops are written as 16 fixed lanes with no calls and no branches, so the compiler
//! turns them into SIMD for whatever the build targets (the workspace compiles for the host CPU,
//! `.cargo/config.toml`), and [`exp`] is a polynomial with a relative error under 3e-7 on the
//! range that matters (`x <= 0`). The lanes fix the order of the additions, so the sums do not
//! depend on the vector width.

/// Lanes per iteration: one AVX-512 register, two AVX2 ones, four SSE2 or NEON ones.
const LANES: usize = 16;

/// Rows summed in f32 before the partial sums move into an f64 total; keeps the rounding of
/// a 150k-term sum at the level of one f32 addition per block.
const BLOCK: usize = 1024;

/// The largest value; `-inf` for an empty slice. NaNs are ignored unless every value is NaN.
pub(crate) fn max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            // `if` rather than `f32::max`: compiles to one `maxps` per register.
            *lane = if v > *lane { v } else { *lane };
        }
    }
    let mut best = f32::NEG_INFINITY;
    for &v in lanes.iter().chain(tail) {
        if v > best {
            best = v;
        }
    }
    best
}

/// `sum(exp(scale * v - shift))` over the values with `scale * v >= floor` (`scale > 0`).
///
/// With `shift` the largest scaled value every term is at most 1, and `floor` drops the terms
/// too small to matter before they cost an `exp`.
pub(crate) fn exp_sum(values: &[f32], scale: f32, shift: f32, floor: f32) -> f64 {
    let mut total = 0.0f64;
    for block in values.chunks(BLOCK) {
        let mut lanes = [0.0f32; LANES];
        let chunks = block.chunks_exact(LANES);
        let tail = chunks.remainder();
        for chunk in chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                let x = v * scale;
                let term = exp(x - shift);
                *lane += if x >= floor { term } else { 0.0 };
            }
        }
        for &v in tail {
            let x = v * scale;
            if x >= floor {
                lanes[0] += exp(x - shift);
            }
        }
        total += lanes.iter().map(|&l| f64::from(l)).sum::<f64>();
    }
    total
}

/// `e^x` for `x <= 0` (larger arguments are clamped to 0, smaller than -87 give ~0), accurate
/// to a relative 3e-7: `x = k ln 2 + r` with `|r| <= ln 2 / 2`, `e^r` by its Taylor series to
/// the 7th power (remainder under `r^8 / 8! < 5e-9`), and `2^k` written into the exponent bits.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that `k * LN2_HI` is exact for |k| < 2^9.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 0.0);
    let shifted = x * LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // The integer k sits in the low bits of `shifted` (as an offset from ROUND's own bits);
    // move it into the exponent field. k is in [-126, 0], so the result is a normal float.
    let k_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_k = f32::from_bits(k_bits.wrapping_add(127).wrapping_shl(23));
    p * two_k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_library_to_3e_7_relative() {
        let mut worst = 0.0f64;
        let mut x = 0.0f32;
        while x > -87.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            worst = worst.max(((got - want) / want).abs());
            x -= 0.000_731;
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        // Outside the range: clamped, never NaN or infinite.
        assert_eq!(exp(5.0), 1.0);
        assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn max_finds_the_largest_wherever_it_is() {
        assert_eq!(max(&[]), f32::NEG_INFINITY);
        assert_eq!(max(&[-3.0]), -3.0);
        for len in [1usize, 15, 16, 17, 33, 1000] {
            for at in [0, len / 2, len - 1] {
                let mut v: Vec<f32> = (0..len).map(|i| -(i as f32) - 1.0).collect();
                v[at] = 7.5;
                assert_eq!(max(&v), 7.5, "len {len}, at {at}");
            }
        }
        assert_eq!(max(&[f32::NAN, 2.0, f32::NAN]), 2.0);
        assert_eq!(max(&[f32::NEG_INFINITY; 20]), f32::NEG_INFINITY);
    }

    #[test]
    fn exp_sum_matches_a_plain_sum_and_respects_the_floor() {
        let values: Vec<f32> = (0..150_001)
            .map(|i| ((i * 7919) % 4001) as f32 * 0.01 - 30.0)
            .collect();
        let (scale, floor) = (1.25f32, -20.0f32);
        let shift = max(&values) * scale;
        let want: f64 = values
            .iter()
            .map(|&v| v * scale)
            .filter(|&x| x >= floor)
            .map(|x| f64::from(x - shift).exp())
            .sum();
        let got = exp_sum(&values, scale, shift, floor);
        assert!(((got - want) / want).abs() < 1e-6, "{got} vs {want}");
        // A floor above everything sums nothing; one at -inf sums every term.
        assert_eq!(exp_sum(&values, scale, shift, 1e9), 0.0);
        let all: f64 = values
            .iter()
            .map(|&v| f64::from(v * scale - shift).exp())
            .sum();
        let got = exp_sum(&values, scale, shift, f32::NEG_INFINITY);
        assert!(((got - all) / all).abs() < 1e-6);
    }
}
