//! The language server at the JSON-RPC level, in process over an in-memory pipe, with a
//! scripted model: completions (with repository context in the prompt), superseded requests,
//! and malformed or out-of-order client messages.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

use crucible_core::Settings;
use crucible_core::infer::{FimTokens, GenRequest, Generator, Prompt, ScriptedGenerator};
use crucible_lsp::{GeneratorFactory, LspConfig};

struct Client {
    reader: BufReader<tokio::io::ReadHalf<DuplexStream>>,
    writer: tokio::io::WriteHalf<DuplexStream>,
    next_id: u64,
    /// Notifications and server requests seen while waiting for responses.
    seen: Vec<Value>,
}

impl Client {
    async fn send_raw(&mut self, body: &str) {
        let framed = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.writer.write_all(framed.as_bytes()).await.unwrap();
    }

    async fn notify(&mut self, method: &str, params: Value) {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string();
        self.send_raw(&body).await;
    }

    async fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let body =
            json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
                .to_string();
        self.send_raw(&body).await;
        self.next_id
    }

    async fn read(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).await.unwrap();
            assert!(!line.is_empty(), "the server closed the stream");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("Content-Length: ") {
                length = value.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).await.unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// The response to request `id` (other messages are kept in `seen`).
    async fn response(&mut self, id: u64) -> Value {
        let wait = async {
            loop {
                let message = self.read().await;
                if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                    return message;
                }
                self.seen.push(message);
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("the server answers within 20 s")
    }

    /// The first notification `method` from the server, seen already or waited for (the
    /// server's notifications and its responses travel apart, so one sent before a response
    /// may arrive after it).
    async fn notification(&mut self, method: &str) -> Value {
        if let Some(seen) = self.seen.iter().find(|m| m["method"] == method) {
            return seen.clone();
        }
        let wait = async {
            loop {
                let message = self.read().await;
                if message["method"] == method && message.get("id").is_none() {
                    return message;
                }
                self.seen.push(message);
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| panic!("no `{method}` within 20 s"))
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params).await;
        self.response(id).await
    }
}

/// The fixture repository's definition that `report.py` imports, as a context file.
const DEFINITION: &str = "<|file_sep|>geometry/shapes.py\ndef rectangle_area(width, height):\n    \"\"\"The area of a width by height rectangle.\"\"\"\n    return width * height\n";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crucible-core/tests/fixtures/repo")
}

fn settings(home: &Path) -> Settings {
    Settings {
        home: home.to_path_buf(),
        model: None,
        endpoint: None,
        threads: 1,
        context_length: 4096,
        data_dir: None,
        weights: None,
        request_timeout: None,
        parallel_requests: None,
        sources: vec![],
        lora: None,
        speculate: crucible_core::infer::Speculate::Off,
        draft_model: None,
        batch_invariant: false,
        prompt_cache_mib: None,
        flash_attention: crucible_core::infer::FlashAttention::Auto,
        kv_shift: false,
    }
}

/// A server whose model answers with `answer(prompt)`; the prompts it saw are kept.
fn start(
    home: &Path,
    config: LspConfig,
    answer: impl Fn(&str) -> String + Send + 'static,
) -> (Client, Arc<Mutex<Vec<String>>>) {
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let seen = prompts.clone();
    let factory: GeneratorFactory = Box::new(move || {
        let generator = ScriptedGenerator::from_fn(move |request: &GenRequest, _| {
            let Some(text) = request.prompt.completion_text() else {
                return Some("not a completion prompt".into());
            };
            seen.lock().unwrap().push(text.to_string());
            Some(answer(&text))
        })
        .with_fim(FimTokens::qwen());
        Ok(Box::new(generator) as Box<dyn Generator>)
    });
    let (client, _session) = connect(home, config, factory);
    (client, prompts)
}

