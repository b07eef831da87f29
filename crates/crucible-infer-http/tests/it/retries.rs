//! Retries against a scripted server that answers 429s, 503s, resets and stalls: the request
//! is tried again (honouring Retry-After) within the budget; a busy server's answer to `n` > 1
//! is not taken for a refusal of `n`; text already streamed is never asked for again; every
//! request has a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crucible_infer_http::mock::{AfterEvents, MockServer, Received, Reply, chat_delta};
use crucible_infer_http::{HttpConfig, HttpGenerator, RetryPolicy};

use crate::{Recorder, chat_prompt, generate, greedy, sampled};

/// Quick retries, so tests do not wait long.
fn quick(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        budget: Duration::from_secs(5),
    }
}

fn connect_with(server: &MockServer, retry: RetryPolicy) -> HttpGenerator {
    let mut config = HttpConfig::new(&server.endpoint());
    config.retry = retry;
    HttpGenerator::connect(config).unwrap()
}

/// Answers the first `failures` POSTs with `failure`, then a one-piece answer.
fn flaky(failure: Reply, failures: usize) -> MockServer {
    let seen = Arc::new(AtomicUsize::new(0));
    MockServer::serving("m", move |_| {
        if seen.fetch_add(1, Ordering::Relaxed) < failures {
            failure.clone()
        } else {
            Reply::chat(&["return a + b"], "stop", Some((5, 4)))
        }
    })
}

#[test]
fn a_429_with_retry_after_is_waited_out_and_retried() {
    let server = flaky(
        Reply::Busy {
            status: 429,
            retry_after: Some(1),
        },
        1,
    );
    let retry = RetryPolicy {
        max_delay: Duration::from_secs(2),
        ..quick(4)
    };
    let mut generator = connect_with(&server, retry);
    let started = Instant::now();
    let out = generate(
        &mut generator,
        chat_prompt(),
        greedy(16, &[]),
        &mut Recorder::default(),
    )
    .unwrap();
    assert_eq!(out.completions[0].text, "return a + b");
    assert_eq!(server.posts().len(), 2);
    // The server's Retry-After (1 s) is waited out, not the policy's short first wait.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn server_errors_resets_and_stalls_are_retried_until_the_server_answers() {
    for (failure, name) in [
        (Reply::error(503, "loading model"), "503"),
        (
            Reply::Busy {
                status: 502,
                retry_after: None,
            },
            "502",
        ),
        (Reply::Reset, "reset"),
    ] {
        let server = flaky(failure, 2);
        let mut generator = connect_with(&server, quick(4));
        let mut recorder = Recorder::default();
        let out = generate(
            &mut generator,
            chat_prompt(),
            greedy(16, &[]),
            &mut recorder,
        )
        .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(out.completions[0].text, "return a + b", "{name}");
        assert_eq!(recorder.text(0), "return a + b", "{name}: streamed once");
        assert_eq!(server.posts().len(), 3, "{name}");
    }
    // A stall: no answer within the read timeout, then an answer.
    let server = flaky(Reply::Silence, 1);
    let mut config = HttpConfig::new(&server.endpoint());
    config.retry = quick(3);
    config.read_timeout = Duration::from_millis(300);
    let mut generator = HttpGenerator::connect(config).unwrap();
    let out = generate(
        &mut generator,
        chat_prompt(),
        greedy(16, &[]),
        &mut Recorder::default(),
    )
    .unwrap();
    assert_eq!(out.completions[0].text, "return a + b");
    assert_eq!(server.posts().len(), 2);
}

#[test]
fn a_server_that_stays_busy_is_given_up_on_with_its_error_and_the_tries() {
    let server = MockServer::serving("m", |_| Reply::error(503, "overloaded"));
    let mut generator = connect_with(&server, quick(3));
    let err = generate(
        &mut generator,
        chat_prompt(),
        greedy(16, &[]),
        &mut Recorder::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("answered HTTP 503: overloaded (gave up after 3 tries)"),
        "{err}"
    );
    assert_eq!(server.posts().len(), 3);
}

#[test]
fn refusals_are_not_retried() {
    let server = MockServer::serving("m", |_| Reply::error(400, "bad request"));
    let mut generator = connect_with(&server, quick(5));
    let err = generate(
        &mut generator,
        chat_prompt(),
        greedy(16, &[]),
        &mut Recorder::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.ends_with("answered HTTP 400: bad request"), "{err}");
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn a_stream_broken_after_text_is_not_asked_for_again() {
    let server = MockServer::serving("m", |_| Reply::Events {
        events: vec![chat_delta(0, "def f(").to_string()],
        then: AfterEvents::Close,
    });
    let mut generator = connect_with(&server, quick(5));
    let err = generate(
        &mut generator,
        chat_prompt(),
        greedy(16, &[]),
        &mut Recorder::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("ended before the answer was complete"),
        "{err}"
    );
    assert_eq!(server.posts().len(), 1);
}

fn n_field(request: &Received) -> Option<u64> {
    request.json().get("n").and_then(Value::as_u64)
}

#[test]
fn a_busy_answer_to_n_is_overload_not_a_refusal_of_n() {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = MockServer::serving("m", move |request| {
        if seen.fetch_add(1, Ordering::Relaxed) == 0 {
            return Reply::Busy {
                status: 429,
                retry_after: Some(0),
            };
        }
        let n = n_field(request).unwrap_or(1) as usize;
        Reply::events(
            (0..n)
                .map(|i| chat_delta(i, &format!("x = {i}")))
                .chain((0..n).map(|i| crucible_infer_http::mock::chat_finish(i, "stop"))),
        )
    });
    let mut generator = connect_with(&server, quick(3));
    let out = generate(
        &mut generator,
        chat_prompt(),
        sampled(3, 1),
        &mut Recorder::default(),
    )
    .unwrap();
    assert_eq!(out.completions.len(), 3);
    let posts = server.posts();
    assert_eq!(
        posts.len(),
        2,
        "the same request again, not one per sequence"
    );
    assert!(posts.iter().all(|p| n_field(p) == Some(3)));
    // And the next request still asks for n at once.
    generate(
        &mut generator,
        chat_prompt(),
        sampled(2, 2),
        &mut Recorder::default(),
    )
    .unwrap();
    assert_eq!(n_field(&server.posts()[2]), Some(2));
}

#[test]
fn every_request_has_a_deadline() {
    let server = MockServer::serving("m", |_| Reply::Silence);
    let mut config = HttpConfig::new(&server.endpoint());
    config.retry = quick(10);
    config.deadline = Duration::from_millis(800);
    let mut generator = HttpGenerator::connect(config).unwrap();
    let started = Instant::now();
    let err = generate(
        &mut generator,
        chat_prompt(),
        greedy(16, &[]),
        &mut Recorder::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains("did not finish within the request deadline"),
        "{err}"
    );
}
