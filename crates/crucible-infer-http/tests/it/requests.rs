//! The requests the backend sends: routes, bodies, headers, and what it learns when connecting.

use serde_json::json;

use crucible_infer::{Generator, Prompt};
use crucible_infer_http::mock::{MockServer, Reply, text_delta, usage_event};
use crucible_infer_http::{ApiKey, HttpConfig, HttpGenerator};

use crate::{Recorder, chat_prompt, connect, generate, greedy, sampled};

#[test]
fn chat_prompts_go_to_chat_completions_with_the_prefill_as_a_final_assistant_turn() {
    let server = MockServer::serving("coder", |_| {
        Reply::chat(&["def add(a, b):\n", "    return a + b"], "stop", None)
    });
    let mut generator = connect(&server, Some("coder"));
    let out = generate(
        &mut generator,
        chat_prompt(),
        greedy(64, &["\n```"]),
        &mut Recorder::default(),
    )
    .unwrap();
    assert_eq!(out.completions[0].text, "def add(a, b):\n    return a + b");
    let received = server.received();
    assert_eq!(
        (received[0].method.as_str(), received[0].path.as_str()),
        ("GET", "/v1/models")
    );
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/v1/chat/completions");
    assert_eq!(posts[0].header("content-type"), Some("application/json"));
    assert_eq!(posts[0].header("authorization"), None);
    assert_eq!(
        posts[0].json(),
        json!({
            "model": "coder",
            "messages": [
                {"role": "system", "content": "You write code."},
                {"role": "user", "content": "Write `add(a, b)`."},
                {"role": "assistant", "content": "```python\n"},
            ],
            "continue_final_message": true,
            "add_generation_prompt": false,
            "temperature": 0.0,
            "seed": 0,
            "max_tokens": 64,
            "stop": ["\n```"],
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[test]
fn text_prompts_go_to_completions_with_every_sampling_knob() {
    let server = MockServer::serving("coder", |_| {
        Reply::events([
            text_delta(0, "    return a + b\n", None),
            text_delta(0, "", Some("stop")),
            usage_event(12, 7),
        ])
    });
    let mut generator = connect(&server, None);
    let prompt = Prompt::Text {
        text: "def add(a, b):\n".into(),
    };
    let out = generate(
        &mut generator,
        prompt,
        sampled(1, 5),
        &mut Recorder::default(),
    )
    .unwrap();
    assert_eq!(out.completions[0].text, "    return a + b\n");
    let posts = server.posts();
    assert_eq!(posts[0].path, "/v1/completions");
    assert_eq!(
        posts[0].json(),
        json!({
            "model": "coder",
            "prompt": "def add(a, b):\n",
            "temperature": 0.8,
            "top_p": 0.95,
            "top_k": 40,
            "min_p": 0.0,
            "seed": 5,
            "max_tokens": 64,
            "stop": ["\n```"],
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[test]
fn the_api_key_is_a_bearer_token_on_every_request_and_never_printed() {
    let server = MockServer::serving("coder", |_| Reply::chat(&["x"], "stop", None));
    let mut config = HttpConfig::new(&server.endpoint());
    config.api_key = ApiKey::new("sk-secret-1");
    let mut generator = HttpGenerator::connect(config.clone()).unwrap();
    generate(
        &mut generator,
        chat_prompt(),
        greedy(8, &[]),
        &mut Recorder::default(),
    )
    .unwrap();
    let received = server.received();
    // The model list, `/props` (for the context length) and the completion.
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(
            request.header("authorization"),
            Some("Bearer sk-secret-1"),
            "{request:?}"
        );
    }
    assert!(!format!("{generator:?} {config:?}").contains("sk-secret-1"));
}

#[test]
fn without_a_model_the_servers_only_model_is_used_and_reported() {
    let server = MockServer::serving("Qwen/Qwen2.5-Coder-7B-Instruct", |_| {
        Reply::chat(&["x"], "stop", None)
    });
    let mut generator = connect(&server, None);
    let info = generator.info().clone();
    assert_eq!(info.name, "Qwen/Qwen2.5-Coder-7B-Instruct");
    assert_eq!(
        info.source,
        format!("{} (Qwen/Qwen2.5-Coder-7B-Instruct)", server.endpoint())
    );
    // Neither `max_model_len` nor `/props`: the configured fallback.
    assert_eq!(info.context_length, 8192);
    generate(
        &mut generator,
        chat_prompt(),
        greedy(8, &[]),
        &mut Recorder::default(),
    )
    .unwrap();
    assert_eq!(
        server.posts()[0].json()["model"],
        "Qwen/Qwen2.5-Coder-7B-Instruct"
    );
}

#[test]
fn the_context_length_comes_from_vllm_or_llama_server() {
    let vllm = MockServer::start(|request| match request.path.as_str() {
        "/v1/models" => Reply::json(json!({"data": [{"id": "m", "max_model_len": 32768}]})),
        _ => Reply::error(404, "not found"),
    });
    assert_eq!(connect(&vllm, None).info().context_length, 32768);

    let llama_server = MockServer::start(|request| match request.path.as_str() {
        "/v1/models" => Reply::json(json!({"data": [{"id": "model.gguf"}]})),
        "/props" => Reply::json(json!({"default_generation_settings": {"n_ctx": 4096}})),
        _ => Reply::error(404, "not found"),
    });
    assert_eq!(connect(&llama_server, None).info().context_length, 4096);
    let paths: Vec<String> = llama_server
        .received()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(paths, ["/v1/models", "/props"]);
}

#[test]
fn a_bare_host_gets_the_v1_base() {
    let server = MockServer::serving("m", |_| Reply::chat(&["x"], "stop", None));
    let bare = server.endpoint().trim_end_matches("/v1").to_owned();
    let generator = HttpGenerator::connect(HttpConfig::new(&bare)).unwrap();
    assert_eq!(generator.endpoint(), server.endpoint());
}
