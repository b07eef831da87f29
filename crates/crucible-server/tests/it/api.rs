//! The OpenAI-compatible routes: models, chat and completions, whole and streamed.

use serde_json::{Value, json};

use crate::support::{config, echo, get, post_json, post_stream, start};

#[test]
fn models_lists_the_served_model() {
    let server = start(config(), echo());
    let (status, body, _) = get(&server, "/v1/models", None);
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][0]["id"], "test-model");
    assert_eq!(body["data"][0]["object"], "model");
}

#[test]
fn chat_answers_whole_with_usage() {
    let server = start(config(), echo());
    let (status, body) = post_json(
        &server,
        "/v1/chat/completions",
        &json!({
            "model": "test-model",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
            "temperature": 0,
            "max_tokens": 50,
        }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "you said hello there");
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(body["usage"]["completion_tokens"], 4);
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(body["usage"]["total_tokens"], 8);
}

#[test]
fn chat_text_parts_and_several_choices() {
    let server = start(config(), echo());
    let (status, body) = post_json(
        &server,
        "/v1/chat/completions",
        &json!({
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "n": 2,
            "max_completion_tokens": 2,
            "seed": 7,
        }),
    );
    assert_eq!(status, 200, "{body}");
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2);
    // Cut at two tokens.
    assert_eq!(choices[0]["message"]["content"], "you said ");
    assert_eq!(choices[1]["finish_reason"], "length");
}

#[test]
fn chat_streams_chunks_then_usage_then_done() {
    let server = start(config(), echo());
    let events = post_stream(
        &server,
        "/v1/chat/completions",
        &json!({
            "model": "test-model",
            "messages": [{"role": "user", "content": "one two"}],
            "stream": true,
            "stream_options": {"include_usage": true},
        }),
    );
    let (last, data) = events.split_last().unwrap();
    assert_eq!(last.1, "[DONE]");
    let chunks: Vec<Value> = data
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "you said one two");
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], chunks[0]["id"]);
    }
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 4);
    // The text came in several chunks, as it was generated.
    let pieces = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .count();
    assert_eq!(pieces, 4);
}

#[test]
fn completions_continue_text_and_fill_a_gap_with_fim_tokens() {
    let fim = crucible_core::infer::FimTokens::qwen();
    let server = start(config(), echo().with_fim(fim));
    let (status, body) = post_json(
        &server,
        "/v1/completions",
        &json!({"model": "test-model", "prompt": "def f():", "max_tokens": 20, "temperature": 0}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["choices"][0]["text"], "echo: def f():");
    let (status, body) = post_json(
        &server,
        "/v1/completions",
        &json!({"prompt": ["def f():\n    "], "suffix": "\nprint(f())", "max_tokens": 20, "temperature": 0, "echo": false}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["text"],
        "echo: <|fim_prefix|>def f():\n    <|fim_suffix|>\nprint(f())<|fim_middle|>"
    );
}

#[test]
fn completions_stream_and_echo() {
    let server = start(config(), echo());
    let events = post_stream(
        &server,
        "/v1/completions",
        &json!({"prompt": "a b", "stream": true, "echo": true, "max_tokens": 10}),
    );
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let text: String = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|c| c["choices"][0]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "a becho: a b");
}

#[test]
fn metrics_count_requests_and_tokens() {
    let server = start(config(), echo());
    let (status, _) = post_json(
        &server,
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "x"}], "temperature": 0}),
    );
    assert_eq!(status, 200);
    let (status, text, _) = get(&server, "/metrics", None);
    assert_eq!(status, 200);
    for needle in [
        "crucible_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 1",
        "crucible_generated_tokens_total 3",
        "crucible_time_to_first_token_seconds_count 1",
        "crucible_model_ready 1",
        "crucible_queue_depth 0",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
}
