//! `crucible bench inference`: prompt and decode throughput, batched sampling, peak memory,
//! measured the way llama.cpp's `llama-bench` measures (fixed token counts, end-of-generation
//! tokens ignored) so the two can be compared side by side.

use serde::Serialize;

use crate::{Result, Settings};

/// What to measure.
#[derive(Debug, Clone)]
pub struct InferenceBenchParams {
    /// Prompt length for the prompt-processing measurement.
    pub prompt_tokens: usize,
    /// Tokens generated per sequence.
    pub gen_tokens: usize,
    /// Batch sizes for the batched-sampling curve.
    pub batch_sizes: Vec<usize>,
    /// Sequences generated one after another for the sequential baseline (0 = skip).
    pub sequential: usize,
    /// Repetitions of each measurement; medians are reported.
    pub repeats: usize,
}

/// One point of the batched-sampling curve.
#[derive(Debug, Clone, Serialize)]
pub struct BatchPoint {
    pub n: usize,
    /// Generated tokens per second of decode time, over all sequences (median).
    pub decode_tok_s: f64,
    /// Generated tokens per second of wall time including the shared prompt (median).
    pub end_to_end_tok_s: f64,
}

/// Results.
#[derive(Debug, Clone, Serialize)]
pub struct InferenceBench {
    pub model: String,
    /// Whether the model's Q5_0 weights ran widened to Q8_0 (`--weights widen`).
    pub widened: bool,
    pub threads: usize,
    pub prompt_tokens: usize,
    pub gen_tokens: usize,
    /// Prompt processing, tokens per second (median).
    pub prompt_tok_s: f64,
    /// Single-sequence greedy decoding, tokens per second (median).
    pub decode_tok_s: f64,
    pub batched: Vec<BatchPoint>,
    /// `sequential` sampled sequences generated one request at a time, each with its own
    /// prompt evaluation: generated tokens per second of wall time (median).
    pub sequential: Option<BatchPoint>,
    /// Peak resident memory of this process (VmHWM), MiB.
    pub peak_rss_mib: f64,
    pub load_seconds: f64,
}

/// Run the benchmark on the configured model.
#[cfg(feature = "llama")]
pub fn run_inference_bench(
    settings: &Settings,
    params: &InferenceBenchParams,
    progress: &mut dyn FnMut(&str),
) -> Result<InferenceBench> {
    use crucible_types::{Decoding, GenParams, SamplingParams};

    let started = std::time::Instant::now();
    let (resolved, gguf) = crate::backend::resolve_model(settings, &mut |_| {})?;
    let weights =
        crate::backend::local_weights(settings, &resolved, &gguf, crucible_model::Weights::AsIs)?;
    let mut generator = crate::backend::load_llama(settings, &resolved, &weights)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let repeats = params.repeats.max(1);
    let sampling = |n: usize, seed: u64| GenParams {
        decoding: Decoding::Sample(SamplingParams {
            temperature: 0.8,
            top_k: 0,
            top_p: 0.95,
            min_p: 0.0,
        }),
        seed,
        max_new_tokens: params.gen_tokens,
        stop: Vec::new(),
        n,
    };
    let greedy = GenParams {
        decoding: Decoding::Greedy,
        seed: 0,
        max_new_tokens: params.gen_tokens,
        stop: Vec::new(),
        n: 1,
    };
    // Warm-up: first touches of the weights and the context allocation.
    generator.bench_run(
        16,
        &GenParams {
            max_new_tokens: 4,
            ..greedy.clone()
        },
    )?;
    let mut prompt_rates = Vec::new();
    let mut decode_rates = Vec::new();
    for rep in 0..repeats {
        progress(&format!(
            "prompt {} + greedy decode {} tokens ({}/{repeats})",
            params.prompt_tokens,
            params.gen_tokens,
            rep + 1
        ));
        let pp = generator.bench_run(
            params.prompt_tokens,
            &GenParams {
                max_new_tokens: 1,
                ..greedy.clone()
            },
        )?;
        prompt_rates.push(pp.prompt_tokens as f64 / (pp.prompt_ms / 1000.0));
        let tg = generator.bench_run(1, &greedy)?;
        decode_rates.push(tg.generated_tokens() as f64 / (tg.decode_ms / 1000.0));
    }
    let mut batched = Vec::new();
    for &n in &params.batch_sizes {
        let mut decode = Vec::new();
        let mut end_to_end = Vec::new();
        for rep in 0..repeats {
            progress(&format!("batched sampling n={n} ({}/{repeats})", rep + 1));
            let out = generator.bench_run(params.prompt_tokens, &sampling(n, rep as u64))?;
            let tokens = out.generated_tokens() as f64;
            decode.push(tokens / (out.decode_ms / 1000.0));
            end_to_end.push(tokens / ((out.prompt_ms + out.decode_ms) / 1000.0));
        }
        batched.push(BatchPoint {
            n,
            decode_tok_s: median(&mut decode),
            end_to_end_tok_s: median(&mut end_to_end),
        });
    }
    let sequential = if params.sequential > 0 {
        let mut decode = Vec::new();
        let mut end_to_end = Vec::new();
        for rep in 0..repeats {
            progress(&format!(
                "{} sequential samples ({}/{repeats})",
                params.sequential,
                rep + 1
            ));
            let (mut tokens, mut decode_ms, mut total_ms) = (0.0, 0.0, 0.0);
            for idx in 0..params.sequential {
                let out = generator.bench_run(
                    params.prompt_tokens,
                    &sampling(1, (rep * 1000 + idx) as u64),
                )?;
                tokens += out.generated_tokens() as f64;
                decode_ms += out.decode_ms;
                total_ms += out.prompt_ms + out.decode_ms;
            }
            decode.push(tokens / (decode_ms / 1000.0));
            end_to_end.push(tokens / (total_ms / 1000.0));
        }
        Some(BatchPoint {
            n: params.sequential,
            decode_tok_s: median(&mut decode),
            end_to_end_tok_s: median(&mut end_to_end),
        })
    } else {
        None
    };
    Ok(InferenceBench {
        model: resolved.name,
        widened: weights.widened,
        threads: settings.threads,
        prompt_tokens: params.prompt_tokens,
        gen_tokens: params.gen_tokens,
        prompt_tok_s: median(&mut prompt_rates),
        decode_tok_s: median(&mut decode_rates),
        batched,
        sequential,
        peak_rss_mib: peak_rss_mib(),
        load_seconds,
    })
}

/// Without the llama.cpp backend there is nothing to measure.
#[cfg(not(feature = "llama"))]
pub fn run_inference_bench(
    _settings: &Settings,
    _params: &InferenceBenchParams,
    _progress: &mut dyn FnMut(&str),
) -> Result<InferenceBench> {
    Err(crate::Error::NoLocalBackend)
}

#[cfg(any(feature = "llama", test))]
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Peak resident set size of this process from `/proc/self/status` (0 where unavailable).
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        assert!(peak_rss_mib() > 0.0);
    }
}
