//! Prompt-lookup speculative decoding: draft tokens by matching the last n-gram against the
//! prompt and the text so far, verify them in one batch.

/// The real default model's path, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod common;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layout, LlamaConfig, LlamaGenerator};
    use llama_cpp_2::llama_batch::LlamaBatch;

    use super::common;

    /// Batch invariance: the logits of a position computed alone (one token per decode call)
    /// against the same positions evaluated in one batch of several tokens.
    #[test]
    fn probe_batch_invariance() {
        let config = LlamaConfig {
            threads: 2,
            context_length: Some(4096),
            batch_size: 512,
            slot_cells: None,
            lora: None,
            speculate: crucible_infer::Speculate::Off,
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
            eprintln!(
                "width {width}: per row {per_row:?} max |logit diff| {max_diff}, argmax differs at {argmax_diff} of {} positions",
                follow.len()
            );
        }
    }
}
