//! Batch-invariant mode (`LlamaConfig::batch_invariant`) with the real models: greedy
//! speculation gives exactly plain greedy decoding's completions (text, tokens, finish and
//! log-probability), alone and inside `generate_many` with several slots, for prompt lookup on
//! HumanEval's prompts and repair prompts, and for the 0.5B drafting for the 1.5B; and a request
//! decoded beside others gives what it gives alone. Issue 21: "Greedy output is identical token
//! for token to plain greedy decoding. This is tested on many prompts, batched and alone."
//!
//! With llama.cpp's defaults these identities hold only away from near ties (the batched
//! verification's logits differ from one-token steps' by up to ~0.5, docs/PERFORMANCE.md): the
//! 1.5B's word-counter prompt below and two of HumanEval's first eight prompts (at 160 tokens)
//! did flip. Every model of this test binary is batch-invariant: the mode turns llama.cpp's
//! tiled product off for the whole process (see `src/invariant.rs`).
//!
//! These tests need the models and HumanEval (`scripts/setup.sh` installs them); without them
//! they fail with the command to run.

use std::sync::{Mutex, MutexGuard, OnceLock};

mod common;

use common::{humaneval_prompts, installed_model, many};
use crucible_infer::{
    Completion, DraftCost, GenRequest, Generation, Generator, Message, Prompt, Silent, SpecStats,
    Speculate,
};
use crucible_infer_llama::{LlamaConfig, LlamaGenerator};
use crucible_types::{Decoding, GenParams};

const SMALL: &str = "qwen2.5-coder-0.5b-instruct";
const LARGE: &str = "qwen2.5-coder-1.5b-instruct";

fn config(speculate: Speculate, draft: Option<&str>) -> LlamaConfig {
    LlamaConfig {
        speculate,
        draft_model: draft.map(installed_model),
        batch_invariant: true,
        flash_attention: crucible_infer::FlashAttention::Auto,
        draft_cost: Some(DraftCost { per_token: 0.0 }),
        ..common::config(2048)
    }
}

