//! `crucible generate` and `crucible eval` with an OpenAI-compatible server (the in-process
//! mock server of `crucible-infer-http`): code from a streamed answer, a clear error when the
//! server is down, and an eval run that records the server's model. No model is needed, so these
//! tests run on a build without the llama.cpp backend.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crucible_infer_http::mock::{MockServer, Reply};

#[cfg(feature = "embeddings")]
#[path = "support/embedding_model.rs"]
mod embedding_model;

/// Run `crucible` in `dir` with a clean environment: its own home, no user config, no
/// inherited model, endpoint or key.
fn crucible(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CRUCIBLE_HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("CRUCIBLE_MODEL")
        .env_remove("CRUCIBLE_ENDPOINT")
        .env_remove("CRUCIBLE_CONFIG")
        .env_remove("CRUCIBLE_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .output()
        .expect("the crucible binary runs")
}

#[test]
fn generate_json_with_a_server_prints_the_code_it_streamed() {
    let server = MockServer::serving("coder-7b", |_| {
        Reply::chat(
            &["def add(a, b):\n", "    return a + b"],
            "stop",
            Some((40, 12)),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let endpoint = server.endpoint();
    let out = crucible(
        dir.path(),
        &[
            "generate",
            "--json",
            "--endpoint",
            &endpoint,
            "--model",
            "coder-7b",
            "--lang",
            "python",
            "a function add(a, b) that returns the sum",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "generate failed: {stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not one JSON object ({err}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(json["code"], "def add(a, b):\n    return a + b");
    assert_eq!(json["model"], "coder-7b");
    assert_eq!(json["language"], "python");
    assert_eq!(json["tokens"], 12);
    assert_eq!(json["prompt_tokens"], 40);
    assert_eq!(json["finish"], "stop");
    assert_eq!(json["decoding"]["method"], "greedy");

    // The request: the chat prompt, the answer prefilled with a fence, the closing fence as stop.
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    let body = posts[0].json();
    assert_eq!(posts[0].path, "/v1/chat/completions");
    assert_eq!(body["model"], "coder-7b");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(
        messages.last().unwrap(),
        &json!({"role": "assistant", "content": "```python\n"})
    );
    assert!(
        messages.iter().any(|m| m["role"] == "user"
            && m["content"]
                .as_str()
                .unwrap()
                .contains("a function add(a, b) that returns the sum")),
        "{body}"
    );
    assert_eq!(body["stop"], json!(["\n```"]));
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 768);
}

#[test]
fn generate_with_the_server_down_fails_with_the_url_and_a_hint() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}/v1");
    let dir = tempfile::tempdir().unwrap();
    let out = crucible(
        dir.path(),
        &["generate", "--endpoint", &endpoint, "print hello"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("error: could not connect to `{endpoint}/models`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "hint: check that the server is running and reachable from here: `curl {endpoint}/models`"
        )),
        "{stderr}"
    );
}

#[test]
fn eval_with_a_server_records_the_endpoint_and_model_and_refuses_another_on_resume() {
    // A server with two models; each answers with the right program.
    let models = json!({"data": [{"id": "coder-7b"}, {"id": "coder-32b"}]});
    let server = MockServer::start(move |request| match request.path.as_str() {
        "/v1/models" => Reply::json(models.clone()),
        "/v1/chat/completions" => Reply::chat(
            &["n = int(input())\n", "print(2 * n)"],
            "stop",
            Some((50, 9)),
        ),
        _ => Reply::error(404, "not found"),
    });
    let dir = tempfile::tempdir().unwrap();
    let tasks = dir.path().join("tasks.jsonl");
    std::fs::write(
        &tasks,
        r#"{"id": "double", "description": "Print twice the integer on stdin.", "examples": [{"input": "2\n", "output": "4\n"}], "hidden_examples": [{"input": "21\n", "output": "42\n"}], "language": "python"}"#,
    )
    .unwrap();
    let endpoint = server.endpoint();
    let run = dir.path().join("run");
    let eval = |model: &str| {
        crucible(
            dir.path(),
            &[
                "eval",
                "--benchmark",
                tasks.to_str().unwrap(),
                "--endpoint",
                &endpoint,
                "--model",
                model,
                "--out",
                run.to_str().unwrap(),
            ],
        )
    };
    let first = eval("coder-7b");
    assert!(
        first.status.success(),
        "eval failed: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["pass@1"], 1.0);
    assert_eq!(
        summary["config"]["model"],
        json!({"name": "coder-7b", "endpoint": endpoint})
    );
    assert_eq!(summary["tokens_completion"], 9);

    let other = eval("coder-32b");
    assert_eq!(other.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(
        stderr.contains("was made with a different configuration"),
        "{stderr}"
    );
    assert_eq!(server.posts().len(), 1, "the refused run generated nothing");
}

#[test]
fn request_timeout_reaches_the_server_client_and_zero_limits_are_refused() {
    // The server never answers: with `--request-timeout 1` the call fails after a second of
    // silence, naming the limit, instead of waiting out the default ten minutes.
    let server = MockServer::serving("coder-7b", |_| Reply::Silence);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = server.endpoint();
    let started = std::time::Instant::now();
    let out = crucible(
        dir.path(),
        &[
            "generate",
            "--endpoint",
            &endpoint,
            "--request-timeout",
            "1",
            "--lang",
            "python",
            "a function f",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("within 1 s"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    // Zero of either is refused before anything is sent.
    for flag in ["--request-timeout", "--parallel-requests"] {
        let out = crucible(
            dir.path(),
            &[
                "generate",
                "--endpoint",
                &endpoint,
                flag,
                "0",
                "a function f",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let name = flag.trim_start_matches("--").replace('-', "_");
        assert!(
            stderr.contains(&name) && stderr.contains("at least 1"),
            "{stderr}"
        );
    }
}

/// `generate` with a strategy (here the default one, for a task with examples) exits with 3
/// when the program it returns fails the task's examples, and still prints it; a program that
/// passes them exits with 0.
#[test]
fn a_strategy_s_failing_verdict_exits_with_3_and_still_prints_the_code() {
    let task = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/tasks/sum-of-two.json"
    );
    let dir = tempfile::tempdir().unwrap();
    for (program, code) in [
        ("a, b = map(int, input().split())\nprint(a - b)", 3),
        ("a, b = map(int, input().split())\nprint(a + b)", 0),
    ] {
        let server = MockServer::serving("coder", move |_| {
            Reply::chat(
                &[&format!("```python\n{program}\n```")],
                "stop",
                Some((40, 12)),
            )
        });
        let out = crucible(
            dir.path(),
            &[
                "generate",
                "--endpoint",
                &server.endpoint(),
                "--model",
                "coder",
                "--lang",
                "python",
                "--task",
                task,
                "--strategy",
                "repair",
                "--rounds",
                "1",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{program}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim_end(),
            program,
            "{stderr}"
        );
    }
}

/// crucible-core's fixture repository: `report.py` imports `rectangle_area` from
/// `geometry/shapes.py` (lines 11-13).
fn fixture_repo() -> std::path::PathBuf {
    std::fs::canonicalize(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crucible-core/tests/fixtures/repo"),
    )
    .unwrap()
}

#[test]
fn generate_with_a_repository_puts_its_context_in_the_prompt_and_reports_it() {
    let server = MockServer::serving("coder-7b", |_| {
        Reply::chat(
            &[
                "def total_floor_area(rooms):\n",
                "    return sum(rectangle_area(w, h) for w, h in rooms)",
            ],
            "stop",
            Some((90, 20)),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture_repo();
    let endpoint = server.endpoint();
    let args = [
        "generate",
        "--json",
        "--endpoint",
        &endpoint,
        "--model",
        "coder-7b",
        "--lang",
        "python",
        "--repo",
        repo.to_str().unwrap(),
        "--file",
        "report.py",
        "a function total_floor_area(rooms) that sums the areas of (width, height) pairs",
    ];
    let out = crucible(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "generate failed: {stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["code"],
        "def total_floor_area(rooms):\n    return sum(rectangle_area(w, h) for w, h in rooms)"
    );

    // The report says which chunks went in and why. They are laid out best last, next to the
    // task: last the definition report.py imports.
    let rounds = json["repo_context"].as_array().unwrap();
    assert_eq!(rounds.len(), 1, "one round without --iterative: {json}");
    let context = &rounds[0];
    assert_eq!(context["repo_name"], "repo");
    assert_eq!(context["budget_tokens"], 1024);
    let chunks = context["chunks"].as_array().unwrap();
    let nearest = chunks.last().unwrap();
    assert_eq!(nearest["path"], "geometry/shapes.py", "{context}");
    assert_eq!(nearest["start_line"], 11);
    assert_eq!(nearest["end_line"], 13);
    assert_eq!(nearest["symbol"], "rectangle_area");
    assert_eq!(nearest["reason"], "definition");
    assert_eq!(
        nearest["detail"],
        "defines `rectangle_area`, which report.py imports"
    );
    assert!(
        chunks.iter().all(|c| c["path"] != "report.py"),
        "the current file is never retrieved: {context}"
    );
    let used: u64 = chunks.iter().map(|c| c["tokens"].as_u64().unwrap()).sum();
    assert_eq!(context["tokens"], used);

    // What the server was asked: the chunks, under headers naming them, in the first user turn.
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    let body = posts[0].json();
    let user = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        user.starts_with("Code from the repository `repo`"),
        "{user}"
    );
    assert!(
        user.contains("# repo/geometry/shapes.py:11-13\ndef rectangle_area(width, height):\n    \"\"\"The area of a width by height rectangle.\"\"\"\n    return width * height\n"),
        "{user}"
    );
    assert!(
        user.contains("total_floor_area(rooms) that sums the areas"),
        "the task follows the context: {user}"
    );
}

#[cfg(feature = "embeddings")]
#[test]
fn generate_with_embed_ranks_the_repository_by_meaning_and_says_why() {
    // The task's words are in no chunk of units.py; its meaning is. BM25 alone leaves it out
    // (the control run); the hybrid search brings it in and says how it ranked.
    let server = MockServer::serving("coder-7b", |_| {
        Reply::chat(
            &[
                "def metric_length(length):\n",
                "    return inches_to_cm(length)",
            ],
            "stop",
            Some((90, 12)),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    embedding_model::link_embedding_model(&dir.path().join("home"));
    let repo = fixture_repo();
    let endpoint = server.endpoint();
    let task =
        "a function metric_length(length) that converts an imperial length into a metric one";
    let mut args = vec![
        "generate",
        "--json",
        "--endpoint",
        &endpoint,
        "--model",
        "coder-7b",
        "--lang",
        "python",
        "--repo",
        repo.to_str().unwrap(),
        "--repo-budget",
        "60",
        task,
    ];
    let chunks_of = |out: &Output| -> Vec<Value> {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "generate failed: {stderr}");
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        json["repo_context"][0]["chunks"]
            .as_array()
            .unwrap()
            .clone()
    };
    let bm25 = chunks_of(&crucible(dir.path(), &args));
    assert!(
        bm25.iter().all(|c| c["symbol"] != "inches_to_cm"),
        "{bm25:?}"
    );
    args.insert(args.len() - 1, "--embed");
    let out = crucible(dir.path(), &args);
    let hybrid = chunks_of(&out);
    let units = hybrid
        .iter()
        .find(|c| c["symbol"] == "inches_to_cm")
        .unwrap_or_else(|| panic!("{hybrid:?}"));
    assert_eq!(units["reason"], "hybrid", "{units}");
    let detail = units["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("not in the bm25 top; embedding rank 1 (cosine 0."),
        "{detail}"
    );
    let prompt = server.posts().last().unwrap().json().to_string();
    assert!(prompt.contains("def inches_to_cm(inches)"), "{prompt}");
    // Without --json the chunks are listed on stderr, with the same reasons.
    args.retain(|arg| *arg != "--json");
    let out = crucible(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("geometry/units.py:4-6 Hybrid score 0.016: not in the bm25 top; embedding rank 1 (cosine 0."),
        "{stderr}"
    );
}

#[test]
fn iterative_retrieval_asks_twice_and_marks_what_the_draft_found() {
    // The draft names `inches_to_cm`, which the task does not mention: the second round
    // retrieves its definition for the draft.
    let server = MockServer::serving("coder-7b", |_| {
        Reply::chat(
            &["def width_cm(width):\n", "    return inches_to_cm(width)"],
            "stop",
            Some((90, 12)),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture_repo();
    let endpoint = server.endpoint();
    let args = [
        "generate",
        "--json",
        "--endpoint",
        &endpoint,
        "--model",
        "coder-7b",
        "--lang",
        "python",
        "--repo",
        repo.to_str().unwrap(),
        "--repo-budget",
        "80",
        "--iterative",
        "a function width_metric(width) for the width of a room",
    ];
    let out = crucible(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "generate failed: {stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rounds = json["repo_context"].as_array().unwrap();
    assert_eq!(rounds.len(), 2, "{json}");
    assert_eq!(server.posts().len(), 2, "one request per round");
    let second = rounds[1]["chunks"].as_array().unwrap();
    let found = second
        .iter()
        .find(|c| c["symbol"] == "inches_to_cm")
        .unwrap_or_else(|| panic!("the draft's retrieval finds inches_to_cm: {json}"));
    assert!(
        rounds[0]["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["symbol"] != "inches_to_cm"),
        "the task alone does not find it: {json}"
    );
    assert_eq!(found["reason"], "iteration", "{json}");
    let second_prompt = server.posts()[1].json().to_string();
    assert!(
        second_prompt.contains("def inches_to_cm(inches)"),
        "{second_prompt}"
    );
}

#[test]
fn batch_invariant_from_crucible_toml_is_turned_off_by_the_flag() {
    let server = MockServer::serving("coder-7b", |_| {
        Reply::chat(&["def one():\n", "    return 1"], "stop", Some((10, 6)))
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crucible.toml"), "batch_invariant = true\n").unwrap();
    let endpoint = server.endpoint();
    let args = |flag: Option<&'static str>| {
        let mut args = vec![
            "generate",
            "--json",
            "--endpoint",
            &endpoint,
            "--lang",
            "python",
        ];
        args.extend(flag);
        args.push("a function one() that returns 1");
        args
    };
    // The file's setting applies to a local model's arithmetic, which a server does not have.
    let refused = crucible(dir.path(), &args(None));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("batch_invariant"), "{stderr}");
    let refused = crucible(dir.path(), &args(Some("--batch-invariant=true")));
    assert!(!refused.status.success());
    // `--batch-invariant=false` overrides the file.
    let out = crucible(dir.path(), &args(Some("--batch-invariant=false")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["code"].as_str().unwrap().contains("return 1"),
        "{json}"
    );
}
