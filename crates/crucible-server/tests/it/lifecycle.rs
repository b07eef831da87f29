//! The key, backpressure, cancellation when a client goes away, and shutdown.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crucible_server::{ApiKey, ServerConfig, check_exposure};

use crate::support::{
    config, echo, eventually, get, long, open_stream, post, post_json, read_rest, start,
};

#[test]
fn the_key_is_required_except_for_health() {
    let mut config = config();
    config.api_key = ApiKey::new("sk-test");
    let server = start(config, echo());
    let body = r#"{"messages": [{"role": "user", "content": "x"}], "temperature": 0}"#;
    let (status, text, _) = post(&server, "/v1/chat/completions", body, None);
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("invalid_api_key"), "{text}");
    let (status, _, _) = post(&server, "/v1/chat/completions", body, Some("sk-wrong"));
    assert_eq!(status, 401);
    let (status, _, _) = post(&server, "/v1/chat/completions", body, Some("sk-test"));
    assert_eq!(status, 200);
    assert_eq!(get(&server, "/v1/models", None).0, 401);
    assert_eq!(get(&server, "/metrics", None).0, 401);
    assert_eq!(get(&server, "/metrics", Some("sk-test")).0, 200);
    assert_eq!(get(&server, "/health", None).0, 200);
}

#[test]
fn a_public_address_needs_a_key_or_the_insecure_flag() {
    let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut config = ServerConfig::new();
    let err = check_exposure(public, &config, false).unwrap_err();
    assert!(err.to_string().contains("without an API key"), "{err}");
    assert!(err.hint().unwrap().contains("--insecure-no-api-key"));
    check_exposure(public, &config, true).unwrap();
    check_exposure(loopback, &config, false).unwrap();
    config.api_key = ApiKey::new("k");
    check_exposure(public, &config, false).unwrap();
    // The run endpoint needs a key whatever the address.
    let mut exec = ServerConfig::new();
    exec.exec.allow = true;
    assert!(
        exec.validate()
            .unwrap_err()
            .to_string()
            .contains("--allow-exec")
    );
}

fn stream_body(max_tokens: usize) -> Value {
    json!({
        "messages": [{"role": "user", "content": "go"}],
        "stream": true,
        "max_tokens": max_tokens,
    })
}

#[test]
fn beyond_the_slots_and_the_queue_requests_get_429_with_retry_after() {
    let mut config = config();
    config.max_batch = 1;
    config.max_queue = 1;
    let server = start(config, long(2000));
    // One decodes, one waits.
    let _first = open_stream(&server, "/v1/chat/completions", &stream_body(1500));
    let waiting = std::thread::spawn({
        let url = server.url("/v1/chat/completions");
        move || {
            ureq::post(&url)
                .set("Content-Type", "application/json")
                .send_string(
                    &json!({"messages": [{"role": "user", "content": "go"}], "max_tokens": 2})
                        .to_string(),
                )
                .map(|r| r.status())
                .map_err(|e| e.to_string())
        }
    });
    eventually("the second request is queued", || {
        get(&server, "/metrics", None)
            .1
            .contains("crucible_queue_depth 1")
    });
    let (status, text, retry) = post(
        &server,
        "/v1/chat/completions",
        r#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 2}"#,
        None,
    );
    assert_eq!(status, 429, "{text}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(text.contains("rate_limit_exceeded"), "{text}");
    assert!(
        get(&server, "/metrics", None)
            .1
            .contains("crucible_requests_rejected_total 1")
    );
    // Dropping the first stream frees its slot; the waiting request is then served.
    drop(_first);
    assert_eq!(waiting.join().unwrap(), Ok(200));
}

#[test]
fn a_client_that_disconnects_mid_stream_frees_its_slot_at_once() {
    let mut config = config();
    config.max_batch = 1;
    // No queue: a second request is refused unless the first one's slot was given back.
    config.max_queue = 0;
    let server = start(config, long(5000));
    let stream = open_stream(&server, "/v1/chat/completions", &stream_body(4000));
    eventually("the request is decoding", || server.probe.in_flight() == 1);
    let started = Instant::now();
    drop(stream);
    eventually("the generator dropped the request", || {
        server.probe.cancelled() == 1
    });
    eventually("the slot is free", || server.probe.in_flight() == 0);
    // 4,000 words at 5 ms each would take 20 s.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (status, body) = post_json(
        &server,
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 3}),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_client_that_disconnects_before_a_whole_answer_frees_its_slot() {
    let mut config = config();
    config.max_batch = 1;
    config.max_queue = 0;
    let server = start(config, long(5000));
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let body =
        json!({"messages": [{"role": "user", "content": "go"}], "max_tokens": 4000}).to_string();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    eventually("the request is decoding", || server.probe.in_flight() == 1);
    drop(stream);
    eventually("the generator dropped the request", || {
        server.probe.cancelled() == 1
    });
    eventually("the slot is free", || server.probe.in_flight() == 0);
}

#[test]
fn shutdown_finishes_short_requests_and_ends_long_streams_cleanly() {
    let mut config = config();
    config.drain_timeout = Duration::from_millis(500);
    let mut server = start(config, long(5000));
    let addr = server.addr;
    let mut stream = open_stream(&server, "/v1/chat/completions", &stream_body(4000));
    server.begin_shutdown();
    // The long stream is cancelled after the drain time and ends with an error event, then
    // `[DONE]`, then the chunked body's end: nothing is cut mid-event.
    let rest = read_rest(&mut stream, Duration::from_secs(10));
    assert!(rest.contains("shutting down"), "{rest}");
    assert!(
        rest.trim_end().ends_with("data: [DONE]\n\n\r\n0"),
        "{rest:?}"
    );
    server.join().unwrap();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn a_request_in_flight_when_shutdown_begins_is_finished() {
    let server = start(config(), long(100));
    let url = server.url("/v1/chat/completions");
    let client = std::thread::spawn(move || {
        ureq::post(&url)
            .set("Content-Type", "application/json")
            .send_string(
                &json!({"messages": [{"role": "user", "content": "go"}], "max_tokens": 60})
                    .to_string(),
            )
            .map(|r| r.into_string().unwrap())
            .map_err(|e| e.to_string())
    });
    eventually("the request is decoding", || server.probe.in_flight() == 1);
    server.shutdown().unwrap();
    let body = client.join().unwrap().expect("the request is answered");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 60);
}

#[test]
fn a_solve_s_model_call_takes_its_place_in_the_slots() {
    let mut config = config();
    config.max_batch = 1;
    config.max_queue = 0;
    let server = start(config, long(2000));
    // A task without examples is answered by one plain model call, run as a solve.
    let task = json!({"id": "hi", "description": "Print hi.", "language": "python"});
    let solve = open_stream(
        &server,
        "/v1/crucible/solve",
        &json!({"task": task, "stream": true, "max_tokens": 1500}),
    );
    eventually("the solve's model call is decoding", || {
        server.probe.in_flight() == 1
    });
    let chat = r#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 2}"#;
    let (status, text, _) = post(&server, "/v1/chat/completions", chat, None);
    assert_eq!(status, 429, "the solve holds the only slot: {text}");
    // Leaving the solve ends its call and gives the slot back.
    drop(solve);
    eventually("the slot is free", || server.probe.in_flight() == 0);
    eventually("a chat request is served again", || {
        post(&server, "/v1/chat/completions", chat, None).0 == 200
    });
}
