//! Streamed answers: text reaching the observer, the prefill check, stop sequences, finish
//! reasons and token counts.

use std::time::{Duration, Instant};

use serde_json::json;

use crucible_infer::{FinishReason, Prompt};
use crucible_infer_http::mock::{MockServer, Reply, chat_delta, text_delta, usage_event};

use crate::{Recorder, chat_prompt, connect, generate, greedy};

/// One greedy chat generation against a server answering every POST with `reply`.
fn chat_once(reply: Reply, stop: &[&str]) -> (crucible_infer::Generation, Recorder) {
    let server = MockServer::serving("m", move |_| reply.clone());
    let mut generator = connect(&server, None);
    let mut recorder = Recorder::default();
    let out = generate(
        &mut generator,
        chat_prompt(),
        greedy(64, stop),
        &mut recorder,
    )
    .unwrap();
    (out, recorder)
}

#[test]
fn deltas_reach_the_observer_in_order_holding_back_a_possible_stop() {
    let reply = Reply::chat(
        &["def add(a, b):\n", "    return a", " + b\n"],
        "stop",
        None,
    );
    let (out, recorder) = chat_once(reply, &["\n```"]);
    // A trailing newline could start the closing fence, so it waits for the next piece.
    let pieces: Vec<&str> = recorder.pieces.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(pieces, ["def add(a, b):", "\n    return a", " + b", "\n"]);
    assert!(recorder.pieces.iter().all(|(seq, _)| *seq == 0));
    assert_eq!(
        out.completions[0].text,
        "def add(a, b):\n    return a + b\n"
    );
    assert_eq!(recorder.text(0), out.completions[0].text);
}

#[test]
fn a_continued_prefill_is_kept_as_sent() {
    let reply = Reply::chat(&["import math\n", "def f():\n    return 1"], "stop", None);
    let (out, recorder) = chat_once(reply, &["\n```"]);
    assert_eq!(
        out.completions[0].text,
        "import math\ndef f():\n    return 1"
    );
    assert_eq!(recorder.text(0), out.completions[0].text);
}

#[test]
fn a_prefill_the_server_did_not_continue_is_dropped_from_the_answer() {
    // The server answered anew and opened its own fence, split over pieces.
    let reply = Reply::chat(
        &["``", "`python", "\ndef f():\n", "    return 1"],
        "stop",
        None,
    );
    let (out, recorder) = chat_once(reply, &["\n```"]);
    assert_eq!(out.completions[0].text, "def f():\n    return 1");
    assert_eq!(recorder.text(0), "def f():\n    return 1");
    assert_eq!(out.completions[0].finish, FinishReason::Stop);

    // Another language tag is still the same opening.
    let reply = Reply::chat(&["```py\nx = 1"], "stop", None);
    let (out, _) = chat_once(reply, &["\n```"]);
    assert_eq!(out.completions[0].text, "x = 1");
}

#[test]
fn finish_reasons_map_to_stop_length_and_end_of_generation() {
    let (out, _) = chat_once(Reply::chat(&["x = 1"], "length", None), &["\n```"]);
    assert_eq!(out.completions[0].finish, FinishReason::Length);
    // "stop" with stop strings in the request: taken as a stop string.
    let (out, _) = chat_once(Reply::chat(&["x = 1"], "stop", None), &["\n```"]);
    assert_eq!(out.completions[0].finish, FinishReason::Stop);
    // Without stop strings only the end-of-generation token can have stopped it.
    let (out, _) = chat_once(Reply::chat(&["x = 1"], "stop", None), &[]);
    assert_eq!(out.completions[0].finish, FinishReason::Eos);
    // vLLM says which: `stop_reason` null is the end-of-generation token.
    let vllm_eos = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": null}]});
    let (out, _) = chat_once(
        Reply::events([chat_delta(0, "x = 1"), vllm_eos]),
        &["\n```"],
    );
    assert_eq!(out.completions[0].finish, FinishReason::Eos);
}

#[test]
fn token_counts_come_from_usage_or_else_from_the_pieces() {
    let (out, _) = chat_once(Reply::chat(&["a", "b", "c"], "stop", Some((31, 7))), &[]);
    assert_eq!(out.prompt_tokens, 31);
    assert_eq!(out.completions[0].tokens, 7);
    assert_eq!(out.completions[0].logprob, None);
    let (out, _) = chat_once(Reply::chat(&["a", "b", "c"], "stop", None), &[]);
    assert_eq!(out.prompt_tokens, 0);
    assert_eq!(out.completions[0].tokens, 3);
}

#[test]
fn a_stop_the_server_did_not_apply_ends_the_sequence_and_the_request() {
    // The server streams past the closing fence and keeps the stream open.
    let server = MockServer::serving("m", |_| {
        Reply::hanging([chat_delta(0, "x = 1\n``"), chat_delta(0, "`\nSome prose.")])
    });
    let mut generator = connect(&server, None);
    let mut recorder = Recorder::default();
    let started = Instant::now();
    let out = generate(
        &mut generator,
        chat_prompt(),
        greedy(64, &["\n```"]),
        &mut recorder,
    )
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.completions[0].text, "x = 1");
    assert_eq!(out.completions[0].finish, FinishReason::Stop);
    assert_eq!(recorder.text(0), "x = 1");
    wait_for_hangup(&server);
}

#[test]
fn a_server_that_ignores_stream_answers_with_one_json_object() {
    let whole = json!({
        "object": "text_completion",
        "choices": [{"index": 0, "text": "print(1)\n", "finish_reason": "length"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 3},
    });
    let server = MockServer::serving("m", move |_| Reply::json(whole.clone()));
    let mut generator = connect(&server, None);
    let mut recorder = Recorder::default();
    let prompt = Prompt::Text {
        text: "# print one\n".into(),
    };
    let out = generate(&mut generator, prompt, greedy(3, &[]), &mut recorder).unwrap();
    assert_eq!(out.completions[0].text, "print(1)\n");
    assert_eq!(out.completions[0].finish, FinishReason::Length);
    assert_eq!(out.completions[0].tokens, 3);
    assert_eq!(out.prompt_tokens, 4);
    assert_eq!(recorder.text(0), "print(1)\n");
}

#[test]
fn text_prompts_have_no_prefill_check() {
    let server = MockServer::serving("m", |_| {
        Reply::events([
            text_delta(0, "```python\nx", Some("stop")),
            usage_event(2, 2),
        ])
    });
    let mut generator = connect(&server, None);
    let prompt = Prompt::Text {
        text: "Code:\n".into(),
    };
    let out = generate(
        &mut generator,
        prompt,
        greedy(8, &[]),
        &mut Recorder::default(),
    )
    .unwrap();
    assert_eq!(out.completions[0].text, "```python\nx");
}

/// Wait until the server saw the client close a hanging stream.
pub(crate) fn wait_for_hangup(server: &MockServer) {
    let started = Instant::now();
    while server.hangups() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the client kept the abandoned stream open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
