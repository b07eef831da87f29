//! A LoRA adapter applied at load: the test writes two tiny GGUF adapters for the default
//! model's architecture (rank 4 on the first layer's attention value and query projections),
//! one with B = 0 and one with B != 0, and scores a text with the model alone and with each.
//! The zero adapter leaves every log-probability as it was; the other one changes them; an
//! adapter for other sizes is a clear error.
//!
//! Needs the default model (`scripts/test.sh` pulls it); without it the test fails with the
//! command to run. The model file is memory-mapped, so its three loads read it once.

mod common;

use std::path::Path;

use common::default_model;
use crucible_gguf::{F32Tensor, MetaValue, write_gguf};
use crucible_infer::{TextScorer, WindowRule};
use crucible_infer_llama::{LlamaConfig, LlamaGenerator, LoraAdapter};

const RANK: u64 = 4;

/// A rank-4 adapter for `targets` of `model`, with B filled by `b` (A is a fixed pattern).
fn write_adapter(model: &Path, out: &Path, targets: &[&str], b: f32, wrong_size: bool) {
    let gguf = crucible_gguf::load_gguf(model).unwrap();
    let arch = gguf.architecture().unwrap().to_owned();
    let mut tensors = Vec::new();
    for target in targets {
        let base = gguf
            .tensors
            .iter()
            .find(|t| t.name == *target)
            .unwrap_or_else(|| panic!("the model has no `{target}`"));
        let (n_in, n_out) = (base.shape[0] + u64::from(wrong_size), base.shape[1]);
        let a: Vec<f32> = (0..n_in * RANK)
            .map(|i| if i % 3 == 0 { 0.08 } else { -0.05 })
            .collect();
        tensors.push(F32Tensor {
            name: format!("{target}.lora_a"),
            shape: vec![n_in, RANK],
            data: a,
        });
        tensors.push(F32Tensor {
            name: format!("{target}.lora_b"),
            shape: vec![RANK, n_out],
            data: vec![b; (RANK * n_out) as usize],
        });
    }
    let metadata = [
        ("general.architecture", MetaValue::String(arch)),
        ("general.type", MetaValue::String("adapter".into())),
        ("adapter.type", MetaValue::String("lora".into())),
        ("adapter.lora.alpha", MetaValue::F32(RANK as f32)),
    ];
    write_gguf(std::fs::File::create(out).unwrap(), &metadata, &tensors).unwrap();
}

fn load(model: &Path, lora: Option<&Path>) -> Result<LlamaGenerator, crucible_infer::Error> {
    let config = LlamaConfig {
        threads: 2,
        context_length: Some(256),
        batch_size: 256,
        slot_cells: None,
        lora: lora.map(|path| LoraAdapter {
            path: path.to_owned(),
            scale: 1.0,
        }),
        speculate: crucible_infer::Speculate::Off,
        draft_model: None,
        batch_invariant: false,
        flash_attention: crucible_infer::FlashAttention::Auto,
        draft_cost: None,
        prompt_cache_bytes: crucible_infer_llama::DEFAULT_PROMPT_CACHE_BYTES,
        kv_shift: false,
    };
    LlamaGenerator::load(model, "test", config)
}

fn score(generator: &mut LlamaGenerator) -> Vec<f64> {
    let text = "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n";
    generator
        .score_text(
            text,
            WindowRule::Sliding {
                window: 64,
                stride: 64,
            },
        )
        .unwrap()
        .logprobs
}

#[test]
fn adapters_apply_at_load() {
    let model = default_model();
    let dir = tempfile::tempdir().unwrap();
    let targets = ["blk.0.attn_q.weight", "blk.0.attn_v.weight"];
    let (zero, nonzero, wrong) = (
        dir.path().join("zero.gguf"),
        dir.path().join("nonzero.gguf"),
        dir.path().join("wrong.gguf"),
    );
    write_adapter(&model, &zero, &targets, 0.0, false);
    write_adapter(&model, &nonzero, &targets, 0.05, false);
    write_adapter(&model, &wrong, &targets, 0.05, true);

    let base = score(&mut load(&model, None).unwrap());
    let with_zero = score(&mut load(&model, Some(&zero)).unwrap());
    let with_nonzero = score(&mut load(&model, Some(&nonzero)).unwrap());
    assert_eq!(base.len(), with_zero.len());
    let max_diff = |x: &[f64], y: &[f64]| {
        x.iter()
            .zip(y)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    assert!(
        max_diff(&base, &with_zero) < 1e-4,
        "B = 0 changed the log-probabilities by {}",
        max_diff(&base, &with_zero)
    );
    assert!(
        max_diff(&base, &with_nonzero) > 1e-2,
        "a non-zero adapter changed nothing (max {})",
        max_diff(&base, &with_nonzero)
    );
    let err = load(&model, Some(&wrong)).unwrap_err().to_string();
    assert!(err.contains("could not apply the LoRA adapter"), "{err}");
}
