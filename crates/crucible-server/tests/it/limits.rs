//! Slow and stalled clients are cut off.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{config, echo, get, start};

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
