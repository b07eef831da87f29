//! Draft-model speculation with the real models: the 0.5B drafting for the 1.5B gives the 1.5B's
//! plain greedy text, alone and inside `generate_many`, with drafts really accepted; and a
//! draft model that cannot draft is refused at load.
//!
//! These tests need both models (`scripts/setup.sh` pulls them); without them they fail with
//! the command to run.

use std::sync::{Mutex, MutexGuard, OnceLock};

mod common;

use common::{installed_model, many};
use crucible_infer::{
    DraftCost, GenRequest, Generation, Generator, Prompt, Silent, SpecStats, Speculate,
};
use crucible_infer_llama::{LlamaConfig, LlamaGenerator};
use crucible_types::{Decoding, GenParams};

const TARGET: &str = "qwen2.5-coder-1.5b-instruct";
const DRAFT: &str = "qwen2.5-coder-0.5b-instruct";

fn config(speculate: Speculate, draft: Option<&str>) -> LlamaConfig {
    LlamaConfig {
        speculate,
        draft_model: draft.map(installed_model),
        draft_cost: Some(DraftCost { per_token: 0.0 }),
        ..common::config(1024)
    }
}

fn generator() -> MutexGuard<'static, LlamaGenerator> {
    static GENERATOR: OnceLock<Mutex<LlamaGenerator>> = OnceLock::new();
    GENERATOR
        .get_or_init(|| {
            let config = config(Speculate::Draft, Some(DRAFT));
            Mutex::new(LlamaGenerator::load(&installed_model(TARGET), TARGET, config).unwrap())
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A repair prompt (the answer copies the prompt) and free generation. (Greedy speculation
/// can differ from plain greedy decoding where the target's top two logits are within the
/// ~0.5 by which batched logits differ (docs/PERFORMANCE.md): the 1.5B continuing
/// "# A command-line word counter in Python\nimport sys\n" does, at its 17th token, so that
/// prompt is not here.)
const PROMPTS: [&str; 2] = [
    "# The function below has a bug. Here it is, then the corrected version.\n# Buggy:\ndef add_all(xs):\n    total = 1\n    for x in xs:\n        total += x\n    return total\n\n# Corrected:\n",
    "def merge_sorted(a, b):\n    \"\"\"Merge two sorted lists.\"\"\"\n",
];

fn request(text: &str) -> GenRequest {
    GenRequest {
        prompt: Prompt::Text { text: text.into() },
        params: GenParams {
            decoding: Decoding::Greedy,
            seed: 7,
            max_new_tokens: 20,
            stop: vec!["\n\n\n".into()],
            n: 1,
        },
    }
}

/// What greedy identity compares: text, token count and finish reason.
fn texts(generation: &Generation) -> Vec<(String, usize, crucible_infer::FinishReason)> {
    generation
        .completions
        .iter()
        .map(|c| (c.text.clone(), c.tokens, c.finish))
        .collect()
}

fn plain(generator: &mut LlamaGenerator) -> Vec<Generation> {
    generator.set_speculate(Speculate::Off).unwrap();
    PROMPTS
        .iter()
        .map(|text| generator.generate(&request(text), &mut Silent).unwrap())
        .collect()
}

#[test]
fn greedy_drafts_of_the_small_model_give_the_large_models_plain_text_alone_and_batched() {
    let mut generator = generator();
    let want = plain(&mut generator);
    generator.set_speculate(Speculate::Draft).unwrap();
    let mut stats = SpecStats::default();
    for (text, want) in PROMPTS.iter().zip(&want) {
        let got = generator.generate(&request(text), &mut Silent).unwrap();
        stats.add(
            got.speculation
                .expect("draft speculation reports its counts"),
        );
        assert_eq!(texts(want), texts(&got), "alone: {text}");
    }
    assert!(
        stats.accepted > 20,
        "the draft model's tokens were hardly accepted, so little was tested: {stats:?}"
    );
    // Two slots for three requests: drafts for two streams in one batch, a request admitted
    // (into a freed slot, its draft stream cleared) while another decodes, and rejected cells
    // dropped in both models.
    let order = [0, 1, 0];
    let requests: Vec<GenRequest> = order.iter().map(|&i| request(PROMPTS[i])).collect();
    let mut stats = SpecStats::default();
    for (i, got) in many(&mut *generator, &requests, 2).iter().enumerate() {
        let want = &want[order[i]];
        stats.add(
            got.speculation
                .expect("draft speculation reports its counts"),
        );
        assert_eq!(texts(want), texts(got), "generate_many, request {i}");
    }
    assert!(stats.accepted > 20, "generate_many: {stats:?}");
}

#[test]
fn beam_search_with_a_draft_model_is_refused_before_decoding() {
    let mut generator = generator();
    generator.set_speculate(Speculate::Draft).unwrap();
    let mut beam = request(PROMPTS[1]);
    beam.params.decoding = Decoding::Beam {
        width: 2,
        length_penalty: 1.0,
    };
    let err = generator.generate(&beam, &mut Silent).unwrap_err();
    assert!(err.to_string().contains("beam search cannot use"), "{err}");
}

#[test]
fn a_draft_model_larger_than_the_target_or_missing_is_refused_at_load() {
    let err = LlamaGenerator::load(
        &installed_model(DRAFT),
        DRAFT,
        config(Speculate::Draft, Some(TARGET)),
    )
    .unwrap_err();
    assert!(err.to_string().contains("is not smaller than"), "{err}");
    let err = LlamaGenerator::load(
        &installed_model(DRAFT),
        DRAFT,
        config(Speculate::Draft, None),
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs a draft model"), "{err}");
}
