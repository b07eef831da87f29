//! Prompt-lookup speculation with the real default model: greedy output is the same as plain
//! greedy decoding, alone and inside `generate_many`, and drafts are really accepted (a test
//! whose drafts all failed would check nothing).
//!
//! These tests need the default model (`scripts/test.sh` pulls it); without it they fail with
//! the command to run.

use std::sync::{Mutex, MutexGuard, OnceLock};

mod common;

use common::{default_model, many};
use crucible_infer::{
    DraftCost, GenRequest, Generation, Generator, Prompt, Silent, SpecStats, Speculate,
};
use crucible_infer_llama::{LlamaConfig, LlamaGenerator};
use crucible_types::{Decoding, GenParams};

fn generator() -> MutexGuard<'static, LlamaGenerator> {
    static GENERATOR: OnceLock<Mutex<LlamaGenerator>> = OnceLock::new();
    GENERATOR
        .get_or_init(|| {
            let config = LlamaConfig {
                speculate: Speculate::Lookup,
                draft_cost: Some(DraftCost { per_token: 0.0 }),
                ..common::config(2048)
            };
            Mutex::new(LlamaGenerator::load(&default_model(), "test", config).unwrap())
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Small programs with a bug each: the answer rewrites most of the prompt, where lookup pays.
const PROGRAMS: [&str; 6] = [
    "def add_all(xs):\n    total = 1\n    for x in xs:\n        total += x\n    return total\n",
    "def is_palindrome(s: str) -> bool:\n    s = s.lower()\n    return s == s[1:][::-1]\n",
    "def count_vowels(text):\n    count = 0\n    for ch in text:\n        if ch in 'aeiou':\n            count = 1\n    return count\n",
    "def max_of(values):\n    best = 0\n    for value in values:\n        if value < best:\n            best = value\n    return best\n",
    "def fizzbuzz(n):\n    out = []\n    for i in range(n):\n        if i % 15 == 0:\n            out.append('FizzBuzz')\n        elif i % 3 == 0:\n            out.append('Fizz')\n        elif i % 5 == 0:\n            out.append('Buzz')\n        else:\n            out.append(str(i))\n    return out\n",
    "def mean(xs):\n    if not xs:\n        return 0\n    return sum(xs) / len(xs) + 1\n",
];

fn repair_prompt(program: &str) -> String {
    format!(
        "# The function below has a bug. Here it is, then the corrected version.\n# Buggy:\n{program}\n# Corrected:\n"
    )
}

fn request(text: String, decoding: Decoding, n: usize) -> GenRequest {
    GenRequest {
        prompt: Prompt::Text { text },
        params: GenParams {
            decoding,
            seed: 7,
            max_new_tokens: 48,
            stop: vec!["\n\n\n".into()],
            n,
        },
    }
}

fn prompts() -> Vec<String> {
    let mut prompts: Vec<String> = PROGRAMS.iter().map(|p| repair_prompt(p)).collect();
    // Free generation, where lookup finds little.
    prompts.push("def merge_sorted(a, b):\n    \"\"\"Merge two sorted lists.\"\"\"\n".into());
    prompts.push("# A command-line word counter in Python\nimport sys\n".into());
    prompts
}

/// What greedy identity compares: each sequence's text, token count and finish reason. (The
/// log-probabilities differ in the last digits: logits computed in a batch of several tokens
/// differ slightly from one-token steps.)
fn texts(generation: &Generation) -> Vec<(String, usize, crucible_infer::FinishReason)> {
    generation
        .completions
        .iter()
        .map(|c| (c.text.clone(), c.tokens, c.finish))
        .collect()
}

fn generate(
    generator: &mut LlamaGenerator,
    speculate: Speculate,
    request: &GenRequest,
) -> Generation {
    generator.set_speculate(speculate).unwrap();
    generator.generate(request, &mut Silent).unwrap()
}

#[test]
fn greedy_lookup_gives_the_plain_greedy_text_alone() {
    let mut generator = generator();
    let mut stats = SpecStats::default();
    let mut mismatches = Vec::new();
    for text in prompts() {
        let request = request(text.clone(), Decoding::Greedy, 1);
        let plain = generate(&mut generator, Speculate::Off, &request);
        let spec = generate(&mut generator, Speculate::Lookup, &request);
        assert!(plain.speculation.is_none());
        stats.add(spec.speculation.expect("lookup reports its counts"));
        if texts(&plain) != texts(&spec) {
            mismatches.push((
                text,
                plain.completions[0].text.clone(),
                spec.completions[0].text.clone(),
            ));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert!(
        stats.accepted > 20,
        "lookup accepted too few drafts to test anything: {stats:?}"
    );
}

#[test]
fn greedy_lookup_inside_generate_many_gives_the_plain_greedy_text() {
    let mut generator = generator();
    let requests: Vec<GenRequest> = prompts()
        .into_iter()
        .map(|text| request(text, Decoding::Greedy, 1))
        .collect();
    generator.set_speculate(Speculate::Off).unwrap();
    let alone: Vec<Generation> = requests
        .iter()
        .map(|r| generator.generate(r, &mut Silent).unwrap())
        .collect();
    generator.set_speculate(Speculate::Lookup).unwrap();
    // Three requests in flight: drafts of several streams in one batch, each with
    // its own rejected cells removed.
    for slots in [3] {
        let batched = many(&mut *generator, &requests, slots);
        let mut stats = SpecStats::default();
        for (i, (want, got)) in alone.iter().zip(&batched).enumerate() {
            stats.add(got.speculation.expect("lookup reports its counts"));
            assert_eq!(texts(want), texts(got), "request {i} with {slots} slots");
        }
        assert!(
            stats.accepted > 20,
            "{slots} slots: too few drafts accepted: {stats:?}"
        );
    }
}

#[test]
fn sampled_lookup_runs_inside_generate_many_with_several_sequences() {
    let mut generator = generator();
    let sampling = Decoding::Sample(crucible_types::SamplingParams {
        temperature: 0.8,
        top_k: 0,
        top_p: 0.95,
        min_p: 0.0,
    });
    let requests: Vec<GenRequest> = prompts()[..2]
        .iter()
        .map(|text| request(text.clone(), sampling, 2))
        .collect();
    generator.set_speculate(Speculate::Lookup).unwrap();
    let first = many(&mut *generator, &requests, 4);
    let again = many(&mut *generator, &requests, 4);
    let mut stats = SpecStats::default();
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(a.completions.len(), 2);
        // Same seeds and the same batches: the same samples.
        assert_eq!(texts(a), texts(b));
        stats.add(a.speculation.expect("lookup reports its counts"));
    }
    assert!(stats.accepted > 0, "{stats:?}");
}
