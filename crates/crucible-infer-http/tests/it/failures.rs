//! Failures: cancellation, HTTP errors, unknown models, unreachable and silent servers, beam
//! search, broken streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crucible_infer::{Error, GenRequest, Generator, Observer, Prompt};
use crucible_infer_http::mock::{AfterEvents, MockServer, Reply, chat_delta, text_delta};
use crucible_infer_http::{HttpConfig, HttpGenerator, RetryPolicy};
use crucible_types::Decoding;

use crate::streaming::wait_for_hangup;
use crate::{Recorder, chat_prompt, connect, generate, greedy};

fn text_prompt() -> Prompt {
    Prompt::Text {
        text: "def f():".into(),
    }
}

/// The error of one generation against a server answering every POST with `reply`.
/// Without retries: tests/it/retries.rs covers them.
fn generation_error(reply: Reply) -> String {
    let server = MockServer::serving("m", move |_| reply.clone());
    let mut config = HttpConfig::new(&server.endpoint());
    config.retry = RetryPolicy::NEVER;
    let mut generator = HttpGenerator::connect(config).unwrap();
    let err = generate(
        &mut generator,
        chat_prompt(),
        greedy(16, &[]),
        &mut Recorder::default(),
    )
    .unwrap_err();
    err.to_string()
}

#[test]
fn cancelling_mid_stream_stops_at_once_and_closes_the_request() {
    let server = MockServer::serving("m", |_| {
        Reply::hanging([
            text_delta(0, "\n    return", None),
            text_delta(0, " 1", None),
        ])
    });
    let mut generator = connect(&server, None);
    let mut recorder = Recorder {
        cancel_after: Some(1),
        ..Recorder::default()
    };
    let started = Instant::now();
    let err = generate(
        &mut generator,
        text_prompt(),
        greedy(64, &[]),
        &mut recorder,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(recorder.pieces[0], (0, "\n    return".to_owned()));
    wait_for_hangup(&server);
}

/// Cancels once `after` has passed.
struct Deadline {
    started: Instant,
    after: Duration,
}

impl Observer for Deadline {
    fn cancelled(&self) -> bool {
        self.started.elapsed() >= self.after
    }
}

#[test]
fn cancelling_while_the_server_is_silent_does_not_wait_for_it() {
    let server = MockServer::serving("m", |_| Reply::Silence);
    let mut generator = connect(&server, None);
    let mut observer = Deadline {
        started: Instant::now(),
        after: Duration::from_millis(200),
    };
    let request = GenRequest {
        prompt: text_prompt(),
        params: greedy(16, &[]),
    };
    let err = generator.generate(&request, &mut observer).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(observer.started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn http_errors_carry_the_servers_message() {
    let err = generation_error(Reply::error(
        400,
        "This model's maximum context length is 4096 tokens",
    ));
    assert!(err.starts_with("HTTP backend: `http://127.0.0.1:"), "{err}");
    assert!(
        err.ends_with(
            "/v1/chat/completions` answered HTTP 400: This model's maximum context length is 4096 tokens"
        ),
        "{err}"
    );
    // vLLM's error shape.
    let vllm = Reply::Json {
        status: 500,
        body: json!({"object": "error", "message": "engine died", "type": "InternalServerError", "code": 500}),
    };
    assert!(generation_error(vllm).ends_with("answered HTTP 500: engine died"));
}

#[test]
fn an_error_event_in_the_stream_is_reported() {
    let reply = Reply::events([
        chat_delta(0, "x"),
        json!({"error": {"message": "the KV cache is full", "code": 500}}),
    ]);
    let err = generation_error(reply);
    assert!(
        err.ends_with("reported an error while streaming: the KV cache is full"),
        "{err}"
    );
}

#[test]
fn a_stream_cut_short_is_an_error_not_an_answer() {
    let reply = Reply::Events {
        events: vec![chat_delta(0, "def f(").to_string()],
        then: AfterEvents::Close,
    };
    let err = generation_error(reply);
    assert!(
        err.contains("the answer stream ended before the answer was complete"),
        "{err}"
    );
}

#[test]
fn a_refused_key_fails_the_connection_with_a_hint() {
    let server = MockServer::start(|_| Reply::error(401, "invalid api key"));
    let err = HttpGenerator::connect(HttpConfig::new(&server.endpoint())).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("/v1/models` answered HTTP 401: invalid api key"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("CRUCIBLE_API_KEY"));
}

#[test]
fn an_unknown_model_is_refused_with_the_servers_list() {
    let server = MockServer::serving("qwen2.5-coder:7b", |_| Reply::error(500, "unused"));
    let mut config = HttpConfig::new(&server.endpoint());
    config.model = Some("qwen-coder".into());
    let err = HttpGenerator::connect(config).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "model `qwen-coder` is not served at `{}`; the server lists `qwen2.5-coder:7b`",
            server.endpoint()
        )
    );
    assert_eq!(
        err.hint().as_deref(),
        Some("pass one of the listed models with `--model`")
    );
}

#[test]
fn a_404_for_the_model_at_request_time_lists_the_models() {
    // The list is unavailable at first (so the name is taken on trust), then answers.
    let lists = Arc::new(AtomicUsize::new(0));
    let server = MockServer::start(move |request| match request.path.as_str() {
        "/v1/models" if lists.fetch_add(1, Ordering::Relaxed) == 0 => Reply::error(503, "loading"),
        "/v1/models" => Reply::json(json!({"data": [{"id": "served"}]})),
        "/v1/chat/completions" => Reply::Json {
            status: 404,
            body: json!({"object": "error", "message": "The model `typo` does not exist.", "code": 404}),
        },
        _ => Reply::error(404, "not found"),
    });
    let mut generator = connect(&server, Some("typo"));
    let err = generate(
        &mut generator,
        chat_prompt(),
        greedy(8, &[]),
        &mut Recorder::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("model `typo` is not served at")
            && err.contains("the server lists `served`")
            && err.ends_with("hint: pass one of the listed models with `--model`"),
        "{err}"
    );
}

#[test]
fn connection_refused_names_the_url_and_how_to_check_it() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}/v1");
    let err = HttpGenerator::connect(HttpConfig::new(&endpoint)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("could not connect to `{endpoint}/models`: ")),
        "{message}"
    );
    assert_eq!(
        err.hint().unwrap(),
        format!(
            "check that the server is running and reachable from here: `curl {endpoint}/models`"
        )
    );
}

