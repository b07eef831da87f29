//! Bad input gets an error in OpenAI's shape that names the problem, and the server keeps
//! serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{config, echo, get, post, post_json, start};

/// POST `body` and return (status, error message, error param).
fn error_of(server: &crate::support::TestServer, path: &str, body: &str) -> (u16, String, Value) {
    let (status, text, _) = post(server, path, body, None);
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"));
    let message = value["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(value["error"]["type"].is_string(), "{value}");
    (status, message, value["error"]["param"].clone())
}

#[test]
fn bad_requests_are_named_and_the_server_keeps_serving() {
    let server = start(config(), echo().context_length(64));
    let chat = "/v1/chat/completions";
    let cases: Vec<(&str, u16, &str)> = vec![
        ("{\"messages\": [", 400, "not valid JSON"),
        ("", 400, "empty"),
        (r#"{"messages": "hi"}"#, 400, "`messages`"),
        (
            r#"{"messages": [], "temperature": 0}"#,
            400,
            "`messages` is empty",
        ),
        (
            r#"{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}"#,
            400,
            "`temperature`",
        ),
        (
            r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}"#,
            404,
            "`gpt-4o` does not exist",
        ),
        (
            r#"{"messages": [{"role": "user", "content": "x"}], "n": 50}"#,
            400,
            "`n` is 50",
        ),
        (
            r#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 100}"#,
            400,
            "`max_tokens` is 100",
        ),
        (
            r#"{"messages": [{"role": "tool", "content": "x"}]}"#,
            400,
            "`messages[0].role` is `tool`",
        ),
        (
            r#"{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#,
            400,
            "`image_url`",
        ),
        (
            r#"{"messages": [{"role": "user", "content": "x"}], "logprobs": true}"#,
            400,
            "`logprobs`",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, message, _) = error_of(&server, chat, body);
        assert_eq!(got, status, "{body}: {message}");
        assert!(
            message.contains(needle),
            "{body}: `{message}` should say {needle}"
        );
    }
    // A prompt longer than the context (64 tokens here) is the request's own error.
    let long_prompt = "word ".repeat(100);
    let body = json!({"messages": [{"role": "user", "content": long_prompt}], "max_tokens": 8});
    let (status, message, _) = error_of(&server, chat, &body.to_string());
    assert_eq!(status, 400);
    assert!(message.contains("the prompt is 100 tokens"), "{message}");
    // Still serving.
    let (status, body) = post_json(
        &server,
        chat,
        &json!({"messages": [{"role": "user", "content": "still there"}], "temperature": 0, "max_tokens": 8}),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn completions_refuse_a_gap_for_a_model_without_fim_tokens() {
    let server = start(config(), echo());
    let (status, message, param) = error_of(
        &server,
        "/v1/completions",
        r#"{"prompt": "a", "suffix": "b", "max_tokens": 4}"#,
    );
    assert_eq!(status, 400);
    assert!(
        message.contains("no fill-in-the-middle tokens"),
        "{message}"
    );
    assert_eq!(param, "suffix");
    let (status, message, _) = error_of(&server, "/v1/completions", r#"{"prompt": ["a", "b"]}"#);
    assert_eq!(status, 400);
    assert!(message.contains("list of 2 prompts"), "{message}");
}

#[test]
fn unknown_routes_are_json_404s() {
    let server = start(config(), echo());
    let (status, body, _) = get(&server, "/v1/embeddings", None);
    assert_eq!(status, 404);
    assert!(body.contains("no route for GET /v1/embeddings"), "{body}");
}

#[test]
fn a_100_mb_body_is_refused_without_reading_it_all() {
    let server = start(config(), echo());
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let length = 100 * 1024 * 1024;
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    .unwrap();
    // Send 2 MiB of it (the cap is 1 MiB); the server answers before the rest.
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..32 {
        if stream.write_all(&chunk).is_err() {
            break;
        }
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("larger than this server accepts"),
        "{answer}"
    );
    let (status, _, _) = get(&server, "/v1/models", None);
    assert_eq!(status, 200);
}