/// A session with the model `factory` opens, over an in-memory pipe; the handle gives how it
/// ended.
fn connect(
    home: &Path,
    config: LspConfig,
    factory: GeneratorFactory,
) -> (Client, tokio::task::JoinHandle<crucible_lsp::Ended>) {
    let (client_end, server_end) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server_end);
    let session = tokio::spawn(crucible_lsp::serve_io(
        config,
        settings(home),
        factory,
        server_read,
        server_write,
    ));
    let (reader, writer) = tokio::io::split(client_end);
    let client = Client {
        reader: BufReader::new(reader),
        writer,
        next_id: 0,
        seen: Vec::new(),
    };
    (client, session)
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

async fn initialize(client: &mut Client, root: Option<&Path>) -> Value {
    let root_uri = root.map(file_uri);
    let response = client
        .request(
            "initialize",
            json!({"processId": null, "rootUri": root_uri, "capabilities": {}}),
        )
        .await;
    client.notify("initialized", json!({})).await;
    response
}

async fn open(client: &mut Client, uri: &str, text: &str) {
    client
        .notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}),
        )
        .await;
}

/// The params of a request at `line:character` of `uri`.
fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

/// Open the fixture's `report.py` with an indented empty last line and ask for a completion
/// there.
async fn complete_in_report(client: &mut Client, root: &Path) -> Value {
    let report = root.join("report.py");
    let text = std::fs::read_to_string(&report).unwrap() + "    ";
    let uri = file_uri(&report);
    open(client, &uri, &text).await;
    let line = text.lines().count() - 1;
    client
        .request("textDocument/completion", at(&uri, line as u32, 4))
        .await
}

fn completion_text(response: &Value) -> String {
    let items = &response["result"];
    let items = items.get("items").unwrap_or(items);
    items[0]["textEdit"]["newText"]
        .as_str()
        .unwrap_or_else(|| panic!("a completion item: {response}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_fills_the_gap_with_repository_context_in_the_prompt() {
    let home = tempfile::tempdir().unwrap();
    let config = LspConfig {
        debounce: Duration::from_millis(1),
        ..LspConfig::default()
    };
    let (mut client, prompts) = start(home.path(), config, |_| {
        "return sum(rectangle_area(w, h) for w, h in rooms)".into()
    });
    let root = std::fs::canonicalize(fixture()).unwrap();
    let init = initialize(&mut client, Some(&root)).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "crucible", "{init}");
    assert_eq!(
        init["result"]["capabilities"]["completionProvider"],
        json!({})
    );
    assert_eq!(
        init["result"]["capabilities"]["inlineCompletionProvider"],
        json!(true)
    );
    let response = complete_in_report(&mut client, &root).await;
    assert_eq!(
        completion_text(&response),
        "return sum(rectangle_area(w, h) for w, h in rooms)"
    );
    let prompt = prompts.lock().unwrap()[0].clone();
    // Context first, its best chunk (the imported definition) last, next to the file.
    assert!(
        prompt.starts_with("<|repo_name|>repo\n<|file_sep|>"),
        "{prompt}"
    );
    assert!(
        prompt.contains(&format!(
            "{DEFINITION}<|file_sep|>report.py\n<|fim_prefix|>\"\"\"Print a report"
        )),
        "{prompt}"
    );
    assert!(prompt.ends_with("<|fim_suffix|><|fim_middle|>"), "{prompt}");
    let detail = response["result"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("geometry/shapes.py:11-13 (Definition)"),
        "{detail}"
    );
}

/// The embedding model under the real `CRUCIBLE_HOME`, linked into `home`. Fails, naming the
/// command, when it is not installed.
#[cfg(feature = "embeddings")]
fn link_embedding_model(home: &Path) {
    let real = crucible_core::model::env::crucible_home_from_env().unwrap();
    let installed = crucible_core::repo_index::embedding_model_dir(&real);
    assert!(
        installed.join("model.safetensors").is_file(),
        "the embedding model all-MiniLM-L6-v2 is not installed at {}; run scripts/embedding-model.sh (scripts/setup.sh does)",
        installed.display()
    );
    let link = crucible_core::repo_index::embedding_model_dir(home);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&installed, link).unwrap();
}

