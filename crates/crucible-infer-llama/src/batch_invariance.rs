//! Batch invariance of llama.cpp's logits on this CPU, which greedy speculation's identity with
//! plain decoding rests on: a position's logits computed in a one-token step against the same
//! position inside a batch of several tokens. Measured (docs/PERFORMANCE.md): with llama.cpp's
//! defaults, batches of up to three tokens give the same logits bit for bit, and from four tokens
//! on (llama.cpp's repacked matrix-matrix kernels take rows by fours) they differ by up to ~0.5;
//! in batch-invariant mode (`LlamaConfig::batch_invariant`) every batch size gives the same bits.

/// The real default model's path, shared with the integration tests.
#[path = "../tests/common/mod.rs"]
pub(crate) mod common;

mod tests {
    use crate::{Layout, LlamaConfig, LlamaGenerator};
    use llama_cpp_2::llama_batch::LlamaBatch;

    use super::common;

    /// The widest difference between a batch's logits and one-token steps', for each batch
    /// width, and how many positions' greedy choices differ.
    struct Width {
        width: usize,
        max_diff: f32,
        argmax_diff: usize,
    }

    /// Evaluate a short program once in one-token steps and then in batches of each width, after
    /// the same prompt; compare every position's logits.
    fn measure(batch_invariant: bool, widths: &[usize]) -> Vec<Width> {
        let config = LlamaConfig {
            threads: 2,
            context_length: Some(4096),
            batch_size: 512,
            slot_cells: None,
            lora: None,
            speculate: crucible_infer::Speculate::Off,
            draft_model: None,
            batch_invariant,
            flash_attention: crucible_infer::FlashAttention::Auto,
            draft_cost: None,
            prompt_cache_bytes: crate::DEFAULT_PROMPT_CACHE_BYTES,
            kv_shift: false,
        };
        let mut generator = LlamaGenerator::load(&common::default_model(), "test", config).unwrap();
        let prompt = generator.tokenize(
            "def fibonacci(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
        );
        let follow = generator.tokenize(
            "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n\ndef is_prime(n):\n    return n > 1 and all(n % d for d in range(2, n))\n",
        );
        let n = prompt.len();
        let session = generator
            .session(Layout::Unified {
                n_ctx: 1024,
                n_seq: 1,
            })
            .unwrap();
        let ctx = &mut session.ctx;
        let mut batch = LlamaBatch::new(512, 1);
        for (i, &t) in prompt.iter().enumerate() {
            batch.add(t, i as i32, &[0], false).unwrap();
        }
        ctx.decode(&mut batch).unwrap();
        // Alone: one token per call.
        let mut alone = Vec::new();
        for (j, &t) in follow.iter().enumerate() {
            batch.clear();
            batch.add(t, (n + j) as i32, &[0], true).unwrap();
            ctx.decode(&mut batch).unwrap();
            alone.push(ctx.get_logits_ith(0).to_vec());
        }
        let mut results = Vec::new();
        for &width in widths {
            ctx.clear_kv_cache_seq(Some(0), Some(n as u32), None)
                .unwrap();
            let mut result = Width {
                width,
                max_diff: 0.0,
                argmax_diff: 0,
            };
            for (c, chunk) in follow.chunks(width).enumerate() {
                batch.clear();
                for (o, &t) in chunk.iter().enumerate() {
                    batch
                        .add(t, (n + c * width + o) as i32, &[0], true)
                        .unwrap();
                }
                ctx.decode(&mut batch).unwrap();
                for o in 0..chunk.len() {
                    let got = ctx.get_logits_ith(o as i32);
                    let want = &alone[c * width + o];
                    let d = got
                        .iter()
                        .zip(want)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0f32, f32::max);
                    result.max_diff = result.max_diff.max(d);
                    if crucible_infer::sampler::greedy(got) != crucible_infer::sampler::greedy(want)
                    {
                        result.argmax_diff += 1;
                    }
                }
            }
            results.push(result);
        }
        results
    }

    /// Both modes in one test, batch-invariant first: the mode switches llama.cpp's tiled
    /// product off for the process, which must happen before any other model computes (so the
    /// defaults are measured here without the tiled product, which only the Q6_K tensors take,
    /// from eight tokens on; the repacked Q4_K ones still differ from four on).
    #[test]
    fn batch_invariant_mode_gives_the_same_bits_for_every_batch_size_and_the_defaults_do_not() {
        let widths: Vec<usize> = (1..=9).chain([11, 16]).collect();
        for result in measure(true, &widths) {
            assert_eq!(
                (result.max_diff, result.argmax_diff),
                (0.0, 0),
                "batch-invariant mode, width {}",
                result.width
            );
        }
        for result in measure(false, &[2, 3, 4, 5, 8]) {
            if result.width < 4 {
                assert_eq!(result.max_diff, 0.0, "defaults, width {}", result.width);
            } else {
                assert!(
                    result.max_diff > 0.0 && result.max_diff < 1.0,
                    "defaults, width {}: {}",
                    result.width,
                    result.max_diff
                );
            }
            // Greedy choices on this text are the same either way.
            assert_eq!(result.argmax_diff, 0, "defaults, width {}", result.width);
        }
    }
}
