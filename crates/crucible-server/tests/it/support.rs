//! A server on a loopback port with a scripted generator, and small HTTP helpers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crucible_core::exec::Executor;
use crucible_core::infer::{Generator, Probe, Prompt, ScriptedGenerator};
use crucible_server::{Error, GeneratorFactory, ServerConfig};
use serde_json::Value;
use tokio::sync::oneshot;

/// A running server; dropping it shuts it down.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) probe: Probe,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), Error>>>,
}

/// Answers `echo: PROMPT` for text prompts and the last user message for chat prompts, a word
/// per 5 ms step.
pub(crate) fn echo() -> ScriptedGenerator {
    ScriptedGenerator::from_fn(|request, seq| {
        Some(match &request.prompt {
            Prompt::Text { .. } | Prompt::Fill { .. } => {
                let text = request.prompt.completion_text().unwrap_or_default();
                format!("echo: {text}")
            }
            Prompt::Chat { messages, .. } => {
                let last = messages
                    .last()
                    .map(|m| m.content.clone())
                    .unwrap_or_default();
                if seq == 0 {
                    format!("you said {last}")
                } else {
                    format!("you said {last} ({seq})")
                }
            }
        })
    })
    .streaming(Duration::from_millis(5))
    .named("test-model")
}

/// Answers with `words` words, one per 5 ms step: a request that runs for a while.
pub(crate) fn long(words: usize) -> ScriptedGenerator {
    ScriptedGenerator::from_fn(move |_, _| Some("word ".repeat(words)))
        .streaming(Duration::from_millis(5))
        .named("test-model")
}

pub(crate) fn start(config: ServerConfig, generator: ScriptedGenerator) -> TestServer {
    start_with(config, generator, None)
}

pub(crate) fn start_with(
    config: ServerConfig,
    generator: ScriptedGenerator,
    executor: Option<Arc<Executor>>,
) -> TestServer {
    let probe = generator.probe();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let factory: GeneratorFactory =
                Box::new(move || Ok(Box::new(generator) as Box<dyn Generator>));
            let shutdown = async move {
                let _ = stopped.await;
            };
            crucible_server::serve(listener, config, factory, executor, shutdown).await
        })
    });
    let addr = addr_rx.recv().expect("the server binds");
    let server = TestServer {
        addr,
        probe,
        stop: Some(stop),
        thread: Some(thread),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&server, "/health", None).0 != 200 {
        assert!(Instant::now() < deadline, "the server never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

impl TestServer {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Begin shutdown and wait for the server to return.
    pub(crate) fn shutdown(mut self) -> Result<(), Error> {
        self.stop.take().map(|stop| stop.send(()));
        self.thread
            .take()
            .expect("not shut down yet")
            .join()
            .expect("the server thread does not panic")
    }

    /// Begin shutdown without waiting.
    pub(crate) fn begin_shutdown(&mut self) {
        self.stop.take().map(|stop| stop.send(()));
    }

    /// Wait for a shutdown begun with [`TestServer::begin_shutdown`].
    pub(crate) fn join(mut self) -> Result<(), Error> {
        self.thread
            .take()
            .expect("not joined yet")
            .join()
            .expect("the server thread does not panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.take().map(|stop| stop.send(()));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A config for tests: small limits, short timeouts.
pub(crate) fn config() -> ServerConfig {
    let mut config = ServerConfig::new();
    config.max_batch = 4;
    config.max_queue = 4;
    config.drain_timeout = Duration::from_secs(2);
    config
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// (status, body, Retry-After) of a GET.
pub(crate) fn get(
    server: &TestServer,
    path: &str,
    key: Option<&str>,
) -> (u16, String, Option<String>) {
    let mut request = agent().get(&server.url(path));
    if let Some(key) = key {
        request = request.set("Authorization", &format!("Bearer {key}"));
    }
    finish(request.call())
}

/// (status, body, Retry-After) of a POST of `body`.
pub(crate) fn post(
    server: &TestServer,
    path: &str,
    body: &str,
    key: Option<&str>,
) -> (u16, String, Option<String>) {
    let mut request = agent()
        .post(&server.url(path))
        .set("Content-Type", "application/json");
    if let Some(key) = key {
        request = request.set("Authorization", &format!("Bearer {key}"));
    }
    finish(request.send_string(body))
}

fn finish(result: Result<ureq::Response, ureq::Error>) -> (u16, String, Option<String>) {
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(err) => panic!("transport error: {err}"),
    };
    let status = response.status();
    let retry = response.header("Retry-After").map(str::to_owned);
    (status, response.into_string().unwrap_or_default(), retry)
}

/// POST `body` and parse the JSON answer.
pub(crate) fn post_json(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let (status, text, _) = post(server, path, &body.to_string(), None);
    let value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"));
    (status, value)
}

/// POST a streaming request and return every `data:` payload (and `event:` names) in order.
pub(crate) fn post_stream(server: &TestServer, path: &str, body: &Value) -> Vec<(String, String)> {
    let response = agent()
        .post(&server.url(path))
        .set("Content-Type", "application/json")
        .send_string(&body.to_string())
        .expect("a streaming answer");
    assert_eq!(
        response.header("Content-Type"),
        Some("text/event-stream"),
        "streams are event streams"
    );
    let mut events = Vec::new();
    let mut name = String::from("message");
    for line in BufReader::new(response.into_reader()).lines() {
        let line = line.expect("the stream reads to its end");
        if let Some(event) = line.strip_prefix("event: ") {
            name = event.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            events.push((
                std::mem::replace(&mut name, "message".into()),
                data.to_owned(),
            ));
        }
    }
    events
}

/// A raw connection that sent a streaming request and read the response head and the first
/// event; dropping it closes the connection mid-stream.
pub(crate) fn open_stream(server: &TestServer, path: &str, body: &Value) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let body = body.to_string();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.starts_with("data: ") {
            return reader;
        }
        assert!(!line.is_empty(), "the stream ended before its first event");
    }
}

/// Read what is left of a raw connection until it closes (or `limit` passes).
pub(crate) fn read_rest(reader: &mut BufReader<TcpStream>, limit: Duration) -> String {
    reader.get_ref().set_read_timeout(Some(limit)).unwrap();
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    rest
}

/// Poll `condition` for up to 10 s.
pub(crate) fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
