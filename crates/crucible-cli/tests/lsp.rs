//! `crucible lsp` end to end: Neovim (headless, Debian's 0.7) attaches to it over stdio and
//! receives a completion, the binary answers malformed input with an error and lives on, and
//! it exits as soon as `exit` arrives, with stdin still open.
//! The model is scripted (`--scripted-answers`): what is under test is the editor protocol.
//!
//! Needs `nvim` (scripts/setup.sh installs Debian's `neovim`); without it the test fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_answers(dir: &Path, answers: &[&str]) -> std::path::PathBuf {
    let path = dir.join("answers.json");
    std::fs::write(&path, serde_json::to_string(answers).unwrap()).unwrap();
    path
}

/// `crucible lsp` with a scripted model and no repository context, spoken to over its stdio.
struct Session {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Session {
    fn start(dir: &Path) -> Session {
        let answers = write_answers(dir, &["x"]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
            .args(["lsp", "--no-context", "--scripted-answers"])
            .arg(&answers)
            .env("CRUCIBLE_HOME", dir.join("home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the crucible binary runs");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Session {
            child,
            stdin,
            stdout,
        }
    }

    /// Send one message, framed.
    fn send(&mut self, body: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next message the server sends (a response or a notification).
    fn read(&mut self) -> serde_json::Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "the server closed stdout");
            if line.trim_end().is_empty() {
                break;
            }
            if let Some(value) = line.trim_end().strip_prefix("Content-Length: ") {
                length = value.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// The next response, notifications skipped.
    fn response(&mut self) -> serde_json::Value {
        loop {
            let message = self.read();
            if message.get("method").is_none() {
                return message;
            }
        }
    }
}

#[test]
fn neovim_attaches_and_receives_a_completion() {
    let nvim = Command::new("nvim").arg("--version").output();
    assert!(
        nvim.as_ref().is_ok_and(|out| out.status.success()),
        "nvim is not installed: run scripts/setup.sh (it installs Debian's `neovim`)"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    std::fs::create_dir_all(&root).unwrap();
    let file = root.join("add.py");
    std::fs::write(&file, "def add(a, b):\n    return ").unwrap();
    let answers = write_answers(dir.path(), &["a + b"]);
    let out = dir.path().join("out.txt");
    let init = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lsp/test-init.lua");
    let started = Instant::now();
    let mut child = Command::new("nvim")
        .args(["--headless", "--clean", "-u"])
        .arg(&init)
        .env("CRUCIBLE_BIN", env!("CARGO_BIN_EXE_crucible"))
        .env("CRUCIBLE_TEST_FILE", &file)
        .env("CRUCIBLE_TEST_ROOT", &root)
        .env("CRUCIBLE_TEST_ANSWERS", &answers)
        .env("CRUCIBLE_TEST_OUT", &out)
        .env("CRUCIBLE_HOME", dir.path().join("home"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nvim starts");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("nvim did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let got = std::fs::read_to_string(&out).unwrap_or_else(|_| {
        panic!("nvim wrote no result ({status}); the init script failed before it could")
    });
    assert_eq!(got, "OK\na + b", "what Neovim got");
}

#[test]
fn malformed_input_is_answered_with_an_error_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::start(dir.path());
    session.send(
        "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"initialize\", \"params\": {\"capabilities\": {}}}",
    );
    session.send("{not json");
    let mut by_id = std::collections::HashMap::new();
    let mut parse_error = None;
    // As a client must, wait for initialize's answer before the next request: a shutdown read
    // while initialize is still being handled is answered "not initialized" (and the exit
    // after it is then an exit without shutdown, status 1).
    let mut shutdown_sent = false;
    while by_id.len() < 2 || parse_error.is_none() {
        if !shutdown_sent && by_id.contains_key(&1) {
            session.send("{\"jsonrpc\": \"2.0\", \"id\": 2, \"method\": \"shutdown\"}");
            shutdown_sent = true;
        }
        let message = session.read();
        if message.get("method").is_some() {
            continue;
        }
        if message["id"].is_null() {
            parse_error = Some(message);
        } else {
            by_id.insert(message["id"].as_u64().unwrap(), message);
        }
    }
    assert_eq!(by_id[&1]["result"]["serverInfo"]["name"], "crucible");
    assert_eq!(parse_error.unwrap()["error"]["code"], -32700);
    assert!(by_id[&2].get("error").is_none(), "{}", by_id[&2]);
    assert_eq!(by_id[&2]["result"], serde_json::Value::Null);
    session.send("{\"jsonrpc\": \"2.0\", \"method\": \"exit\"}");
    drop(session.stdin.take());
    let status = session.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn the_server_exits_at_once_on_exit_with_stdin_open_0_after_shutdown_and_1_without() {
    for shutdown_first in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut session = Session::start(dir.path());
        session.send(
            "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"initialize\", \"params\": {\"capabilities\": {}}}",
        );
        // `shutdown` is refused until `initialize` has been answered.
        assert_eq!(session.response()["id"], 1);
        if shutdown_first {
            session.send("{\"jsonrpc\": \"2.0\", \"id\": 2, \"method\": \"shutdown\"}");
            let response = session.response();
            assert_eq!(response["id"], 2);
            assert!(response.get("error").is_none(), "{response}");
        }
        session.send("{\"jsonrpc\": \"2.0\", \"method\": \"exit\"}");
        // stdin stays open: the server must not wait for it to close.
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = session.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                session.child.kill().unwrap();
                panic!("`crucible lsp` did not exit within 10 s of `exit` (stdin open)");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        drop(session.stdin.take());
        assert_eq!(
            status.code(),
            Some(if shutdown_first { 0 } else { 1 }),
            "{status}"
        );
    }
}