#[test]
fn a_silent_server_times_out_with_the_url() {
    let server = MockServer::serving("m", |_| Reply::Silence);
    let mut config = HttpConfig::new(&server.endpoint());
    config.read_timeout = Duration::from_millis(300);
    config.retry = RetryPolicy::NEVER;
    let mut generator = HttpGenerator::connect(config).unwrap();
    let started = Instant::now();
    let err = generate(
        &mut generator,
        chat_prompt(),
        greedy(8, &[]),
        &mut Recorder::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        err.contains(&format!(
            "no answer from `{}/chat/completions` within 0.3 s",
            server.endpoint()
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: check that the server is running"),
        "{err}"
    );
}

#[test]
fn beam_search_is_refused_before_anything_is_sent() {
    let server = MockServer::serving("m", |_| Reply::chat(&["x"], "stop", None));
    let mut generator = connect(&server, None);
    let mut params = greedy(8, &[]);
    params.decoding = Decoding::Beam {
        width: 4,
        length_penalty: 1.0,
    };
    let err = generate(
        &mut generator,
        chat_prompt(),
        params,
        &mut Recorder::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("HTTP backend: beam search cannot be expressed in the OpenAI API"),
        "{err}"
    );
    assert!(err.contains("local llama.cpp backend"), "{err}");
    assert!(server.posts().is_empty());
}