/// The 0.5B, prompt lookup.
fn small() -> MutexGuard<'static, LlamaGenerator> {
    static GENERATOR: OnceLock<Mutex<LlamaGenerator>> = OnceLock::new();
    GENERATOR
        .get_or_init(|| {
            let config = config(Speculate::Lookup, None);
            Mutex::new(LlamaGenerator::load(&installed_model(SMALL), SMALL, config).unwrap())
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The 1.5B with the 0.5B drafting.
fn large() -> MutexGuard<'static, LlamaGenerator> {
    static GENERATOR: OnceLock<Mutex<LlamaGenerator>> = OnceLock::new();
    GENERATOR
        .get_or_init(|| {
            let config = config(Speculate::Draft, Some(SMALL));
            Mutex::new(LlamaGenerator::load(&installed_model(LARGE), LARGE, config).unwrap())
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn greedy(prompt: Prompt, max_new_tokens: usize, stop: &str) -> GenRequest {
    GenRequest {
        prompt,
        params: GenParams {
            decoding: Decoding::Greedy,
            seed: 7,
            max_new_tokens,
            stop: vec![stop.into()],
            n: 1,
        },
    }
}

/// HumanEval's first prompts asked as bench/speculative/run.sh's `plain` kind asks them (fresh
/// code, where lookup finds less to copy), then repair prompts (the answer copies the prompt).
fn lookup_requests() -> Vec<GenRequest> {
    let mut requests: Vec<GenRequest> = humaneval_prompts(6)
        .into_iter()
        .map(|prompt| {
            let ask = format!(
                "Complete this Python function. Write the whole function, nothing else.\n\n```python\n{}\n```\n",
                prompt.trim()
            );
            let chat = Prompt::Chat {
                messages: vec![Message::user(ask)],
                prefill: "```python\n".into(),
            };
            greedy(chat, 40, "```")
        })
        .collect();
    let buggy = [
        "def add_all(xs):\n    total = 1\n    for x in xs:\n        total += x\n    return total\n",
        "def count_vowels(text):\n    count = 0\n    for ch in text:\n        if ch in 'aeiou':\n            count = 1\n    return count\n",
        "def max_of(values):\n    best = 0\n    for value in values:\n        if value < best:\n            best = value\n    return best\n",
    ];
    for program in buggy {
        let text = format!(
            "# The function below has a bug. Here it is, then the corrected version.\n# Buggy:\n{program}\n# Corrected:\n"
        );
        requests.push(greedy(Prompt::Text { text }, 40, "\n\n\n"));
    }
    requests
}

fn completions(generations: &[Generation]) -> Vec<&[Completion]> {
    generations.iter().map(|g| &g.completions[..]).collect()
}

fn alone(generator: &mut LlamaGenerator, requests: &[GenRequest]) -> Vec<Generation> {
    requests
        .iter()
        .map(|request| generator.generate(request, &mut Silent).unwrap())
        .collect()
}

fn accepted(generations: &[Generation]) -> SpecStats {
    let mut stats = SpecStats::default();
    for generation in generations {
        stats.add(generation.speculation.expect("speculation reports counts"));
    }
    stats
}

#[test]
fn greedy_lookup_gives_plain_greedy_completions_alone_and_in_generate_many() {
    let mut generator = small();
    let requests = lookup_requests();
    generator.set_speculate(Speculate::Off).unwrap();
    let want = alone(&mut generator, &requests);
    // Plain decoding of several requests at once: each gives what it gives alone.
    let batched = many(&mut *generator, &requests, 4);
    assert_eq!(completions(&want), completions(&batched), "off, 4 slots");

    generator.set_speculate(Speculate::Lookup).unwrap();
    let got = alone(&mut generator, &requests);
    assert_eq!(completions(&want), completions(&got), "lookup alone");
    let stats = accepted(&got);
    assert!(stats.accepted > 40, "too few drafts accepted: {stats:?}");
    // Three slots for nine requests: several streams' drafts in one batch, requests admitted
    // while others decode.
    let got = many(&mut *generator, &requests, 3);
    assert_eq!(completions(&want), completions(&got), "lookup, 3 slots");
    let stats = accepted(&got);
    assert!(
        stats.accepted > 40,
        "3 slots: too few drafts accepted: {stats:?}"
    );
}

#[test]
fn greedy_drafts_of_the_small_model_give_the_large_models_plain_completions() {
    let mut generator = large();
    // The first prompt flipped with llama.cpp's defaults: at its 17th token the 1.5B alone
    // wrote ` regular expression`, and with drafts ` whitespace as the delimiter`.
    let prompts = [
        "# A command-line word counter in Python\nimport sys\n",
        "# The function below has a bug. Here it is, then the corrected version.\n# Buggy:\ndef add_all(xs):\n    total = 1\n    for x in xs:\n        total += x\n    return total\n\n# Corrected:\n",
        "def merge_sorted(a, b):\n    \"\"\"Merge two sorted lists.\"\"\"\n",
    ];
    let requests: Vec<GenRequest> = prompts
        .iter()
        .map(|text| {
            greedy(
                Prompt::Text {
                    text: (*text).into(),
                },
                24,
                "\n\n\n",
            )
        })
        .collect();
    generator.set_speculate(Speculate::Off).unwrap();
    let want = alone(&mut generator, &requests);
    generator.set_speculate(Speculate::Draft).unwrap();
    let got = alone(&mut generator, &requests);
    assert_eq!(completions(&want), completions(&got), "draft alone");
    let stats = accepted(&got);
    assert!(stats.accepted > 20, "too few drafts accepted: {stats:?}");
    let got = many(&mut *generator, &requests, 2);
    assert_eq!(completions(&want), completions(&got), "draft, 2 slots");
}
