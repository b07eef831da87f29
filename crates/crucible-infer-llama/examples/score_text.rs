//! Score a text file with a GGUF model and print its mean log-probability and perplexity as JSON (for bench/metrics/perplexity_check.sh).
//!
//! Usage: score_text MODEL.gguf TEXT_FILE (sliding WINDOW STRIDE | llama-perplexity N_CTX) [THREADS]

use std::path::Path;

use crucible_infer::{TextScorer, WindowRule};
use crucible_infer_llama::{LlamaConfig, LlamaGenerator};

#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line example"
)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: score_text MODEL.gguf TEXT_FILE (sliding WINDOW STRIDE | llama-perplexity N_CTX) [THREADS]";
    let number = |index: usize| -> usize {
        args.get(index)
            .and_then(|arg| arg.parse().ok())
            .unwrap_or_else(|| panic!("{usage}"))
    };
    let (rule, next) = match args.get(3).map(String::as_str) {
        Some("sliding") => (
            WindowRule::Sliding {
                window: number(4),
                stride: number(5),
            },
            6,
        ),
        Some("llama-perplexity") => (WindowRule::LlamaPerplexity { n_ctx: number(4) }, 5),
        _ => panic!("{usage}"),
    };
    let threads = args.get(next).and_then(|arg| arg.parse().ok()).unwrap_or(2);
    let text = std::fs::read_to_string(&args[2]).unwrap_or_else(|err| panic!("{}: {err}", args[2]));
    let config = LlamaConfig {
        threads,
        context_length: None,
        batch_size: 512,
        slot_cells: None,
        lora: None,
        speculate: crucible_infer::Speculate::Off,
        draft_model: None,
        batch_invariant: false,
        flash_attention: crucible_infer::FlashAttention::Auto,
        draft_cost: None,
        prompt_cache_bytes: crucible_infer_llama::DEFAULT_PROMPT_CACHE_BYTES,
        kv_shift: false,
    };
    let mut model = LlamaGenerator::load(Path::new(&args[1]), "model", config)
        .unwrap_or_else(|err| panic!("{err}"));
    match model.score_text(&text, rule) {
        Ok(scored) => {
            let n = scored.logprobs.len() as f64;
            let mean = scored.logprobs.iter().sum::<f64>() / n;
            println!(
                "{{\"tokens\": {}, \"scored\": {}, \"windows\": {}, \"mean_logprob\": {mean}, \"perplexity\": {}}}",
                scored.tokens,
                scored.logprobs.len(),
                scored.windows,
                (-mean).exp()
            );
        }
        Err(err) => {
            eprintln!("score_text: {err}");
            std::process::exit(1);
        }
    }
}
