//! Per-row cost of choosing a token, behind docs/PERFORMANCE.md's "Sampling" figures.
//!
//! `cargo bench -p crucible-infer --bench sampler_bench [-- ROWS]`
//!
//! A batched decode step hands the main thread one logit row per sequence while llama.cpp's
//! workers wait, so this cost multiplies by the batch size. Rows are synthetic but shaped like
//! the default model's (151,936 entries, a bulk within a few nats of each other, a handful of
//! likely tokens ~20 nats above it). The reference column is the straightforward scalar
//! implementation (fold with `f32::max`, the C library's `exp`); it measures what the
//! vectorised reductions save. Prints medians over the rows.
#![expect(clippy::print_stdout, reason = "a benchmark report")]

use std::hint::black_box;
use std::time::Instant;

use crucible_infer::sampler::{Sampler, greedy, token_logprob};
use crucible_types::SamplingParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VOCAB: usize = 151_936;

fn main() {
    let rows: usize = std::env::args()
        .skip(1)
        .find(|a| a != "--bench")
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let logits: Vec<Vec<f32>> = (0..16).map(|_| row(&mut rng)).collect();
    let sampling = SamplingParams {
        temperature: 0.8,
        top_k: 0,
        top_p: 0.95,
        min_p: 0.0,
    };
    let mut sampler = Sampler::new(sampling, 7, 0);
    println!("{VOCAB}-entry logit rows, median of {rows} rows, microseconds per row");
    println!("| work per row | crucible | scalar reference | reference / crucible |");
    println!("|---|---|---|---|");
    report(
        "greedy token + log-probability",
        rows,
        &logits,
        |l| token_logprob(l, greedy(l) as usize) as f32,
        |l| reference_logprob(l, reference_greedy(l)) as f32,
    );
    report(
        "sampled token (T 0.8, top-p 0.95) + log-probability",
        rows,
        &logits,
        |l| {
            let token = sampler.sample(l);
            token_logprob(l, token as usize) as f32
        },
        |l| reference_sampled(l, 0.8) as f32,
    );
}

/// Time `ours` and `reference` on the same rows, interleaved, and print the medians.
fn report(
    what: &str,
    rows: usize,
    logits: &[Vec<f32>],
    mut ours: impl FnMut(&[f32]) -> f32,
    mut reference: impl FnMut(&[f32]) -> f32,
) {
    let mut a = Vec::with_capacity(rows);
    let mut b = Vec::with_capacity(rows);
    for i in 0..rows {
        let row = &logits[i % logits.len()];
        let start = Instant::now();
        black_box(ours(black_box(row)));
        a.push(start.elapsed().as_secs_f64() * 1e6);
        let start = Instant::now();
        black_box(reference(black_box(row)));
        b.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let (a, b) = (median(a), median(b));
    println!("| {what} | {a:.0} | {b:.0} | {:.1}x |", b / a);
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// A bulk spread over a few nats, a tail, and a few likely tokens far above the bulk.
fn row(rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut logits: Vec<f32> = (0..VOCAB)
        .map(|_| {
            let u: f32 = rng.r#gen::<f32>() + rng.r#gen::<f32>() + rng.r#gen::<f32>();
            (u - 1.5) * 4.0
        })
        .collect();
    for bump in [22.0f32, 20.5, 19.0, 17.0, 15.0] {
        logits[rng.gen_range(0..VOCAB)] = bump;
    }
    logits
}

fn reference_greedy(logits: &[f32]) -> usize {
    let mut best = 0;
    for (idx, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = idx;
        }
    }
    best
}

fn reference_logprob(logits: &[f32], token: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits
        .iter()
        .filter(|&&l| l >= max - 30.0)
        .map(|&l| f64::from(l - max).exp())
        .sum();
    f64::from(logits[token] - max) - sum.ln()
}

/// Temperature, the weight of every token within 30 nats (f32 `exp`), the argmax as the
/// stand-in for the draw, and the log-probability: the work the previous sampler did.
fn reference_sampled(logits: &[f32], temperature: f32) -> f64 {
    let inv_t = 1.0 / temperature;
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) * inv_t;
    let mut total = 0.0f64;
    let mut best = 0;
    for (idx, &l) in logits.iter().enumerate() {
        let x = l * inv_t;
        if x >= max - 30.0 {
            total += f64::from((x - max).exp());
            if l > logits[best] {
                best = idx;
            }
        }
    }
    black_box(total);
    reference_logprob(logits, best)
}
