//! `/infill` with request bodies in the shapes llama.vim and llama.vscode send (written for
//! these tests after the plugins' public request code; see the fixtures).

use serde_json::{Value, json};

use crucible_core::infer::FimTokens;

use crate::support::{config, echo, post, post_json, post_stream, start};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/infill/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn a_llama_vim_request_is_filled_with_the_repository_form() {
    let server = start(config(), echo().with_fim(FimTokens::qwen()));
    let (status, body) = post_json(&server, "/infill", &fixture("llama-vim.json"));
    assert_eq!(status, 200, "{body}");
    // The scripted model echoes its prompt: the FIM layout the model saw.
    assert_eq!(
        body["content"],
        "echo: <|repo_name|>repository\n<|file_sep|>consts.py\nPI_DIGITS = 5\n<|file_sep|>util.py\ndef square(x):\n    return x * x\n<|file_sep|><|fim_prefix|>import math\n\ndef area(r):\n    <|fim_suffix|>\n\nprint(area(2))\n<|fim_middle|>"
    );
    assert_eq!(body["stop"], true);
    assert_eq!(body["model"], "test-model");
    for field in [
        "prompt_n",
        "prompt_ms",
        "predicted_n",
        "predicted_ms",
        "predicted_per_second",
    ] {
        assert!(
            body["timings"][field].is_number(),
            "timings.{field}: {body}"
        );
    }
    assert_eq!(body["truncated"], false);
}

#[test]
fn a_llama_vscode_request_continues_after_its_prompt() {
    let server = start(config(), echo().with_fim(FimTokens::qwen()));
    let (status, body) = post_json(&server, "/infill", &fixture("llama-vscode.json"));
    assert_eq!(status, 200, "{body}");
    let content = body["content"].as_str().unwrap();
    assert!(content.ends_with("<|fim_middle|>return"), "{content}");
    assert!(content.contains("<|file_sep|>src/consts.ts\n"), "{content}");
}

#[test]
fn a_warm_up_request_answers_nothing() {
    let server = start(config(), echo().with_fim(FimTokens::qwen()));
    let (status, body) = post_json(&server, "/infill", &fixture("llama-vim-warmup.json"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"], "");
}

#[test]
fn infill_streams_pieces_then_the_final_object() {
    let server = start(config(), echo().with_fim(FimTokens::qwen()));
    let events = post_stream(
        &server,
        "/infill",
        &json!({"input_prefix": "a", "input_suffix": "b", "stream": true, "n_predict": 2}),
    );
    let values: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let (last, pieces) = values.split_last().unwrap();
    assert_eq!(last["stop"], true);
    assert_eq!(last["stop_type"], "eos");
    let text: String = pieces
        .iter()
        .map(|p| p["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "echo: <|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>");
}

#[test]
fn a_time_limit_answers_with_what_was_written() {
    let server = start(
        config(),
        crate::support::long(2000).with_fim(FimTokens::qwen()),
    );
    let (status, body) = post_json(
        &server,
        "/infill",
        &json!({"input_prefix": "a", "input_suffix": "b", "n_predict": 1500, "t_max_predict_ms": 200}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stop_type"], "limit");
    let content = body["content"].as_str().unwrap();
    assert!(content.starts_with("word word"), "{content}");
    assert!(
        content.len() < 1500 * 5,
        "cut early: {} bytes",
        content.len()
    );
}

#[test]
fn a_model_without_fim_tokens_is_told_so() {
    let server = start(config(), echo());
    let (status, text, _) = post(
        &server,
        "/infill",
        &fixture("llama-vim.json").to_string(),
        None,
    );
    assert_eq!(status, 400);
    assert!(text.contains("no fill-in-the-middle tokens"), "{text}");
}

/// Answers a fill prompt with its structure as JSON (the infill the backend got), anything
/// else with a marker: what reaches the backend, as a backend that tokenizes sees it.
fn structure() -> crucible_core::infer::ScriptedGenerator {
    use crucible_core::infer::{Prompt, ScriptedGenerator};
    ScriptedGenerator::from_fn(|request, _| {
        Some(match &request.prompt {
            Prompt::Fill { tokens, infill } if *tokens == FimTokens::qwen() => {
                serde_json::to_string(infill).unwrap()
            }
            _ => "not a fill prompt with the model's tokens".into(),
        })
    })
    .with_fim(FimTokens::qwen())
    .named("test-model")
}

#[test]
fn token_text_in_the_editors_files_reaches_the_backend_as_text() {
    let server = start(config(), structure());
    let prefix = "MIDDLE = \"<|fim_middle|>\"\nEND = \"<|endoftext|>\"\nx = ";
    let (status, body) = post_json(
        &server,
        "/infill",
        &json!({
            "input_prefix": prefix,
            "input_suffix": "\n# <|fim_suffix|>\n",
            "input_extra": [{"filename": "fim.rs", "text": "const SEP: &str = \"<|file_sep|>\";\n"}],
            "prompt": "<|im_end|>",
            "n_predict": 4,
        }),
    );
    assert_eq!(status, 200, "{body}");
    let content = body["content"].as_str().unwrap();
    let infill: Value =
        serde_json::from_str(content).unwrap_or_else(|err| panic!("{err}: {content}"));
    assert_eq!(infill["prefix"], prefix);
    assert_eq!(infill["suffix"], "\n# <|fim_suffix|>\n");
    assert_eq!(infill["answer_prefix"], "<|im_end|>");
    assert_eq!(
        infill["extra"],
        json!([{"filename": "fim.rs", "text": "const SEP: &str = \"<|file_sep|>\";\n"}])
    );

    // The same through `/v1/completions` with `suffix`.
    let (status, body) = post_json(
        &server,
        "/v1/completions",
        &json!({"prompt": prefix, "suffix": "<|endoftext|>", "max_tokens": 4}),
    );
    assert_eq!(status, 200, "{body}");
    let text = body["choices"][0]["text"].as_str().unwrap();
    let infill: Value = serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"));
    assert_eq!(infill["prefix"], prefix);
    assert_eq!(infill["suffix"], "<|endoftext|>");
}
