//! `crucible serve` from the command line: the exposure rules are checked before anything is
//! loaded, a served model answers and drains on SIGTERM, and 50 concurrent clients are each
//! served or refused with 429 within the 1 GiB the 0.5B model's server may take.

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

/// `crucible serve ARGS` on the default model, on a free port: the child and its address, once
/// it reports ready.
fn serve(args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["serve", "--port", "0"])
        .args(args)
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
    // The access log goes on: read it, so a full pipe never stalls the server.
    std::thread::spawn(move || stderr.lines().for_each(drop));
    let deadline = Instant::now() + Duration::from_secs(120);
    while ureq::get(&format!("http://{addr}/health")).call().is_err() {
        assert!(Instant::now() < deadline, "the model did not load");
        std::thread::sleep(Duration::from_millis(200));
    }
    (child, addr)
}

/// Ask for a few tokens of chat; the answer's JSON.
fn chat(addr: &str) -> serde_json::Value {
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
    serde_json::from_str(&answer).unwrap()
}

#[test]
fn the_default_model_is_served_and_sigterm_stops_the_server() {
    let (mut child, addr) = serve(&["--threads", "2", "--ctx", "1024", "--max-batch", "2"]);
    let answer = chat(&addr);
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

/// The load test of the serving benchmark (`bench/serving/run.sh`'s 50 clients), small enough
/// for every run: the benchmark's server (8 slots of 4,096 cells, 32 queue places), 50
/// streaming clients sending 100 chat requests between them through the benchmark's own load
/// generator. Every request must end served (a complete stream) or refused with 429, none
/// failed or left hanging, the server's peak RSS must stay within 1 GiB, and it must serve
/// again afterwards.
#[test]
fn fifty_clients_are_each_served_or_refused_within_a_gibibyte() {
    let (mut child, addr) = serve(&["--threads", "2", "--ctx", "4096", "--max-batch", "8"]);
    let load = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/serving/load.py");
    let pid = child.id().to_string();
    let url = format!("http://{addr}");
    let out = Command::new("python3")
        .args([load, "--url", &url, "--pid", &pid, "--concurrency", "50"])
        .args([
            "--requests",
            "100",
            "--max-tokens",
            "16",
            "--timeout",
            "300",
        ])
        .output()
        .expect("python3 runs (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "load.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let outcomes = &report["outcomes"];
    let count = |key: &str| outcomes[key].as_u64().unwrap();
    assert_eq!(count("failed"), 0, "{report}");
    assert_eq!(count("hung"), 0, "{report}");
    assert_eq!(count("served") + count("refused"), 100, "{report}");
    // The first 50 arrive together: 8 decode and 32 wait, so at least 40 are served.
    assert!(count("served") >= 40, "{report}");
    assert!(
        count("refused") > 0,
        "50 clients exceed 40 places: {report}"
    );
    let peak = report["peak_rss_mib"].as_f64().unwrap();
    assert!(
        peak <= 1024.0,
        "peak RSS {peak} MiB is over 1 GiB: {report}"
    );
    assert!(chat(&addr)["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    child.kill().unwrap();
    child.wait().unwrap();
}