#[cfg(feature = "embeddings")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_embeddings_the_context_comes_from_the_hybrid_search() {
    let home = tempfile::tempdir().unwrap();
    link_embedding_model(home.path());
    let config = LspConfig {
        debounce: Duration::from_millis(1),
        embeddings: true,
        ..LspConfig::default()
    };
    let (mut client, prompts) = start(home.path(), config, |_| "return 0".into());
    let root = std::fs::canonicalize(fixture()).unwrap();
    initialize(&mut client, Some(&root)).await;
    // The chunks are embedded between requests: until every chunk has a vector the context
    // comes from BM25, then from the hybrid search.
    let started = std::time::Instant::now();
    let detail = loop {
        let response = complete_in_report(&mut client, &root).await;
        assert_eq!(completion_text(&response), "return 0");
        let detail = response["result"][0]["detail"]
            .as_str()
            .unwrap()
            .to_string();
        // The imported definition either way.
        assert!(
            detail.contains("geometry/shapes.py:11-13 (Definition)"),
            "{detail}"
        );
        if detail.contains("(Hybrid)") {
            break detail;
        }
        assert!(detail.contains("(Bm25)"), "{detail}");
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the fixture's chunks were not embedded within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!detail.contains("(Bm25)"), "{detail}");
    assert!(prompts.lock().unwrap()[0].contains(DEFINITION));
    // The index embedded every chunk, under the home's index directory.
    let index_dir = crucible_core::repo_index::default_index_dir(home.path(), &root).unwrap();
    assert!(index_dir.join("vectors.bin").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_completion_is_ghost_text_at_the_cursor_from_the_same_path() {
    let home = tempfile::tempdir().unwrap();
    let config = LspConfig {
        debounce: Duration::from_millis(1),
        ..LspConfig::default()
    };
    let (mut client, prompts) = start(home.path(), config, |_| {
        "return sum(rectangle_area(w, h) for w, h in rooms)".into()
    });
    let root = std::fs::canonicalize(fixture()).unwrap();
    initialize(&mut client, Some(&root)).await;
    let report = root.join("report.py");
    let text = std::fs::read_to_string(&report).unwrap() + "    ";
    let uri = file_uri(&report);
    open(&mut client, &uri, &text).await;
    let line = text.lines().count() - 1;
    let position = json!({"line": line, "character": 4});
    let response = client
        .request(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 2}}),
        )
        .await;
    let items = response["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"));
    assert_eq!(items.len(), 1, "{response}");
    assert_eq!(
        items[0]["insertText"],
        "return sum(rectangle_area(w, h) for w, h in rooms)"
    );
    assert_eq!(
        items[0]["range"],
        json!({"start": position, "end": position}),
        "inserted at the cursor"
    );
    // The same prompt as a `completion`: repository context, then the file around the cursor.
    let prompt = prompts.lock().unwrap()[0].clone();
    assert!(
        prompt.starts_with("<|repo_name|>repo\n<|file_sep|>"),
        "{prompt}"
    );
    assert!(
        prompt.contains(&format!("{DEFINITION}<|file_sep|>report.py\n")),
        "{prompt}"
    );
    assert!(prompt.ends_with("<|fim_suffix|><|fim_middle|>"), "{prompt}");
    // Bad input gets the same errors as `completion`.
    let unopened = client
        .request(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": "file:///nowhere.py"}, "position": position, "context": {"triggerKind": 1}}),
        )
        .await;
    assert_eq!(unopened["error"]["code"], -32602, "{unopened}");
    assert!(
        unopened["error"]["message"]
            .as_str()
            .unwrap()
            .contains("didOpen"),
        "{unopened}"
    );
    let no_context = client
        .request(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": uri}, "position": position}),
        )
        .await;
    assert_eq!(no_context["error"]["code"], -32602, "{no_context}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_completion_is_superseded_or_cancelled_like_a_completion() {
    let home = tempfile::tempdir().unwrap();
    let config = LspConfig {
        no_context: true,
        debounce: Duration::from_secs(2),
        ..LspConfig::default()
    };
    let (mut client, prompts) = start(home.path(), config, |_| "done".into());
    initialize(&mut client, None).await;
    let uri = "file:///tmp/crucible-lsp-test/inline.py";
    open(&mut client, uri, "x = 1\n").await;
    let params = json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 5}, "context": {"triggerKind": 2}});
    // A first request starts at once; those right after it are a burst and wait the debounce.
    let first = client
        .request("textDocument/inlineCompletion", params.clone())
        .await;
    assert_eq!(first["result"][0]["insertText"], "done", "{first}");
    // Cancelled by the client while it waits out the debounce.
    let cancelled = client
        .send("textDocument/inlineCompletion", params.clone())
        .await;
    client
        .notify("$/cancelRequest", json!({"id": cancelled}))
        .await;
    let cancelled = client.response(cancelled).await;
    assert_eq!(cancelled["error"]["code"], -32800, "{cancelled}");
    // Superseded by a newer (plain) completion request.
    let older = client
        .send("textDocument/inlineCompletion", params.clone())
        .await;
    let newer = client.send("textDocument/completion", at(uri, 0, 5)).await;
    let older = client.response(older).await;
    assert_eq!(older["result"], Value::Null, "{older}");
    let newer = client.response(newer).await;
    assert_eq!(completion_text(&newer), "done");
    assert_eq!(
        prompts.lock().unwrap().len(),
        2,
        "only the first and the newest ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superseded_completion_answers_nothing_and_the_newer_one_answers() {
    let home = tempfile::tempdir().unwrap();
    let config = LspConfig {
        no_context: true,
        debounce: Duration::from_secs(2),
        ..LspConfig::default()
    };
    let (mut client, prompts) = start(home.path(), config, |prompt| {
        if prompt.contains("second") {
            "2".into()
        } else {
            "1".into()
        }
    });
    initialize(&mut client, None).await;
    let uri = "file:///tmp/crucible-lsp-test/a.py";
    open(&mut client, uri, "x = first\n").await;
    // After it the requests are a burst, which waits the debounce.
    let opening = client
        .request("textDocument/completion", at(uri, 0, 9))
        .await;
    assert_eq!(completion_text(&opening), "1");
    let first = client.send("textDocument/completion", at(uri, 0, 9)).await;
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": "x = second\n"}]}),
        )
        .await;
    let second = client.send("textDocument/completion", at(uri, 0, 10)).await;
    let first = client.response(first).await;
    assert_eq!(first["result"], Value::Null, "{first}");
    let second = client.response(second).await;
    assert_eq!(completion_text(&second), "2");
    assert_eq!(
        prompts.lock().unwrap().len(),
        2,
        "the opening request and the newer one ran, the superseded one never did"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_after_a_pause_starts_without_waiting_the_debounce() {
    let home = tempfile::tempdir().unwrap();
    let debounce = Duration::from_secs(15);
    let config = LspConfig {
        no_context: true,
        debounce,
        ..LspConfig::default()
    };
    let (mut client, _) = start(home.path(), config, |_| "now".into());
    initialize(&mut client, None).await;
    let uri = "file:///tmp/crucible-lsp-test/pause.py";
    open(&mut client, uri, "x = 1\n").await;
    let started = std::time::Instant::now();
    let answer = client
        .request("textDocument/completion", at(uri, 0, 5))
        .await;
    assert_eq!(completion_text(&answer), "now");
    assert!(
        started.elapsed() < debounce,
        "answered after {:?}, so it waited the debounce",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_out_of_order_messages_get_errors_and_the_server_lives_on() {
    let home = tempfile::tempdir().unwrap();
    let config = LspConfig {
        no_context: true,
        debounce: Duration::from_millis(1),
        ..LspConfig::default()
    };
    let (mut client, _) = start(home.path(), config, |_| "ok".into());
    // Before initialize.
    let early = client
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": "file:///a.py"}, "position": {"line": 0, "character": 0}}),
        )
        .await;
    assert_eq!(early["error"]["code"], -32002, "{early}");
    // Not JSON at all, and a header without a length.
    client.send_raw("{this is not json").await;
    let parse = client.read().await;
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    client
        .writer
        .write_all(b"Content-Type: x\r\n\r\n")
        .await
        .unwrap();
    let header = client.read().await;
    assert_eq!(header["error"]["code"], -32700, "{header}");
    assert!(
        header["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Content-Length")
    );
    initialize(&mut client, None).await;
    // Params of the wrong shape.
    let bad = client
        .request("textDocument/completion", json!({"textDocument": 7}))
        .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    // A document never opened, and a position past its end.
    let unopened = client
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": "file:///nowhere.py"}, "position": {"line": 0, "character": 0}}),
        )
        .await;
    assert_eq!(unopened["error"]["code"], -32602, "{unopened}");
    assert!(
        unopened["error"]["message"]
            .as_str()
            .unwrap()
            .contains("didOpen")
    );
    let uri = "file:///tmp/crucible-lsp-test/b.py";
    open(&mut client, uri, "x = 1\n").await;
    let past = client
        .request("textDocument/completion", at(uri, 40, 0))
        .await;
    assert!(
        past["error"]["message"]
            .as_str()
            .unwrap()
            .contains("past the end"),
        "{past}"
    );
    // An unknown method.
    let unknown = client.request("crucible/nothing", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    // A change to an unopened document is logged, not fatal; then the server still answers.
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": "file:///never.py", "version": 3}, "contentChanges": [{"text": "y"}]}),
        )
        .await;
    let still = client
        .request("textDocument/completion", at(uri, 0, 4))
        .await;
    assert_eq!(completion_text(&still), "ok");
    assert!(
        client
            .seen
            .iter()
            .any(|m| m["method"] == "window/logMessage"
                && m["params"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("never opened")),
        "{:?}",
        client.seen
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_action_is_offered_on_a_function_with_examples_only() {
    let home = tempfile::tempdir().unwrap();
    let config = LspConfig {
        no_context: true,
        ..LspConfig::default()
    };
    let (mut client, _) = start(home.path(), config, |_| "unused".into());
    initialize(&mut client, None).await;
    let uri = "file:///tmp/crucible-lsp-test/c.py";
    let text = "def add(a, b):\n    \"\"\"Add.\n\n    >>> add(2, 3)\n    5\n    \"\"\"\n\n\ndef other():\n    pass\n";
    open(&mut client, uri, text).await;
    let range = |line: u32| json!({"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}});
    let on_add = client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": range(2), "context": {"diagnostics": []}}),
        )
        .await;
    let actions = on_add["result"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{on_add}");
    assert!(actions[0]["title"].as_str().unwrap().contains("`add`"));
    assert_eq!(actions[0]["data"]["line"], 2);
    let on_other = client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": range(9), "context": {"diagnostics": []}}),
        )
        .await;
    assert_eq!(on_other["result"], json!([]), "{on_other}");
}

/// The scripted model of "implement and verify": a chat answer (after the prefilled fence) is
/// `code`, a request for tests (its prefill starts the asserts) is an assert on the example.
fn implementer(code: &'static str) -> impl Fn(&GenRequest) -> String + Send + 'static {
    move |request| match &request.prompt {
        Prompt::Chat { prefill, .. } if prefill.contains("assert") => {
            "assert add(2, 3) == 5\n```\n".into()
        }
        _ => format!("{code}```\n"),
    }
}

/// A server whose model answers every request with `answer(request)`.
fn start_with(
    home: &Path,
    config: LspConfig,
    answer: impl Fn(&GenRequest) -> String + Send + 'static,
) -> Client {
    let factory: GeneratorFactory = Box::new(move || {
        let generator =
            ScriptedGenerator::from_fn(move |request: &GenRequest, _| Some(answer(request)));
        Ok(Box::new(generator) as Box<dyn Generator>)
    });
    connect(home, config, factory).0
}

/// Offer the code action on the module-level `add` (a method of the same name without
/// examples comes first in the file) and resolve it.
async fn implement_add(client: &mut Client) -> (Value, &'static str) {
    initialize(client, None).await;
    let uri = "file:///tmp/crucible-lsp-test/implement.py";
    let text = "class Calc:\n    def add(self_unused, a, b):\n        pass\n\n\ndef add(a, b):\n    \"\"\"Add two numbers.\n\n    >>> add(2, 3)\n    5\n    \"\"\"\n    pass\n\n\nprint(add(1, 2))\n";
    open(client, uri, text).await;
    let range = json!({"start": {"line": 11, "character": 4}, "end": {"line": 11, "character": 4}});
    let offered = client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": range, "context": {"diagnostics": []}}),
        )
        .await;
    let action = offered["result"][0].clone();
    assert!(
        action["title"]
            .as_str()
            .unwrap_or_default()
            .contains("`add`"),
        "{offered}"
    );
    let resolved = client.request("codeAction/resolve", action).await;
    (resolved, uri)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolving_the_code_action_implements_the_function_and_verifies_it_in_the_sandbox() {
    let home = tempfile::tempdir().unwrap();
    let config = LspConfig {
        no_context: true,
        ..LspConfig::default()
    };
    let mut client = start_with(
        home.path(),
        config,
        implementer("def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n"),
    );
    let (resolved, uri) = implement_add(&mut client).await;
    let result = &resolved["result"];
    // The edit replaces the function (its `def` line to the line after its body) with the
    // generated one.
    let edits = &result["edit"]["changes"][uri];
    assert_eq!(
        edits,
        &json!([{
            "range": {"start": {"line": 5, "character": 0}, "end": {"line": 14, "character": 0}},
            "newText": "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n",
        }]),
        "{resolved}"
    );
    let diagnostic = &result["diagnostics"][0];
    assert_eq!(diagnostic["severity"], 3, "information: {resolved}");
    let message = diagnostic["message"].as_str().unwrap();
    assert!(
        message.starts_with("crucible: `add` verified on the docstring's examples"),
        "{message}"
    );
    assert!(message.contains("1/1 examples passed"), "{message}");
    let shown = client.notification("window/showMessage").await;
    assert_eq!(shown["params"]["message"], message, "the verdict is shown");
    assert_eq!(shown["params"]["type"], 3, "as information: {shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_fails_its_examples_is_offered_with_a_warning_not_as_verified() {
    let home = tempfile::tempdir().unwrap();
    let config = LspConfig {
        no_context: true,
        ..LspConfig::default()
    };
    let mut client = start_with(
        home.path(),
        config,
        implementer("def add(a, b):\n    return a - b\n"),
    );
    let (resolved, _) = implement_add(&mut client).await;
    let diagnostic = &resolved["result"]["diagnostics"][0];
    assert_eq!(diagnostic["severity"], 2, "a warning: {resolved}");
    let message = diagnostic["message"].as_str().unwrap();
    assert!(
        message.starts_with("crucible: `add` not verified on the docstring's examples"),
        "{message}"
    );
    assert!(message.contains("0/1 examples passed"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_ends_the_session_at_once_with_code_0_after_shutdown_and_1_without() {
    for shutdown_first in [true, false] {
        let home = tempfile::tempdir().unwrap();
        let factory: GeneratorFactory = Box::new(|| {
            let generator = ScriptedGenerator::new(["x"]).with_fim(FimTokens::qwen());
            Ok(Box::new(generator) as Box<dyn Generator>)
        });
        let (mut client, session) = connect(home.path(), LspConfig::default(), factory);
        initialize(&mut client, None).await;
        if shutdown_first {
            let response = client.request("shutdown", Value::Null).await;
            assert_eq!(response["result"], Value::Null, "{response}");
        }
        client.notify("exit", Value::Null).await;
        // The client keeps its end of the pipe open (some editors do): the session ends
        // anyway, as the protocol asks.
        let ended = tokio::time::timeout(Duration::from_secs(5), session)
            .await
            .expect("the session ends within 5 s of `exit`")
            .unwrap();
        assert_eq!(ended.shut_down, shutdown_first);
        assert_eq!(ended.exit_code(), if shutdown_first { 0 } else { 1 });
        drop(client);
    }
}
