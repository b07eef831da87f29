//! Test fixtures: fake models and wheels, a minimal GGUF file, a local HTTP server.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crucible_model::KnownModel;
use sha2::{Digest, Sha256};

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift), so contents differ between parts.
pub(crate) fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A registry entry for `content` split into `parts`, leaked to get the `'static` strings the
/// registry uses.
pub(crate) fn fake_model(name: &str, prefix: &str, parts: u32, content: &[u8]) -> KnownModel {
    KnownModel {
        name: leak(name),
        description: "a test model",
        package_prefix: leak(prefix),
        version: "0.1.0",
        parts,
        size: content.len() as u64,
        sha256: leak(&sha256_hex(content)),
        quantization: "F32",
    }
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

/// Split `content` into `parts` nearly equal chunks.
pub(crate) fn split(content: &[u8], parts: u32) -> Vec<&[u8]> {
    let chunk = content.len().div_ceil(parts as usize).max(1);
    let mut chunks: Vec<&[u8]> = content.chunks(chunk).collect();
    chunks.resize(parts as usize, &[]);
    chunks
}

/// Write a wheel for `package==version` into `dir` holding `data` as `data/partNN.bin`
/// (with `digits` digits), laid out like the published model wheels.
pub(crate) fn write_wheel(
    dir: &Path,
    package: &str,
    version: &str,
    part: u32,
    data: &[u8],
    digits: usize,
) -> PathBuf {
    let module = package.replace('-', "_");
    let path = dir.join(format!("{module}-{version}-py3-none-any.whl"));
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let dist_info = format!("{module}-{version}.dist-info");
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("{module}/__init__.py"), b"".to_vec()),
        (format!("{module}/data/part{part:0digits$}.bin"), data.to_vec()),
        (
            format!("{dist_info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n").into_bytes(),
        ),
        (
            format!("{dist_info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: crucible-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
        ),
        (format!("{dist_info}/top_level.txt"), format!("{module}\n").into_bytes()),
    ];
    let mut record = String::new();
    for (name, contents) in &files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(contents).unwrap();
        record.push_str(&format!("{name},,\n"));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    zip.start_file(format!("{dist_info}/RECORD"), options)
        .unwrap();
    zip.write_all(record.as_bytes()).unwrap();
    zip.finish().unwrap();
    path
}

/// Wheels for every part of `model` in `dir`.
pub(crate) fn write_wheels(dir: &Path, model: &KnownModel, content: &[u8]) {
    for (index, chunk) in split(content, model.parts).into_iter().enumerate() {
        let part = index as u32 + 1;
        write_wheel(dir, &model.package(part), model.version, part, chunk, 2);
    }
}

/// A valid GGUF v3 file: one string key and one F32 tensor of `elements` elements.
pub(crate) fn toy_gguf(elements: u64) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(1u64.to_le_bytes());
    out.extend(1u64.to_le_bytes());
    let key = "general.architecture";
    out.extend((key.len() as u64).to_le_bytes());
    out.extend(key.as_bytes());
    out.extend(8u32.to_le_bytes());
    out.extend(5u64.to_le_bytes());
    out.extend(b"llama");
    let name = "output_norm.weight";
    out.extend((name.len() as u64).to_le_bytes());
    out.extend(name.as_bytes());
    out.extend(1u32.to_le_bytes());
    out.extend(elements.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    out.resize(out.len().next_multiple_of(32), 0);
    out.extend(bytes(elements as usize * 4, elements));
    out
}

/// A fresh empty directory under the system temp dir, removed on drop.
pub(crate) fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("crucible-model-test-")
        .tempdir()
        .unwrap()
}

/// How the fake hub answers one path.
#[derive(Clone)]
pub(crate) enum Route {
    /// Serve the bytes, honouring `Range`, with an optional `X-Linked-Etag`.
    File { body: Vec<u8>, etag: Option<String> },
    /// Announce the full length but close after `send` bytes, the first `times` times.
    Cut {
        body: Vec<u8>,
        send: usize,
        times: usize,
    },
    /// Require `Authorization: Bearer <token>`.
    Private { body: Vec<u8>, token: String },
}

/// What the fake hub received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) headers: HashMap<String, String>,
}

/// A loopback HTTP/1.1 server for the hub's `resolve` layout. It serves at most
/// `max_connections` requests and stops by itself after 60 seconds.
pub(crate) struct FakeHub {
    pub(crate) endpoint: String,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeHub {
    pub(crate) fn start(routes: Vec<(&str, Route)>, max_connections: usize) -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let routes: HashMap<String, Route> = routes
            .into_iter()
            .map(|(path, route)| (path.to_owned(), route))
            .collect();
        let routes = Arc::new(Mutex::new(routes));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_by_server = Arc::clone(&seen);
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while served < max_connections && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        stream.set_nonblocking(false).unwrap();
                        serve(stream, &routes, &seen_by_server);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeHub { endpoint, seen }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, routes: &Mutex<HashMap<String, Route>>, seen: &Mutex<Vec<Seen>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        headers: headers.clone(),
    });
    let mut stream = stream;
    let route = match routes.lock().unwrap().get(&path).cloned() {
        // A cut route that has failed its share of times serves the whole file from then on.
        Some(Route::Cut { body, times: 0, .. }) => Some(Route::File { body, etag: None }),
        route => route,
    };
    let range_start = headers
        .get("range")
        .and_then(|range| range.strip_prefix("bytes="))
        .and_then(|range| range.strip_suffix('-'))
        .and_then(|start| start.parse::<usize>().ok());
    match route {
        None => respond(&mut stream, "404 Not Found", &[], b"Entry not found"),
        Some(Route::File { body, etag }) => {
            let mut extra = Vec::new();
            if let Some(etag) = etag {
                extra.push(("X-Linked-Etag", format!("\"{etag}\"")));
            }
            match range_start {
                Some(start) if start < body.len() => {
                    extra.push((
                        "Content-Range",
                        format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
                    ));
                    respond(&mut stream, "206 Partial Content", &extra, &body[start..]);
                }
                Some(_) => respond(&mut stream, "416 Range Not Satisfiable", &[], b""),
                None => respond(&mut stream, "200 OK", &extra, &body),
            }
        }
        Some(Route::Cut { body, send, times }) => {
            routes.lock().unwrap().insert(
                path.clone(),
                Route::Cut {
                    body: body.clone(),
                    send,
                    times: times - 1,
                },
            );
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body[..send]);
        }
        Some(Route::Private { body, token }) => {
            let authorized = headers.get("authorization") == Some(&format!("Bearer {token}"));
            if authorized {
                respond(&mut stream, "200 OK", &[], &body);
            } else {
                respond(&mut stream, "401 Unauthorized", &[], b"Invalid credentials");
            }
        }
    }
    // Drain anything left so the client sees a clean close.
    let mut rest = Vec::new();
    let _ = reader
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(10)));
    let _ = reader.read_to_end(&mut rest);
}

fn respond(stream: &mut TcpStream, status: &str, extra: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}
