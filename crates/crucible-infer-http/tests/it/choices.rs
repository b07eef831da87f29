//! Several sequences per prompt: `n` in one request, and separate requests when the server
//! refuses `n` or returns fewer choices.

use std::collections::BTreeSet;

use serde_json::Value;

use crucible_infer_http::mock::{
    MockServer, Received, Reply, chat_delta, chat_finish, usage_event,
};

use crate::{Recorder, chat_prompt, connect, generate, sampled};

/// An answer naming the seed it was asked with, with usage (3 prompt tokens, `seed % 10 + 1`
/// completion tokens).
fn answer_with_seed(request: &Received) -> Reply {
    let seed = request.json()["seed"].as_u64().unwrap();
    let text = format!("x = {seed}");
    Reply::chat(&[&text], "stop", Some((3, (seed % 10 + 1) as usize)))
}

fn n_field(request: &Received) -> Option<u64> {
    request.json().get("n").and_then(Value::as_u64)
}

#[test]
fn n_sequences_come_back_as_choices_of_one_request() {
    let server = MockServer::serving("m", |_| {
        Reply::events([
            chat_delta(0, "a = 0"),
            chat_delta(2, "c = 2"),
            chat_delta(1, "b = 1"),
            chat_delta(1, " + 1"),
            chat_finish(0, "stop"),
            chat_finish(1, "stop"),
            chat_finish(2, "length"),
            usage_event(20, 12),
        ])
    });
    let mut generator = connect(&server, None);
    let mut recorder = Recorder::default();
    let out = generate(&mut generator, chat_prompt(), sampled(3, 9), &mut recorder).unwrap();
    let texts: Vec<&str> = out.completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["a = 0", "b = 1 + 1", "c = 2"]);
    for (seq, text) in texts.iter().enumerate() {
        assert_eq!(recorder.text(seq), *text);
    }
    assert_eq!(out.prompt_tokens, 20);
    // The request's 12 tokens are shared in proportion to length.
    let tokens: Vec<usize> = out.completions.iter().map(|c| c.tokens).collect();
    assert_eq!(tokens.iter().sum::<usize>(), 12);
    assert!(tokens[1] > tokens[0], "{tokens:?}");
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(n_field(&posts[0]), Some(3));
    assert_eq!(posts[0].json()["seed"], 9);
}

#[test]
fn a_refused_n_falls_back_to_one_request_per_sequence() {
    // llama-server's answer to `n` > 1.
    let server = MockServer::serving("m", |request| match n_field(request) {
        Some(_) => Reply::error(500, "Only one completion choice is allowed"),
        None => answer_with_seed(request),
    });
    let mut generator = connect(&server, None);
    let mut recorder = Recorder::default();
    let out = generate(&mut generator, chat_prompt(), sampled(3, 9), &mut recorder).unwrap();
    let posts = server.posts();
    assert_eq!(posts.len(), 4);
    assert_eq!(n_field(&posts[0]), Some(3));
    assert!(posts[1..].iter().all(|p| n_field(p).is_none()));
    // Sequence 0 keeps the request's seed; the others get distinct derived seeds.
    assert_eq!(out.completions[0].text, "x = 9");
    let texts: BTreeSet<&str> = out.completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts.len(), 3);
    for (seq, completion) in out.completions.iter().enumerate() {
        assert_eq!(recorder.text(seq), completion.text);
        // One request per sequence: its usage is exact.
        let seed: u64 = completion.text["x = ".len()..].parse().unwrap();
        assert_eq!(completion.tokens, (seed % 10 + 1) as usize);
    }
    assert_eq!(out.prompt_tokens, 3);

    // The generator remembers: the next request goes straight to separate requests.
    generate(
        &mut generator,
        chat_prompt(),
        sampled(2, 1),
        &mut Recorder::default(),
    )
    .unwrap();
    let posts = server.posts();
    assert_eq!(posts.len(), 6);
    assert!(posts[4..].iter().all(|p| n_field(p).is_none()));
}

#[test]
fn fewer_choices_than_asked_are_completed_with_separate_requests() {
    // Ollama ignores `n` and answers with one choice.
    let server = MockServer::serving("m", answer_with_seed);
    let mut generator = connect(&server, None);
    let mut recorder = Recorder::default();
    let out = generate(&mut generator, chat_prompt(), sampled(3, 4), &mut recorder).unwrap();
    let posts = server.posts();
    assert_eq!(posts.len(), 3);
    assert_eq!(n_field(&posts[0]), Some(3));
    assert!(posts[1..].iter().all(|p| n_field(p).is_none()));
    assert_eq!(out.completions.len(), 3);
    assert_eq!(out.completions[0].text, "x = 4");
    let texts: BTreeSet<&str> = out.completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts.len(), 3);

    generate(
        &mut generator,
        chat_prompt(),
        sampled(2, 4),
        &mut Recorder::default(),
    )
    .unwrap();
    let posts = server.posts();
    assert_eq!(posts.len(), 5);
    assert!(posts[3..].iter().all(|p| n_field(p).is_none()));
}
