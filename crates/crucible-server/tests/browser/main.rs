//! The web playground in a real headless Chromium (Debian's, installed by scripts/setup.sh),
//! driven over WebDriver: a task typed into the page is solved by a scripted model with the
//! real sandbox, and the attempts, the verdict and the highlighted code must show; the chat
//! tab streams a reply; a server with a key makes the page ask for it. Any script error or
//! refused load in the browser's console fails the test.
//!
//! `CRUCIBLE_PLAYGROUND_SCREENSHOT=docs/playground.png` also saves the solved page there.

#[allow(dead_code)]
#[path = "../it/support.rs"]
mod support;
mod webdriver;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crucible_core::exec::{ExecConfig, Executor};
use crucible_core::infer::{Prompt, ScriptedGenerator};
use crucible_server::ApiKey;

use support::{config, echo, start, start_with};
use webdriver::Browser;

/// The first program it writes subtracts; every later one (the repair) adds.
fn learner() -> ScriptedGenerator {
    let mut calls = 0;
    ScriptedGenerator::from_fn(move |request, _| match &request.prompt {
        Prompt::Chat { .. } => {
            calls += 1;
            Some(if calls == 1 {
                "a, b = map(int, input().split())\nprint(a - b)  # wrong: subtracts\n```".into()
            } else {
                "a, b = map(int, input().split())\n# the sum, as the examples show\nprint(a + b)\n```"
                    .into()
            })
        }
        Prompt::Text { .. } | Prompt::Fill { .. } => None,
    })
    .streaming(Duration::from_millis(2))
    .named("scripted-model")
}

/// Console errors other than the expected 401s of a page that has no key yet.
fn unexpected_errors(browser: &Browser) -> Vec<String> {
    browser
        .severe_logs()
        .into_iter()
        .filter(|message| !message.contains("status of 401"))
        .collect()
}

#[test]
fn the_playground_solves_a_typed_task_and_shows_each_attempt_and_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(Executor::new(&ExecConfig::new(dir.path())).expect("the sandbox"));
    let server = start_with(config(), learner(), Some(executor));
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.wait_until(
        "the page has read the server's options",
        Duration::from_secs(10),
        "return document.getElementById('model').textContent.includes('scripted-model')",
        "return document.getElementById('model').textContent + ' | ' + document.getElementById('status').textContent",
    );

    browser
        .find("#description")
        .type_text("Read two integers from one line and print their sum.");
    browser.find("#examples .ex-input").type_text("1 2");
    browser.find("#examples .ex-output").type_text("3");
    browser.find("#add-example").click();
    browser
        .find("#examples .example:nth-child(2) .ex-input")
        .type_text("5 7");
    browser
        .find("#examples .example:nth-child(2) .ex-output")
        .type_text("12");
    browser.find("#strategy option[value='repair']").click();
    let calls = browser.find("#model-calls");
    calls.clear();
    calls.type_text("4");
    browser.find("#solve").click();

    browser.wait_until(
        "the verdict shows",
        Duration::from_secs(60),
        "return !['not run', 'running'].includes(document.getElementById('verdict').textContent)",
        "return document.getElementById('verdict').textContent + ' | ' + document.getElementById('status').textContent",
    );
    assert_eq!(browser.find("#verdict").text(), "passed 2/2");
    let code = browser.find("#code").text();
    assert_eq!(
        code,
        "a, b = map(int, input().split())\n# the sum, as the examples show\nprint(a + b)"
    );
    // Highlighted: keywords, comments and calls are wrapped in spans.
    let spans = browser.run(
        "const c = document.getElementById('code'); return ['tok-kw', 'tok-com', 'tok-fn'].map(k => c.querySelectorAll('.' + k).length)",
        json!([]),
    );
    assert!(
        spans
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n.as_u64() > Some(0)),
        "highlight spans (keyword, comment, call): {spans}"
    );
    // Two attempts: the sample failed its examples, the repair passed them.
    let attempts = browser.run(
        "return [...document.querySelectorAll('#attempts li.attempt')].map(li => li.querySelector('.stage').textContent + ': ' + li.querySelector('.verdicts').textContent)",
        json!([]),
    );
    assert_eq!(
        attempts,
        json!(["#1 sample: wrong answer 0/2", "#2 repair: passed 2/2"]),
    );
    let live = browser.run(
        "return document.getElementById('live').textContent",
        json!([]),
    );
    assert!(
        live.as_str()
            .is_some_and(|t| t.contains("a - b") && t.contains("a + b")),
        "the model's text streamed into the page: {live}"
    );
    assert_eq!(unexpected_errors(&browser), Vec::<String>::new());

    if let Ok(path) = std::env::var("CRUCIBLE_PLAYGROUND_SCREENSHOT") {
        let png = browser.screenshot();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(&path, png).unwrap_or_else(|err| panic!("writing {path}: {err}"));
    }
}

#[test]
fn the_playground_asks_for_the_key_and_then_chats_with_streaming() {
    let mut config = config();
    config.api_key = ApiKey::new("sesame");
    let server = start(config, echo());
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.wait_until(
        "the page asks for the key",
        Duration::from_secs(10),
        "return document.getElementById('key-dialog').open",
        "return document.body.innerText.slice(0, 300)",
    );
    browser.find("#api-key").type_text("sesame");
    browser.find("#key-save").click();
    browser.wait_until(
        "the page has read the server's options with the key",
        Duration::from_secs(10),
        "return document.getElementById('model').textContent.includes('test-model')",
        "return document.getElementById('model').textContent",
    );

    browser.find("#tab-chat").click();
    browser.find("#chat-input").type_text("hello there");
    browser.find("#chat-send").click();
    browser.wait_until(
        "the reply has streamed in",
        Duration::from_secs(20),
        "const m = document.querySelector('.message.assistant'); return !!m && !m.classList.contains('streaming') && m.textContent.length > 0",
        "return document.getElementById('messages').innerText + ' | ' + document.getElementById('status').textContent",
    );
    let reply = browser.find(".message.assistant .body").text();
    assert_eq!(reply, "you said hello there");
    assert_eq!(browser.find(".message.user .body").text(), "hello there");
    assert_eq!(unexpected_errors(&browser), Vec::<String>::new());
}
