//! `crucible serve` from the command line: the exposure rules are checked before anything is
//! loaded, and a served model answers and drains on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn crucible(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CRUCIBLE_API_KEY")
        .stdin(Stdio::null())
        .output()
        .expect("the crucible binary runs")
}

#[test]
fn a_public_address_without_a_key_is_refused_with_a_hint() {
    let out = crucible(&["serve", "--host", "0.0.0.0", "--port", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without an API key"), "{stderr}");
    assert!(stderr.contains("--insecure-no-api-key"), "{stderr}");
}

#[test]
fn the_run_endpoint_needs_a_key() {
    let out = crucible(&["serve", "--port", "0", "--allow-exec"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-exec"), "{stderr}");
}

#[test]
fn the_default_model_is_served_and_sigterm_stops_the_server() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args([
            "serve",
            "--port",
            "0",
            "--threads",
            "2",
            "--ctx",
            "1024",
            "--max-batch",
            "2",
        ])
        .env("NO_COLOR", "1")
        .env_remove("CRUCIBLE_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the crucible binary runs");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the server ended before listening (is the default model installed? `crucible model pull`)"
        );
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while ureq::get(&format!("http://{addr}/health")).call().is_err() {
        assert!(Instant::now() < deadline, "the model did not load");
        std::thread::sleep(Duration::from_millis(200));
    }
    let body = serde_json::json!({
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 8,
        "temperature": 0,
    });
    let answer = ureq::post(&format!("http://{addr}/v1/chat/completions"))
        .set("Content-Type", "application/json")
        .send_string(&body.to_string())
        .unwrap()
        .into_string()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["model"], "qwen2.5-coder-0.5b-instruct");
    assert!(
        answer["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{answer}"
    );
    // SIGTERM: the server drains and exits cleanly.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
