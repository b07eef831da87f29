//! Decode speed with and without speculation (prompt lookup or a draft model) on the same
//! prompts, alternating the two per prompt so both see the same machine load (for
//! bench/speculative/run.sh).
//!
//! Usage: speculate_bench [--batch-invariant] MODEL.gguf PROMPTS_FILE MAX_NEW_TOKENS [THREADS [MODE [DRAFT.gguf]]]
//! MODE is `lookup` (the default) or `draft` (needs DRAFT.gguf); `--batch-invariant` loads the
//! model(s) in batch-invariant mode (`LlamaConfig::batch_invariant`).
//! PROMPTS_FILE holds user messages separated by lines `<<<END>>>`; each is asked as a chat with
//! a code-fence prefill, greedily. Prints one JSON line per mode with tokens, decode seconds,
//! tokens/s, prompt evaluation (tokens and seconds, each prompt once per mode) and acceptance, and
//! how many answers were identical between the modes.

use std::path::Path;

use crucible_infer::{GenRequest, Generator, Message, Prompt, Silent, SpecStats, Speculate};
use crucible_infer_llama::{LlamaConfig, LlamaGenerator};
use crucible_types::{Decoding, GenParams};

#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line example"
)]
fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let batch_invariant = args.iter().any(|arg| arg == "--batch-invariant");
    args.retain(|arg| arg != "--batch-invariant");
    let usage = "usage: speculate_bench [--batch-invariant] MODEL.gguf PROMPTS_FILE MAX_NEW_TOKENS [THREADS [lookup|draft [DRAFT.gguf]]]";
    let (Some(model), Some(file), Some(max_new)) = (args.get(1), args.get(2), args.get(3)) else {
        panic!("{usage}");
    };
    let max_new_tokens: usize = max_new.parse().unwrap_or_else(|_| panic!("{usage}"));
    let threads = args.get(4).and_then(|arg| arg.parse().ok()).unwrap_or(2);
    let mode: Speculate = args
        .get(5)
        .map(|arg| arg.parse().unwrap_or_else(|err| panic!("{err}; {usage}")))
        .unwrap_or(Speculate::Lookup);
    let draft_model = args.get(6).map(std::path::PathBuf::from);
    let text = std::fs::read_to_string(file).unwrap_or_else(|err| panic!("{file}: {err}"));
    let prompts: Vec<&str> = text
        .split("<<<END>>>\n")
        .filter(|p| !p.trim().is_empty())
        .collect();
    let config = LlamaConfig {
        threads,
        context_length: Some(4096),
        batch_size: 512,
        slot_cells: None,
        lora: None,
        speculate: Speculate::Off,
        draft_model,
        batch_invariant,
        flash_attention: crucible_infer::FlashAttention::Auto,
        draft_cost: None,
        prompt_cache_bytes: crucible_infer_llama::DEFAULT_PROMPT_CACHE_BYTES,
        kv_shift: false,
    };
    let mut generator = LlamaGenerator::load(Path::new(model), "bench", config)
        .unwrap_or_else(|err| panic!("{err}"));
    let modes = [Speculate::Off, mode];
    let mut tokens = [0usize; 2];
    let mut decode_ms = [0f64; 2];
    let mut prompt_tokens = [0usize; 2];
    let mut prompt_ms = [0f64; 2];
    let mut stats = SpecStats::default();
    let mut identical = 0;
    for (i, prompt) in prompts.iter().enumerate() {
        let request = GenRequest {
            prompt: Prompt::Chat {
                messages: vec![Message::user(*prompt)],
                prefill: "```python\n".into(),
            },
            params: GenParams {
                decoding: Decoding::Greedy,
                seed: 0,
                max_new_tokens,
                stop: vec!["```".into()],
                n: 1,
            },
        };
        let mut texts = Vec::new();
        // Alternate which mode goes first, so neither always runs on a warmer cache.
        for m in [i % 2, 1 - i % 2] {
            generator.set_speculate(modes[m]).unwrap();
            let out = generator.generate(&request, &mut Silent).unwrap();
            tokens[m] += out.generated_tokens();
            decode_ms[m] += out.decode_ms;
            prompt_tokens[m] += out.prompt_tokens;
            prompt_ms[m] += out.prompt_ms;
            if let Some(s) = out.speculation {
                stats.add(s);
            }
            texts.push(out.completions[0].text.clone());
        }
        identical += usize::from(texts[0] == texts[1]);
        eprintln!("prompt {}/{}", i + 1, prompts.len());
    }
    for (m, mode) in modes.iter().enumerate() {
        println!(
            "{{\"mode\":\"{mode}\",\"batch_invariant\":{batch_invariant},\"prompts\":{},\"tokens\":{},\"decode_s\":{:.3},\"tok_s\":{:.2},\"prompt_tokens\":{},\"prompt_s\":{:.3},\"prompt_tok_s\":{:.1}{}}}",
            prompts.len(),
            tokens[m],
            decode_ms[m] / 1000.0,
            tokens[m] as f64 / decode_ms[m] * 1000.0,
            prompt_tokens[m],
            prompt_ms[m] / 1000.0,
            prompt_tokens[m] as f64 / prompt_ms[m] * 1000.0,
            if *mode != Speculate::Off {
                format!(
                    ",\"drafted\":{},\"accepted\":{},\"acceptance\":{:.3},\"identical\":{identical}",
                    stats.drafted,
                    stats.accepted,
                    stats.acceptance().unwrap_or(0.0)
                )
            } else {
                String::new()
            }
        );
    }
}
