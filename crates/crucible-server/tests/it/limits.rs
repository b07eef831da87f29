//! Slow and stalled clients are cut off.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{config, echo, eventually, get, start};

#[test]
fn a_client_that_trickles_its_headers_is_disconnected() {
    let mut config = config();
    config.header_timeout = Duration::from_secs(1);
    let server = start(config, echo());
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    // A byte every 300 ms: the headers never complete.
    for byte in b"GET /v1/models HTTP/1.1\r\nHost: test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaa".iter() {
        if stream.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let mut rest = Vec::new();
    let read = stream.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(
        closed || read.is_ok() && (rest.is_empty() || text.starts_with("HTTP/1.1 408")),
        "the connection should be closed: {read:?} {text}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(get(&server, "/v1/models", None).0, 200);
}

#[test]
fn a_body_that_stalls_gets_408() {
    let mut config = config();
    config.body_timeout = Duration::from_secs(1);
    let server = start(config, echo());
    let mut stream = TcpStream::connect(server.addr).unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"messa"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");
}

#[test]
fn a_request_past_its_time_limit_gets_504() {
    let mut config = config();
    config.request_timeout = Duration::from_millis(300);
    let server = start(config, crate::support::long(1000));
    let (status, text, _) = crate::support::post(
        &server,
        "/v1/chat/completions",
        r#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 900}"#,
        None,
    );
    assert_eq!(status, 504, "{text}");
    assert!(text.contains("longer than the server's limit"), "{text}");
}

#[test]
fn a_client_that_stops_reading_is_cut_off_and_its_slot_freed() {
    let mut config = config();
    config.max_batch = 1;
    // No queue: a second request is refused unless the first one's slot was given back.
    config.max_queue = 0;
    config.write_timeout = Duration::from_millis(500);
    // 16 KiB words, one per 5 ms: the buffers between server and client (a few MiB) fill in
    // about a second, while the whole answer (2,000 words) would take 10 s.
    let word = format!("{} ", "w".repeat(16 << 10));
    let generator =
        crucible_core::infer::ScriptedGenerator::from_fn(move |_, _| Some(word.repeat(2000)))
            .streaming(Duration::from_millis(5))
            .context_length(1 << 20)
            .named("test-model");
    let server = start(config, generator);
    // A client with a small receive buffer that reads the head and stops.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    let body = serde_json::json!({
        "messages": [{"role": "user", "content": "go"}],
        "max_tokens": 2000,
        "stream": true,
    })
    .to_string();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = [0u8; 64];
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = stream.read(&mut head).unwrap();
    assert!(
        head[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&head[..n])
    );
    let started = Instant::now();
    eventually("the generator dropped the request", || {
        server.probe.cancelled() == 1
    });
    eventually("the slot is free", || server.probe.in_flight() == 0);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let (_, metrics, _) = get(&server, "/metrics", None);
    assert!(
        metrics.contains("crucible_write_timeouts_total 1"),
        "{metrics}"
    );
    // The slot serves the next client, and the stalled one finds its connection closed.
    let (status, text, _) = crate::support::post(
        &server,
        "/v1/chat/completions",
        r#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1}"#,
        None,
    );
    assert_eq!(status, 200, "{text}");
    let mut rest = Vec::new();
    let read = stream.read_to_end(&mut rest);
    assert!(
        read.is_ok()
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the stalled connection ends: {read:?}"
    );
}
