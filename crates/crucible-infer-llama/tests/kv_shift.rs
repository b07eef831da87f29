//! KV shifting with the real default model: after a keystroke in the middle of a fill prompt,
//! the next request keeps the cells of the text after the cursor, moved to their new
//! positions, and evaluates only the tokens that changed and a few after them; a deleted
//! character moves them back.
//! Greedy answers match those of cold requests for the same prompts here (the moved cells are
//! an approximation, so this is checked on a prompt whose answer is clear, not promised in
//! general). Lookup speculation also drafts from the last answer, which the user may be typing
//! along.
//!
//! These tests need the default model (`scripts/test.sh` pulls it). Without it they fail with
//! the command to run, rather than passing without having checked anything.

mod common;

use common::default_model;
use crucible_infer::{FimTokens, GenRequest, Generator, Infill, Prompt, Silent};
use crucible_infer_llama::{LlamaConfig, LlamaGenerator};
use crucible_types::GenParams;

/// A greedy fill-in-the-middle request for at most `max_new_tokens`.
fn fill(tokens: &FimTokens, prefix: String, suffix: &str, max_new_tokens: usize) -> GenRequest {
    GenRequest {
        prompt: Prompt::Fill {
            tokens: tokens.clone(),
            infill: Box::new(Infill {
                prefix,
                suffix: suffix.into(),
                ..Infill::default()
            }),
        },
        params: common::greedy(max_new_tokens),
    }
}

#[test]
fn a_keystroke_evaluates_only_the_changed_tokens_and_keeps_the_greedy_answer() {
    let config = LlamaConfig {
        kv_shift: true,
        flash_attention: crucible_infer::FlashAttention::Off,
        ..common::config(4096)
    };
    let mut generator =
        LlamaGenerator::load(&default_model(), "test", config).expect("the default model loads");
    let tokens = generator.fim_tokens().expect("the model has FIM tokens");
    let before: String = (0..40)
        .map(|i| format!("def f{i}(x):\n    return x - {i}\n\n"))
        .collect();
    let after: String = (0..10)
        .map(|i| format!("\n\ndef h{i}(y):\n    return g(y) * {i}\n"))
        .collect();
    let infill = |typed: &str| {
        let prefix = format!("{before}def add_one(x):\n    return {typed}");
        fill(&tokens, prefix, &after, 8)
    };
    let unrelated = GenRequest {
        prompt: Prompt::Text {
            text: "import os\n".into(),
        },
        params: GenParams {
            max_new_tokens: 2,
            ..infill("").params
        },
    };
    let mut run = |typed: &str, cold: bool| {
        if cold {
            // An unrelated prompt first leaves nothing to reuse.
            generator.generate(&unrelated, &mut Silent).unwrap();
        }
        let before = generator.reused_prompt_tokens();
        let generation = generator.generate(&infill(typed), &mut Silent).unwrap();
        let reused = generator.reused_prompt_tokens() - before;
        (
            generation.completions[0].text.clone(),
            generation.prompt_tokens,
            reused,
        )
    };
    let mut cold = Vec::new();
    for typed in ["x +", "x"] {
        let (text, _, reused) = run(typed, true);
        assert_eq!(reused, 0, "a cold request reuses nothing");
        cold.push(text);
    }
    // The last cold request was "x"; typed " +": the text after the cursor (over 100 tokens)
    // moves right.
    let (typed, prompt_tokens, reused) = run("x +", false);
    assert!(
        prompt_tokens - reused <= 12,
        "only the changed tokens, the 8 after them and the last are evaluated: {reused} of {prompt_tokens} reused"
    );
    assert_eq!(typed, cold[0], "greedy answer after the keystroke");
    // Deleted again: it moves back left.
    let (deleted, prompt_tokens, reused) = run("x", false);
    assert!(
        prompt_tokens - reused <= 12,
        "only the changed tokens, the 8 after them and the last are evaluated: {reused} of {prompt_tokens} reused"
    );
    assert_eq!(deleted, cold[1], "greedy answer after the deletion");
}

#[test]
fn typing_along_the_last_answer_drafts_the_rest_of_it() {
    // Lookup speculation, drafting whenever a draft is found, with KV shifting as the editor
    // runs it.
    let config = LlamaConfig {
        kv_shift: true,
        flash_attention: crucible_infer::FlashAttention::Off,
        speculate: crucible_infer::Speculate::Lookup,
        draft_cost: Some(crucible_infer::DraftCost { per_token: 0.0 }),
        ..common::config(4096)
    };
    let mut generator =
        LlamaGenerator::load(&default_model(), "test", config).expect("the default model loads");
    let tokens = generator.fim_tokens().expect("the model has FIM tokens");
    let before = "import math\n\n\ndef circle_area(radius):\n    \"\"\"The area of a circle.\"\"\"\n    return ";
    let after = "\n\n\ndef main():\n    print(circle_area(2.0))\n";
    let infill = |typed: &str| fill(&tokens, format!("{before}{typed}"), after, 24);
    let first = generator.generate(&infill(""), &mut Silent).unwrap();
    let answer = first.completions[0].text.clone();
    // The user types the suggestion's first characters; the next request's answer is the
    // rest of the suggestion, mostly drafted from it.
    let typed: String = answer.chars().take(4).collect();
    assert!(
        typed.len() == 4 && answer.len() > 12,
        "a usable first answer: {answer:?}"
    );
    let next = generator.generate(&infill(&typed), &mut Silent).unwrap();
    let stats = next.speculation.expect("lookup reports its counts");
    let text = &next.completions[0].text;
    let head: String = text.chars().take(8).collect();
    assert!(
        answer.starts_with(&format!("{typed}{head}")),
        "typing along the suggestion continues it: {answer:?} then {typed:?} + {text:?}"
    );
    assert!(
        stats.accepted * 2 >= next.completions[0].tokens,
        "most of the answer should come from accepted drafts: {stats:?} for {} tokens",
        next.completions[0].tokens
    );
}
