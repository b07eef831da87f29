//! Batch invariance of llama.cpp's logits on this CPU, which greedy speculation's identity with
//! plain decoding rests on: a position's logits computed in a one-token step against the same
//! position inside a batch of several tokens. Measured (docs/PERFORMANCE.md): batches of up to
//! three tokens give the same logits bit for bit; from four tokens on (llama.cpp's repacked
//! matrix-matrix kernels take rows by fours) they differ by up to ~0.5.

/// The real default model's path, shared with the integration tests.
#[path = "../tests/common/mod.rs"]
mod common;

mod tests {
    use crate::{Layout, LlamaConfig, LlamaGenerator};
    use llama_cpp_2::llama_batch::LlamaBatch;

    use super::common;

    /// Batch invariance: the logits of a position computed alone (one token per decode call)
    /// against the same positions evaluated in one batch of several tokens.
    #[test]
    fn batches_under_four_tokens_match_one_token_steps_and_larger_ones_stay_close() {
        let config = LlamaConfig {
            threads: 2,
            context_length: Some(4096),
            batch_size: 512,
            slot_cells: None,
            lora: None,
            speculate: crucible_infer::Speculate::Off,
            draft_model: None,
        };
        let mut generator = LlamaGenerator::load(&common::default_model(), "test", config).unwrap();
        let prompt = generator.tokenize(
            "def fibonacci(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
        );
        let follow = generator.tokenize(
            "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
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
        for width in [3usize, 4, 5, 8] {
            let mut per_row = vec![0f32; width];
            ctx.clear_kv_cache_seq(Some(0), Some(n as u32), None)
                .unwrap();
            let mut max_diff = 0f32;
            let mut argmax_diff = 0;
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
                    max_diff = max_diff.max(d);
                    per_row[o] = per_row[o].max(d);
                    if crucible_infer::sampler::greedy(got) != crucible_infer::sampler::greedy(want)
                    {
                        argmax_diff += 1;
                    }
                }
            }
            if width < 4 {
                assert_eq!(max_diff, 0.0, "width {width}: per row {per_row:?}");
            } else {
                assert!(max_diff < 1.0, "width {width}: per row {per_row:?}");
            }
            // Greedy choices on this text are the same either way.
            assert_eq!(argmax_diff, 0, "width {width}: per row {per_row:?}");
        }
    }
}
