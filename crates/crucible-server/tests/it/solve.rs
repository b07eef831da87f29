//! Verified generation (`/v1/crucible/solve`) and the sandboxed run endpoint, with the real
//! sandbox and a scripted model.

use std::sync::Arc;

use serde_json::{Value, json};

use crucible_core::exec::{ExecConfig, Executor};
use crucible_core::infer::{Prompt, ScriptedGenerator};
use crucible_server::ApiKey;

use crate::support::{config, post, post_json, post_stream, start_with};

fn executor(dir: &tempfile::TempDir) -> Arc<Executor> {
    Arc::new(Executor::new(&ExecConfig::new(dir.path())).expect("the sandbox starts"))
}

/// Answers chat prompts (prefilled with a Python fence) with a correct sum program.
fn adder() -> ScriptedGenerator {
    ScriptedGenerator::from_fn(|request, _| match &request.prompt {
        Prompt::Chat { .. } => Some("a, b = map(int, input().split())\nprint(a + b)\n```".into()),
        Prompt::Text { .. } | Prompt::Fill { .. } => None,
    })
    .streaming(std::time::Duration::from_millis(1))
    .named("test-model")
}

fn sum_task() -> Value {
    json!({
        "id": "sum",
        "description": "Read two integers from one line and print their sum.",
        "examples": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 7\n", "output": "12\n"}],
        "language": "python",
    })
}

#[test]
fn a_solve_streams_its_attempts_and_ends_with_the_verified_program() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(config(), adder(), Some(executor(&dir)));
    let events = post_stream(
        &server,
        "/v1/crucible/solve",
        &json!({"task": sum_task(), "strategy": "repair", "stream": true}),
    );
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"asking"), "{names:?}");
    assert!(names.contains(&"text"), "{names:?}");
    let attempt = events
        .iter()
        .find(|(name, _)| name == "attempt")
        .map(|(_, data)| serde_json::from_str::<Value>(data).unwrap())
        .expect("an attempt event");
    assert_eq!(
        attempt["outputs"][0]["verdicts"][0]["status"], "passed",
        "{attempt}"
    );
    let (name, result) = events.last().unwrap();
    assert_eq!(name, "result");
    let result: Value = serde_json::from_str(result).unwrap();
    assert_eq!(
        result["code"],
        "a, b = map(int, input().split())\nprint(a + b)"
    );
    assert_eq!(result["verdict"]["status"], "passed", "{result}");
    assert_eq!(result["verdict"]["passed"], 2);
    assert_eq!(result["strategy"], "repair");
    assert!(result["trace"]["attempts"].is_array());
}

#[test]
fn a_solve_without_stream_answers_one_object_and_budgets_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(config(), adder(), Some(executor(&dir)));
    let (status, result) = post_json(
        &server,
        "/v1/crucible/solve",
        &json!({"task": sum_task(), "strategy": "repair", "budget": {"model_calls": 1000, "seconds": 99999}}),
    );
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["verdict"]["status"], "passed", "{result}");
    assert_eq!(result["budget"]["limit"]["model_calls"], 12);
    let (status, text, _) = post(
        &server,
        "/v1/crucible/solve",
        &json!({"task": {"id": "x"}}).to_string(),
        None,
    );
    assert_eq!(status, 400);
    assert!(text.contains("`task`"), "{text}");
}

#[test]
fn without_a_sandbox_strategies_are_refused_but_plain_requests_work() {
    let server = start_with(config(), adder(), None);
    let (status, text, _) = post(
        &server,
        "/v1/crucible/solve",
        &json!({"task": sum_task()}).to_string(),
        None,
    );
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("sandbox"), "{text}");
    let plain = json!({"id": "p", "description": "Print the sum of two integers read from stdin."});
    let (status, result) = post_json(&server, "/v1/crucible/solve", &json!({"task": plain}));
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result["code"],
        "a, b = map(int, input().split())\nprint(a + b)"
    );
}

#[test]
fn the_run_endpoint_is_off_by_default_and_capped_when_on() {
    let dir = tempfile::tempdir().unwrap();
    let program = json!({"language": "python", "source": "print(input()[::-1])", "stdin": "abc\n"});
    let server = start_with(config(), adder(), Some(executor(&dir)));
    let (status, text, _) = post(&server, "/v1/crucible/run", &program.to_string(), None);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("--allow-exec"), "{text}");
    drop(server);

    let mut config = config();
    config.api_key = ApiKey::new("sk-run");
    config.exec.allow = true;
    let server = start_with(config, adder(), Some(executor(&dir)));
    let (status, _, _) = post(&server, "/v1/crucible/run", &program.to_string(), None);
    assert_eq!(status, 401);
    let mut asked = program.clone();
    asked["time_limit"] = json!(100);
    let (status, text, _) = post(
        &server,
        "/v1/crucible/run",
        &asked.to_string(),
        Some("sk-run"),
    );
    assert_eq!(status, 200, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["status"], "passed", "{report}");
    assert_eq!(report["output"].as_str().unwrap().trim(), "cba");
    assert_eq!(report["sandboxed"], true);
    assert_eq!(report["limits"]["time_limit"], 2.0);
    let tested = json!({
        "language": "python",
        "source": "print(int(input()) * 2)",
        "tests": {"type": "io", "cases": [{"input": "2\n", "output": "4\n"}, {"input": "3\n", "output": "7\n"}], "compare": {"mode": "whitespace"}},
    });
    let (status, text, _) = post(
        &server,
        "/v1/crucible/run",
        &tested.to_string(),
        Some("sk-run"),
    );
    assert_eq!(status, 200, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["status"], "wrong_answer", "{report}");
}
