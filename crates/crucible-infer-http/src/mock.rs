//! An OpenAI-compatible server inside the test process (feature `mock`): it listens on
//! `127.0.0.1`, records every request, and answers with canned JSON or event streams chosen by
//! a handler. For tests of this crate and of the code that drives it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a hanging or silent answer lasts at most, so a broken test cannot hang forever.
const HANG_LIMIT: Duration = Duration::from_secs(10);

/// A request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub method: String,
    /// The path with any query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A JSON body with an HTTP status.
    Json { status: u16, body: Value },
    /// A `text/event-stream` of `data:` events, each sent as its own HTTP chunk.
    Events {
        events: Vec<String>,
        then: AfterEvents,
    },
    /// Read the request and never answer (until the server is dropped or 10 s pass).
    Silence,
    /// An error in OpenAI's shape with a `Retry-After` header (seconds), as a busy server
    /// sends.
    Busy {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Read the request and close the connection without answering.
    Reset,
}

/// What an event stream does after its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterEvents {
    /// End the stream.
    Close,
    /// Keep the connection open with keep-alive comments until the client goes away (counted
    /// by [`MockServer::hangups`]) or 10 s pass.
    Hang,
}

impl Reply {
    /// A 200 answer with `body`.
    pub fn json(body: Value) -> Reply {
        Reply::Json { status: 200, body }
    }

    /// An error in the shape OpenAI and llama-server use: `{"error": {"message", "code"}}`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::Json {
            status,
            body: json!({"error": {"message": message, "code": status, "type": "server_error"}}),
        }
    }

    /// An event stream of `events` followed by `[DONE]`.
    pub fn events(events: impl IntoIterator<Item = Value>) -> Reply {
        let mut events: Vec<String> = events.into_iter().map(|e| e.to_string()).collect();
        events.push("[DONE]".into());
        Reply::Events {
            events,
            then: AfterEvents::Close,
        }
    }

    /// An event stream of `events` that then stays open without finishing.
    pub fn hanging(events: impl IntoIterator<Item = Value>) -> Reply {
        Reply::Events {
            events: events.into_iter().map(|e| e.to_string()).collect(),
            then: AfterEvents::Hang,
        }
    }

    /// A streamed chat answer with one choice: `pieces` as deltas, then `finish_reason`, then
    /// `usage` (prompt, completion) if given.
    pub fn chat(pieces: &[&str], finish: &str, usage: Option<(usize, usize)>) -> Reply {
        let mut events: Vec<Value> = pieces.iter().map(|p| chat_delta(0, p)).collect();
        events.push(chat_finish(0, finish));
        if let Some((prompt, completion)) = usage {
            events.push(usage_event(prompt, completion));
        }
        Reply::events(events)
    }
}

/// A chat event carrying `content` for choice `index`.
pub fn chat_delta(index: usize, content: &str) -> Value {
    json!({"object": "chat.completion.chunk", "choices": [
        {"index": index, "delta": {"content": content}, "finish_reason": null}
    ]})
}

/// A chat event ending choice `index` with `reason`.
pub fn chat_finish(index: usize, reason: &str) -> Value {
    json!({"object": "chat.completion.chunk", "choices": [
        {"index": index, "delta": {}, "finish_reason": reason}
    ]})
}

/// A text-completion event carrying `text` for choice `index`, ending it if `finish` is given.
pub fn text_delta(index: usize, text: &str, finish: Option<&str>) -> Value {
    json!({"object": "text_completion", "choices": [
        {"index": index, "text": text, "finish_reason": finish}
    ]})
}

/// The final event of `stream_options.include_usage`: no choices, the request's token counts.
pub fn usage_event(prompt_tokens: usize, completion_tokens: usize) -> Value {
    json!({"choices": [], "usage": {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }})
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

/// The running server; it stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    hangups: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockServer {
    /// Serve every request with `handler`.
    pub fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let server = MockServer {
            addr,
            received: Arc::default(),
            hangups: Arc::default(),
            stop: Arc::default(),
        };
        let handler: Arc<Handler> = Arc::new(handler);
        let shared = Shared {
            handler,
            received: Arc::clone(&server.received),
            hangups: Arc::clone(&server.hangups),
            stop: Arc::clone(&server.stop),
        };
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || shared.serve(conn));
            }
        });
        server
    }

    /// A server of one model: `GET /v1/models` lists `model`, other `GET`s are 404, and
    /// `POST`s go to `on_post`.
    pub fn serving(
        model: &str,
        on_post: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> MockServer {
        let models = json!({"object": "list", "data": [{"id": model, "object": "model"}]});
        MockServer::start(
            move |request| match (request.method.as_str(), request.path.as_str()) {
                ("GET", "/v1/models") => Reply::json(models.clone()),
                ("GET", _) => Reply::error(404, "not found"),
                _ => on_post(request),
            },
        )
    }

    /// The OpenAI base URL, `http://127.0.0.1:PORT/v1`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .expect("the request log is never poisoned")
            .clone()
    }

    /// The `POST` requests so far.
    pub fn posts(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    /// Hanging streams whose client closed the connection.
    pub fn hangups(&self) -> usize {
        self.hangups.load(Ordering::Relaxed)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

#[derive(Clone)]
struct Shared {
    handler: Arc<Handler>,
    received: Arc<Mutex<Vec<Received>>>,
    hangups: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    fn serve(&self, conn: TcpStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let Ok(request) = read_request(&conn) else {
            return;
        };
        self.received
            .lock()
            .expect("the request log is never poisoned")
            .push(request.clone());
        let reply = (self.handler)(&request);
        let mut conn = conn;
        let _ = self.write_reply(&mut conn, reply);
    }

    fn write_reply(&self, conn: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
        match reply {
            Reply::Json { status, body } => {
                let body = body.to_string();
                write!(
                    conn,
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    reason(status),
                    body.len()
                )?;
                conn.flush()
            }
            Reply::Events { events, then } => {
                write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                )?;
                for event in events {
                    write_chunk(conn, format!("data: {event}\n\n").as_bytes())?;
                }
                if then == AfterEvents::Hang {
                    self.hang(conn);
                    return Ok(());
                }
                write_chunk(conn, b"")
            }
            Reply::Busy {
                status,
                retry_after,
            } => {
                let body = json!({"error": {"message": "the server is busy", "code": status, "type": "server_error"}}).to_string();
                let retry = retry_after
                    .map(|secs| format!("Retry-After: {secs}\r\n"))
                    .unwrap_or_default();
                write!(
                    conn,
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\n{retry}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    reason(status),
                    body.len()
                )?;
                conn.flush()
            }
            Reply::Reset => conn.shutdown(std::net::Shutdown::Both),
            Reply::Silence => {
                let started = Instant::now();
                while started.elapsed() < HANG_LIMIT && !self.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            }
        }
    }

    /// Send keep-alive comments until a write fails (the client left) or time runs out.
    fn hang(&self, conn: &mut TcpStream) {
        let started = Instant::now();
        while started.elapsed() < HANG_LIMIT && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            if write_chunk(conn, b": keep-alive\n\n").is_err() {
                self.hangups.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

fn write_chunk(conn: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    write!(conn, "{:x}\r\n", data.len())?;
    conn.write_all(data)?;
    conn.write_all(b"\r\n")?;
    conn.flush()
}

fn read_request(conn: &TcpStream) -> std::io::Result<Received> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Received {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
